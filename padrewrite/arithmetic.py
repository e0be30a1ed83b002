"""Padding arithmetic of TensorFlow's 'same' and 'causal' convolutions.

Pure functions, no Keras. For an axis of size ``n``, kernel ``k``, stride ``s``
and dilation ``d`` TensorFlow pads ``total = max((ceil(n/s) - 1) * s +
(k - 1) * d + 1 - n, 0)`` elements, ``total // 2`` before and the rest after.
"""

from __future__ import annotations

import numbers

Pair = tuple[int, int]


def same_total_pad(size, kernel: int, stride: int, dilation: int, maximum=max):
    """Total padding TensorFlow adds on one axis for `padding='same'`.

    `size` may be a run-time size (a tensor): pass `maximum=keras.ops.maximum`.
    """
    effective_kernel = (kernel - 1) * dilation + 1
    output_size = (size + stride - 1) // stride  # ceil(size / stride), exact for sizes >= 0
    return maximum((output_size - 1) * stride + effective_kernel - size, 0)


def split_pad(total):
    """`(before, after)` of a total pad: the extra element goes after (TensorFlow's rule)."""
    before = total // 2
    return (before, total - before)


def as_tuple(value, rank: int) -> tuple:
    """`value` as a tuple of `rank` values (a list/tuple as is, a scalar repeated)."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def same_pads(
    size: int | None, kernel: int, stride: int, dilation: int
) -> Pair | None:
    """`(before, after)` of TensorFlow's 'same' padding on one axis.

    Returns `None` when the split depends on a size unknown before run time
    (`size is None` and `stride > 1`). With stride 1 the total is always
    `(kernel - 1) * dilation`, whatever the size.
    """
    if size is None:
        if stride != 1:
            return None
        total = (kernel - 1) * dilation
    else:
        total = same_total_pad(size, kernel, stride, dilation)
    return split_pad(total)


def causal_pads(kernel: int, dilation: int) -> Pair:
    """`(before, after)` of a 'causal' Conv1D: everything goes before."""
    return ((kernel - 1) * dilation, 0)


def normalize_padding(padding, rank: int, name: str = "padding") -> tuple[Pair, ...]:
    """Canonical `((before, after), ...)` for `rank` spatial axes.

    Accepts the forms of Keras `ZeroPadding{1,2,3}D` — an int, one int per
    axis, or one `(before, after)` pair per axis (for rank 1 also a bare pair) —
    and for rank 1 also a one-int tuple, `(1,)`: one int for the one axis,
    which `ZeroPadding1D` refuses.
    """
    def as_int(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(
                f"`{name}` must contain only integers. Received: {name}={padding!r}"
            )
        value = int(value)
        if value < 0:
            raise ValueError(
                f"`{name}` cannot contain negative values. "
                f"Received: {name}={padding!r}"
            )
        return value

    def as_pair(value):
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ValueError(
                    f"Each entry of `{name}` must be an int or a (before, after) "
                    f"pair. Received: {name}={padding!r}"
                )
            return (as_int(value[0]), as_int(value[1]))
        pad = as_int(value)
        return (pad, pad)

    expected = (
        f"an int, a tuple of {rank} ints or a tuple of {rank} (before, after) pairs"
    )
    if isinstance(padding, (list, tuple)):
        entries = list(padding)
        if rank == 1 and len(entries) == 2 and all(
            not isinstance(entry, (list, tuple)) for entry in entries
        ):
            entries = [tuple(entries)]
        if len(entries) != rank:
            raise ValueError(
                f"`{name}` must be {expected}. Received: {name}={padding!r}"
            )
        return tuple(as_pair(entry) for entry in entries)
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={padding!r}")
    pad = as_int(padding)
    return tuple((pad, pad) for _ in range(rank))


def spatial_axes(rank: int, data_format: str) -> tuple[int, ...]:
    """Tensor axes of the `rank` spatial dimensions (batch first, channels first or last)."""
    first = 2 if data_format == "channels_first" else 1
    return tuple(range(first, first + rank))
