"""Output: the report records, their text (`render`, the one renderer) and JUnit XML."""
