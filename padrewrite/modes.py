"""Padding modes: canonical names, accepted aliases, validation (no Keras)."""

from __future__ import annotations

from padrewrite.errors import InputError

MODES = ("constant", "reflect", "replicate", "symmetric", "circular")
ALIASES = {"zero": "constant", "edge": "replicate", "wrap": "circular"}

#: numpy.pad's name for each mode (numpy.pad is the reference semantics).
NUMPY_NAMES = {
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "symmetric": "symmetric",
    "circular": "wrap",
}


def normalize_mode(mode: str) -> str:
    """The canonical name of `mode`, accepting numpy's names as aliases."""
    if isinstance(mode, str):
        canonical = ALIASES.get(mode.lower(), mode.lower())
        if canonical in MODES:
            return canonical
    valid = ", ".join([*MODES, *ALIASES])
    raise InputError(f"`mode` must be one of {valid}. Received: mode={mode!r}")


def check_constant_value(mode: str, constant_value) -> float:
    """The fill value as a float; only constant mode may have one other than 0."""
    if mode != "constant" and constant_value not in (0, 0.0, None):
        raise InputError(
            "`constant_value` is only used with mode='constant'. "
            f"Received: mode={mode!r}, constant_value={constant_value!r}"
        )
    return float(constant_value or 0.0)


def max_pad(mode: str, size: int) -> int | None:
    """The largest pad per side `mode` allows on an axis of `size`, or None."""
    if mode == "reflect":
        return size - 1
    if mode in ("symmetric", "circular"):
        return size
    if mode == "replicate":
        return None if size > 0 else 0
    return None


def exceeded_limit(mode: str, size: int | None, pair) -> int | None:
    """The per-side limit that `pair` (before, after) exceeds on an axis of `size`, else None.

    Unknown sizes or pads (None) exceed nothing: they are checked at run time.
    """
    if size is None or pair is None or None in pair:
        return None
    limit = max_pad(mode, size)
    if limit is not None and max(pair) > limit:
        return limit
    return None


def limit_phrase(mode: str) -> str:
    """How the limit of `mode` reads in an error message."""
    return {
        "reflect": "less than the axis size",
        "symmetric": "at most the axis size",
        "circular": "at most the axis size",
        "replicate": "zero on an empty axis",
    }[mode]
