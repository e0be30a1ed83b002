"""What a layer computes, found by calling it: numpy.pad of its input, or something else.

`identify_padding` calls a function (a layer's `__call__`) on random test
tensors and finds the numpy.pad mode and amounts per spatial axis that give
its output exactly, value for value. Nothing in the layer's code or config is
read: a layer named "ReplicationPadding2D" that computes TensorFlow's
SYMMETRIC is found to be symmetric, and one whose `compute_output_shape`
swaps height and width is judged by the shape it really returns.

Where the tensors cannot tell two modes apart, no input can: with pads of at
most 1, symmetric and replicate are the same function; an axis padded by
nothing has no mode. The result then names the mode ONNX has natively
(replicate) and lists the others in `equivalent`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from padrewrite.arithmetic import spatial_axes
from padrewrite.modes import MODES, NUMPY_NAMES, exceeded_limit, format_mode

__all__ = ["FoundPadding", "NotPadding", "identify_padding", "probe_inputs"]

#: Spatial sizes tried where the graph does not fix them: two sets of
#: different parity, so that amounts depending on the size show.
UNKNOWN_SIZES = ((9, 11, 13), (12, 14, 16))
UNKNOWN_CHANNELS = 3
#: Order of preference among modes that compute the same on every input.
PREFERENCE = ("constant", "replicate", "reflect", "circular", "symmetric")


@dataclass(frozen=True)
class FoundPadding:
    """The layer computes numpy.pad: `mode` (one, or one per spatial axis), `pads`.

    `equivalent` names the other modes giving the same values for these
    amounts on every input (e.g. symmetric for replicate at pads of 1).
    `declared_shape` is what the layer's own `compute_output_shape` said for
    the first probe when that differs from what it returned, else None.
    """

    mode: str | tuple[str, ...]
    pads: tuple[tuple[int, int], ...]
    data_format: str
    constant_value: float = 0.0
    equivalent: tuple[str, ...] = ()
    probe_shapes: tuple[tuple[int, ...], ...] = ()
    declared_shape: tuple | None = None


@dataclass(frozen=True)
class NotPadding:
    """The layer does not compute a padding of its input; `reason` says how it differs.

    `padding_shaped` is False when its output is not even shaped like a
    padding of its input (it does not grow a spatial axis): such a layer is
    plainly something else.
    """

    reason: str
    padding_shaped: bool = True


def probe_inputs(input_shape, dtype: str, seed: int = 0) -> list[np.ndarray]:
    """Test tensors for a layer called on `input_shape`: random, two of them.

    Known dimensions are kept; the batch is 2; unknown spatial sizes take
    `UNKNOWN_SIZES` (a different size for each probe), unknown channels 3.
    """
    rank = len(input_shape) - 2
    probes = []
    for index, sizes in enumerate(UNKNOWN_SIZES):
        spatial = iter(sizes[-rank:] if rank > 0 else ())
        shape = [2]
        for position, dim in enumerate(input_shape[1:], start=1):
            if dim is not None:
                shape.append(int(dim))
            elif position == len(input_shape) - 1 and rank > 0:
                shape.append(UNKNOWN_CHANNELS)
            else:
                shape.append(next(spatial, 5))
        rng = np.random.default_rng(seed + index)
        probes.append(rng.standard_normal(shape).astype(np.float32).astype(dtype))
    return probes


def identify_padding(function, inputs, data_format: str | None = None):
    """`FoundPadding` if `function(x)` equals numpy.pad of `x` for every `x` in `inputs`.

    `function` returns an array-like (it is given each input as is);
    `data_format` is the layer's own, if it has one ("channels_last" is
    tried first otherwise). Returns `NotPadding` with the reason otherwise.
    """
    found = None
    for x in inputs:
        try:
            y = function(x)
        except Exception as error:  # the layer's own code refusing a probe
            return NotPadding(
                f"calling it on a probe of shape {x.shape} failed "
                f"({type(error).__name__}: {_first_line(error)})"
            )
        if isinstance(y, (list, tuple, dict)):
            return NotPadding("it returns several tensors", padding_shaped=False)
        y = np.asarray(y)
        result = _identify_one(x, y, data_format)
        if isinstance(result, NotPadding):
            if found is None:
                return result
            return NotPadding(
                f"it pads differently at different sizes: {_describe(found)} on "
                f"{found.probe_shapes[0]}, but on {tuple(x.shape)} {result.reason}"
            )
        if found is not None and (result.mode, result.pads, result.constant_value) != (
            found.mode, found.pads, found.constant_value
        ):
            return NotPadding(
                f"it pads differently at different sizes: {_describe(found)} on "
                f"{found.probe_shapes[0]}, {_describe(result)} on {tuple(x.shape)}"
            )
        if found is None:
            found = result
        else:
            found = replace(found, probe_shapes=(*found.probe_shapes, tuple(x.shape)))
    return found


def _first_line(error) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else ""


def _describe(found: FoundPadding) -> str:
    return f"{format_mode(found.mode)} {[list(p) for p in found.pads]}"


def _identify_one(x: np.ndarray, y: np.ndarray, data_format):
    """`FoundPadding` if `y` is numpy.pad of `x` (one probe), else `NotPadding`."""
    if y.ndim != x.ndim:
        return NotPadding(
            f"its output has rank {y.ndim}, its input rank {x.ndim}", padding_shaped=False
        )
    rank = x.ndim - 2
    if rank < 1:
        return NotPadding(f"its input has rank {x.ndim}: no spatial axis", padding_shaped=False)
    grown = [axis for axis in range(x.ndim) if y.shape[axis] > x.shape[axis]]
    shrunk = [axis for axis in range(x.ndim) if y.shape[axis] < x.shape[axis]]
    if shrunk or not grown:
        return NotPadding(
            f"its output shape {y.shape} does not grow any axis of its input shape {x.shape}"
            if not shrunk
            else f"its output shape {y.shape} is smaller than its input shape {x.shape}",
            padding_shaped=False,
        )
    formats = [data_format] if data_format else ["channels_last", "channels_first"]
    formats = [f for f in formats if set(grown) <= set(spatial_axes(rank, f))]
    if not formats:
        return NotPadding(
            f"it grows axis {grown} of shape {x.shape}, which is not a spatial axis "
            f"({data_format or 'channels_last or channels_first'})",
            padding_shaped=False,
        )
    data_format = formats[0]
    axes = spatial_axes(rank, data_format)
    totals = [y.shape[a] - x.shape[a] for a in axes]
    reference = x.astype(np.float32)
    out = y.astype(np.float32)
    closest = None
    for before in _offsets(reference, out, axes, totals):
        pads = tuple((b, t - b) for b, t in zip(before, totals))
        result = _identify_at(reference, out, axes, pads, data_format)
        if isinstance(result, FoundPadding):
            return result
        closest = closest or result
    return closest or NotPadding(
        f"its input does not appear unchanged inside its output (shape {x.shape} -> "
        f"{y.shape}): not numpy.pad in any mode or amount"
    )


def _identify_at(x, out, axes, pads, data_format):
    """`FoundPadding` if `out` is numpy.pad of `x` by `pads` in some mode(s), else `NotPadding`."""
    interior = [slice(None)] * x.ndim
    for axis, (before, _) in zip(axes, pads):
        interior[axis] = slice(before, before + x.shape[axis])
    per_axis = []  # the (mode, value) pairs matching each padded axis
    for index, (axis, pair) in enumerate(zip(axes, pads)):
        if pair == (0, 0):
            per_axis.append(None)
            continue
        band = out[tuple(s if a != axis else slice(None) for a, s in enumerate(interior))]
        matching = _matching_modes(x, band, axis, pair)
        if not matching:
            return NotPadding(
                f"on spatial axis {index} it pads {pair} with values that numpy.pad gives "
                "in no mode (constant, reflect, edge, symmetric, wrap)"
            )
        per_axis.append(matching)
    padded = [m for m in per_axis if m is not None]
    common = set.intersection(*(set(m) for m in padded))
    if common:
        # One mode pads every axis: the preferred one, the rest are the same function.
        ranked = sorted(common, key=lambda item: PREFERENCE.index(item[0]))
        mode, value = ranked[0]
        filled = (mode,) * len(axes)
        equivalent = tuple(m for m, _ in ranked[1:])
    else:
        chosen = [m[0] if m is not None else None for m in per_axis]
        values = {pair[1] for pair in chosen if pair is not None and pair[0] == "constant"}
        if len(values) > 1:
            return NotPadding(
                f"it pads constant values {sorted(values)} on different axes; "
                "one padding layer has one constant value"
            )
        first = next(pair for pair in chosen if pair is not None)[0]
        filled = tuple(pair[0] if pair is not None else first for pair in chosen)
        value = values.pop() if values else 0.0
        equivalent = ()
    mode = filled[0] if len(set(filled)) == 1 else filled
    expected = _numpy_pad(x, axes, pads, filled, value)
    if not np.array_equal(expected, out, equal_nan=True):
        return NotPadding(
            f"its output differs from numpy.pad in {format_mode(mode)} {[list(p) for p in pads]} "
            f"at {int(np.sum(expected != out))} of {out.size} values"
        )
    return FoundPadding(
        mode=mode,
        pads=pads,
        data_format=data_format,
        constant_value=float(value),
        equivalent=equivalent,
        probe_shapes=(tuple(x.shape),),
    )


def _offsets(x, y, axes, totals):
    """Each `before` amount per spatial axis placing `x` unchanged inside `y`."""
    for before in itertools.product(*(range(t + 1) for t in totals)):
        window = [slice(None)] * x.ndim
        for axis, b in zip(axes, before):
            window[axis] = slice(b, b + x.shape[axis])
        if np.array_equal(y[tuple(window)], x, equal_nan=True):
            yield before


def _matching_modes(x, band, axis, pair):
    """`(mode, constant value)` for each mode whose numpy.pad of `x` on `axis` gives `band`."""
    size = x.shape[axis]
    found = []
    for mode in MODES:
        value = 0.0
        if mode == "constant":
            border = np.concatenate(
                [np.take(band, range(pair[0]), axis=axis).ravel(),
                 np.take(band, range(band.shape[axis] - pair[1], band.shape[axis]),
                         axis=axis).ravel()]
            )
            if border.size == 0 or not np.all(border == border[0]):
                continue
            value = float(border[0])
        if exceeded_limit(mode, size, pair) is not None:
            continue
        if np.array_equal(_numpy_pad(x, (axis,), (pair,), (mode,), value), band, equal_nan=True):
            found.append((mode, value))
    return sorted(found, key=lambda item: PREFERENCE.index(item[0]))


def _numpy_pad(x, axes, pads, modes, value):
    for axis, pair, mode in zip(axes, pads, modes):
        width = [(0, 0)] * x.ndim
        width[axis] = pair
        options = {"constant_values": value} if mode == "constant" else {}
        x = np.pad(x, width, mode=NUMPY_NAMES[mode], **options)
    return x
