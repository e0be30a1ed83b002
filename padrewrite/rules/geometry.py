"""Shared helpers for rules: spatial axes and 'same' pads of one call."""

from __future__ import annotations

from padrewrite.arithmetic import as_tuple, same_pads, spatial_axes  # noqa: F401  (as_tuple: for the engine)
from padrewrite.rules.rule import Leave, Rewrite, SameSpec


def spatial_sizes(input_shape, rank, data_format):
    """Sizes of the `rank` spatial axes (None where unknown)."""
    return tuple(input_shape[axis] for axis in spatial_axes(rank, data_format))


def same_rewrite(input_shape, kernel_size, strides, dilation_rate, data_format, config):
    """`Rewrite` reproducing TensorFlow's 'same' padding, or `Leave` if it pads nothing."""
    rank = len(kernel_size)
    sizes = spatial_sizes(input_shape, rank, data_format)
    pads = tuple(
        same_pads(n, k, s, d)
        for n, k, s, d in zip(sizes, kernel_size, strides, dilation_rate)
    )
    if all(pair == (0, 0) for pair in pads):
        return Leave("unchanged", "'same' pads nothing here (pad 0 on every axis)")
    same = None
    if any(pair is None for pair in pads):
        same = SameSpec(tuple(kernel_size), tuple(strides), tuple(dilation_rate))
    return Rewrite(pads=pads, data_format=data_format, config=config, same=same)
