"""Padding modes: canonical names, accepted aliases, validation (no Keras)."""

from __future__ import annotations

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
    raise ValueError(f"`mode` must be one of {valid}. Received: mode={mode!r}")


def max_pad(mode: str, size: int) -> int | None:
    """The largest pad per side `mode` allows on an axis of `size`, or None."""
    if mode == "reflect":
        return size - 1
    if mode in ("symmetric", "circular"):
        return size
    if mode == "replicate":
        return None if size > 0 else 0
    return None


def limit_phrase(mode: str) -> str:
    """How the limit of `mode` reads in an error message."""
    return {
        "reflect": "less than the axis size",
        "symmetric": "at most the axis size",
        "circular": "at most the axis size",
        "replicate": "zero on an empty axis",
    }[mode]
