"""Opt-in rule: ZeroPadding layers feeding only 'valid' convs/pools take the chosen mode.

Real models (ResNet50, MobileNetV2, EfficientNet) pad strided convolutions
with an explicit ZeroPadding2D; this rule gives those pads the chosen mode too.
"""

from __future__ import annotations

import keras

from padrewrite.arithmetic import normalize_padding
from padrewrite.rules.conv import CONVOLUTIONS
from padrewrite.rules.pooling import POOLINGS
from padrewrite.rules.rule import CallSite, Leave, Rewrite, Rule

L = keras.layers

ZERO_PADDINGS = (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)
_RANKS = {L.ZeroPadding1D: 1, L.ZeroPadding2D: 2, L.ZeroPadding3D: 3}


def _feeds_valid_window(layer) -> bool:
    return (
        isinstance(layer, CONVOLUTIONS + POOLINGS)
        and layer.get_config().get("padding") == "valid"
    )


def build_zero_padding(site: CallSite) -> Rewrite | Leave:
    if not site.consumers or not all(map(_feeds_valid_window, site.consumers)):
        names = ", ".join(f"'{c.name}'" for c in site.consumers) or "none"
        return Leave(
            "skipped",
            f"a consumer is not a 'valid' convolution or pooling (consumers: {names})",
        )
    config = site.layer.get_config()
    rank = next(r for cls, r in _RANKS.items() if isinstance(site.layer, cls))
    pads = normalize_padding(config["padding"], rank)
    if all(pair == (0, 0) for pair in pads):
        return Leave("unchanged", "pads nothing")
    return Rewrite(
        pads=pads,
        data_format=config.get("data_format") or "channels_last",
        config=None,
    )


ZERO_PADDING = Rule(
    name="zero-padding",
    kind="padding",
    layer_types=ZERO_PADDINGS,
    applies=lambda config: True,
    build=build_zero_padding,
    opt_in=True,
    description="ZeroPadding1D/2D/3D whose consumers are all 'valid' convs or pools",
)
