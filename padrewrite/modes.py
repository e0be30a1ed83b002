"""Padding modes: canonical names, aliases, per-axis and per-layer choices, validation (no Keras).

A layer's mode is a string ("reflect") or one mode per spatial axis (a
tuple, e.g. ("constant", "circular") for height and width). A `ModeChoice`
is what a user asks for, before the rank of a layer is known: one mode, or
modes per named axis ("H=constant,W=circular"; T or L for 1D, D/H/W for
3D) with an optional default for the other axes.
"""

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


def check_constant_value(mode, constant_value) -> float:
    """The fill value as a float; only a mode with a constant axis may have one other than 0.

    `mode` is a mode name, or one mode per axis (a tuple).
    """
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    if "constant" not in modes and constant_value not in (0, 0.0, None):
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


# --- per-axis modes -------------------------------------------------------------------

#: Names of the spatial axes per rank, as used in per-axis modes ("H=constant,W=circular").
AXIS_NAMES = {1: ("T",), 2: ("H", "W"), 3: ("D", "H", "W")}
#: Other accepted names for an axis ("L" for the length of a 1D signal).
AXIS_ALIASES = {"L": "T"}
_AXIS_ORDER = ("T", "D", "H", "W")

#: Modes whose left pad copies later samples into the past of a causal convolution.
FUTURE_READING_MODES = ("reflect", "symmetric", "circular")
#: Choices for causal convolutions: keep them causal, or accept the mode as given.
CAUSAL_MODES = ("replicate", "constant", "as-mode")
#: Choices where the chosen mode cannot pad a small axis.
FALLBACK_MODES = ("replicate", "constant", "skip")

_MODE_FORMS = (
    "a mode ({modes}) or one mode per axis such as 'H=constant,W=circular' "
    "(axes T or L for 1D, D/H/W; an entry without an axis is the default for the others)"
)


def _mode_forms() -> str:
    return _MODE_FORMS.format(modes=", ".join([*MODES, *ALIASES]))


class ModeChoice:
    """A padding mode for layers of any rank: one mode, or modes per named axis.

    `default` applies to every axis not named in `axes` (`(axis, mode)` pairs,
    axes in T, D, H, W order); `positional` is one mode per spatial axis, for
    layers of exactly that rank. `str()` gives the canonical text, which
    `parse_mode` reads back.
    """

    __slots__ = ("default", "axes", "positional")

    def __init__(self, default=None, axes=(), positional=None):
        self.default = default
        self.axes = tuple(sorted(axes, key=lambda item: _AXIS_ORDER.index(item[0])))
        self.positional = positional

    def __eq__(self, other):
        return isinstance(other, ModeChoice) and str(self) == str(other)

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        return f"ModeChoice({str(self)!r})"

    def __str__(self):
        if self.positional is not None:
            return format_mode(self.positional)
        entries = [f"{axis}={mode}" for axis, mode in self.axes]
        if self.default is not None:
            entries.insert(0, self.default)
        return ",".join(entries)

    @property
    def modes(self) -> frozenset:
        """Every mode this choice can give."""
        named = self.positional or tuple(mode for _, mode in self.axes)
        return frozenset([*named, *([self.default] if self.default else [])])

    def for_rank(self, rank: int):
        """The mode of a layer with `rank` spatial axes: a string, or one mode per axis.

        Raises InputError when an axis of that rank gets no mode.
        """
        if self.positional is not None:
            if len(self.positional) != rank:
                raise InputError(
                    f"`mode` gives {len(self.positional)} per-axis modes, but the layer "
                    f"has {rank} spatial axes ({', '.join(AXIS_NAMES[rank])}); name the "
                    f"axes instead (e.g. 'H=constant,W=circular'). Received: mode={str(self)!r}"
                )
            return normalize_layer_mode(self.positional, rank)
        named = dict(self.axes)
        modes = []
        for axis in AXIS_NAMES[rank]:
            mode = named.get(axis, self.default)
            if mode is None:
                raise InputError(
                    f"`mode` names no mode for axis {axis} of a {rank}D layer (axes "
                    f"{', '.join(AXIS_NAMES[rank])}); add '{axis}=...' or a default entry "
                    f"without an axis (e.g. 'reflect,W=circular'). Received: mode={str(self)!r}"
                )
            modes.append(mode)
        return normalize_layer_mode(tuple(modes), rank)


def parse_mode(value, name: str = "mode") -> ModeChoice:
    """A `ModeChoice` from a mode name, per-axis text, a mapping or a sequence.

    Accepted: "reflect"; "H=constant,W=circular"; "reflect,W=circular" (the
    entry without an axis is the default); {"H": "constant", "W": "circular"};
    ("constant", "circular") (one mode per spatial axis, in order).
    """
    if isinstance(value, ModeChoice):
        return value

    def fail():
        return InputError(f"`{name}` must be {_mode_forms()}. Received: {name}={value!r}")

    def mode_of(text):
        try:
            return normalize_mode(text.strip() if isinstance(text, str) else text)
        except InputError:
            raise fail() from None

    if isinstance(value, str):
        if "=" not in value and "," not in value:
            if name != "mode":
                return ModeChoice(default=mode_of(value))
            return ModeChoice(default=normalize_mode(value.strip()))
        entries = [entry.strip() for entry in value.split(",")]
        pairs = []
        for entry in entries:
            axis, sep, mode = entry.partition("=")
            pairs.append((axis, mode) if sep else (None, axis))
    elif isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return ModeChoice(positional=tuple(mode_of(v) for v in value))
    else:
        raise fail()
    default, axes = None, {}
    for axis, mode in pairs:
        if axis is None or axis in ("", "*"):
            if default is not None:
                raise fail()
            default = mode_of(mode)
            continue
        if not isinstance(axis, str):
            raise fail()
        axis = AXIS_ALIASES.get(axis.strip().upper(), axis.strip().upper())
        if axis not in _AXIS_ORDER or axis in axes:
            raise fail()
        axes[axis] = mode_of(mode)
    if not axes and default is None:
        raise fail()
    if not axes:
        return ModeChoice(default=default)
    if default is not None and all(mode == default for mode in axes.values()):
        return ModeChoice(default=default)
    return ModeChoice(default=default, axes=tuple(axes.items()))


def normalize_layer_mode(mode, rank: int):
    """The canonical mode of a `rank`-D padding layer.

    A single mode stays a string; one mode per spatial axis becomes a tuple of
    canonical names (a string again when they are all the same). Per-axis text
    ("H=constant,W=circular") is accepted too.
    """
    if isinstance(mode, str) and ("=" in mode or "," in mode):
        return parse_mode(mode).for_rank(rank)
    if isinstance(mode, ModeChoice):
        return mode.for_rank(rank)
    if isinstance(mode, (list, tuple)):
        if len(mode) != rank or not all(isinstance(m, str) for m in mode):
            raise InputError(
                f"`mode` must be one mode or a tuple of {rank} modes (one per spatial "
                f"axis), each one of {', '.join([*MODES, *ALIASES])}. Received: mode={mode!r}"
            )
        modes = tuple(normalize_mode(m) for m in mode)
        return modes[0] if len(set(modes)) == 1 else modes
    return normalize_mode(mode)


def axis_modes(mode, rank: int) -> tuple[str, ...]:
    """One canonical mode per spatial axis of a layer whose (canonical) mode is `mode`."""
    return (mode,) * rank if isinstance(mode, str) else tuple(mode)


def format_mode(mode) -> str:
    """A layer's mode as text: "reflect", or "H=constant,W=circular" per axis."""
    if isinstance(mode, str):
        return mode
    names = AXIS_NAMES[len(mode)]
    return ",".join(f"{axis}={m}" for axis, m in zip(names, mode))


def uses_constant(mode) -> bool:
    """Whether a (canonical) layer mode pads some axis with a constant."""
    return "constant" in axis_modes(mode, 1 if isinstance(mode, str) else len(mode))


def check_choice(value, choices: tuple[str, ...], name: str):
    """`value` if it is one of `choices` (or None), else an InputError in Keras' style."""
    if value is None or value in choices:
        return value
    raise InputError(
        f"`{name}` must be one of {', '.join(choices)} (or None). Received: {name}={value!r}"
    )


def parse_mode_for(value) -> tuple[tuple[str, ModeChoice], ...]:
    """Per-layer modes: `(glob, ModeChoice)` pairs, later pairs winning.

    Accepts a mapping {glob: mode}, or an iterable of (glob, mode) pairs or
    "GLOB=MODE" strings (the mode part may be per-axis: "dec/*=H=constant,W=circular").
    """
    items = value.items() if isinstance(value, dict) else (value or ())
    if isinstance(items, str):
        items = (items,)
    pairs = []
    for item in items:
        if isinstance(item, str):
            glob, sep, mode = item.partition("=")
            if not sep or not glob.strip() or not mode.strip():
                raise InputError(
                    "Each `mode_for` entry must look like GLOB=MODE, e.g. "
                    f"'decoder/*=replicate' or 'pano/*=H=constant,W=circular'. "
                    f"Received: mode_for={item!r}"
                )
            pairs.append((glob.strip(), parse_mode(mode.strip(), name="mode_for")))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str):
            pairs.append((item[0], parse_mode(item[1], name="mode_for")))
        else:
            raise InputError(
                "`mode_for` must be a mapping {glob: mode} or GLOB=MODE strings. "
                f"Received: mode_for={value!r}"
            )
    return tuple(pairs)
