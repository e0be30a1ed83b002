"""The layers a rewrite puts in: padding layers, and stand-ins for layers held as attributes.

A rewritten graph call gets a padding layer (`Padding1D/2D/3D`, or
`SamePadding*D` when the pads depend on the run-time size) in the decided
mode, then the layer rebuilt with padding='valid'. A held convolution is
replaced by its `PaddedConv*` stand-in, which pads its input itself.
"""

from __future__ import annotations

from padrewrite.layers import PADDING_CLASSES, SAME_PADDING_CLASSES
from padrewrite.modes import uses_constant
from padrewrite.padded import padded_convolution
from padrewrite.rules import Rewrite

__all__ = ["held_stand_in", "pad_value", "padding_layer"]


def pad_value(rewrite: Rewrite, mode, constant_value: float) -> float:
    """The fill value of a padding in `mode`: the one an adopting rule found when its mode
    is kept, else the rewrite's `constant_value`."""
    if not uses_constant(mode):
        return 0.0
    return constant_value if rewrite.mode is None else rewrite.constant_value


def padding_layer(layer, rewrite: Rewrite, mode, name: str, constant_value: float):
    """The padding layer `name` standing before (or, with `rewrite.config` None, for) `layer`."""
    common = {
        "mode": mode,
        "constant_value": pad_value(rewrite, mode, constant_value),
        "data_format": rewrite.data_format,
        "name": name,
        "dtype": layer.dtype_policy,
    }
    rank = len(rewrite.pads)
    if rewrite.same is not None:
        return SAME_PADDING_CLASSES[rank](
            kernel_size=rewrite.same.kernel_size,
            strides=rewrite.same.strides,
            dilation_rate=rewrite.same.dilation_rate,
            **common,
        )
    return PADDING_CLASSES[rank](padding=rewrite.pads, **common)


def held_stand_in(layer, rewrite: Rewrite, mode, constant_value: float, adopted: bool):
    """What replaces the held `layer` a rule rewrites.

    A convolution: its `PaddedConv*` stand-in. A layer a probing rule adopted
    (`adopted`): padrewrite's padding layer of the same name, or the stand-in
    of the convolution it holds (`rewrite.source`).
    """
    value = pad_value(rewrite, mode, constant_value)
    if adopted and rewrite.source is None:
        return padding_layer(layer, rewrite, mode, layer.name, constant_value)
    source = rewrite.source if adopted else layer
    return padded_convolution(source, rewrite.config, rewrite.pads, mode, value)
