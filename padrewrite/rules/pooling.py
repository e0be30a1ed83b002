"""Opt-in rule: 'same' max/average pooling becomes explicit pads + 'valid' pooling.

This changes pooling on purpose: TensorFlow's 'same' pooling ignores the
padded positions, while the explicit pad makes them real values of the mode
(reflect, replicate, ...), exactly as a convolution sees them.
"""

from __future__ import annotations

import keras

from padrewrite.arithmetic import as_tuple
from padrewrite.rules.geometry import same_rewrite
from padrewrite.rules.rule import CallSite, Leave, Rewrite, Rule

L = keras.layers

POOLINGS = (
    L.MaxPooling1D,
    L.MaxPooling2D,
    L.MaxPooling3D,
    L.AveragePooling1D,
    L.AveragePooling2D,
    L.AveragePooling3D,
)


def build_same_pooling(site: CallSite) -> Rewrite | Leave:
    config = site.layer.get_config()
    pool_size = as_tuple(config["pool_size"], 1)
    rank = len(pool_size)
    strides = as_tuple(config.get("strides") or pool_size, rank)
    return same_rewrite(
        site.input_shape,
        pool_size,
        strides,
        (1,) * rank,
        config.get("data_format") or "channels_last",
        {**config, "padding": "valid"},
    )


POOLING_SAME = Rule(
    name="pooling-same",
    kind="pooling",
    layer_types=POOLINGS,
    applies=lambda config: config.get("padding") == "same",
    build=build_same_pooling,
    opt_in=True,
    description="Max/AveragePooling with padding='same' (changes pooling semantics)",
)
