"""Rules for convolutions: 'same' and 'causal' become explicit pads + 'valid'."""

from __future__ import annotations

import keras

from padrewrite.arithmetic import as_tuple, causal_pads
from padrewrite.rules.geometry import same_rewrite
from padrewrite.rules.rule import CallSite, Leave, Rewrite, Rule

L = keras.layers

CONVOLUTIONS = (
    L.Conv1D,
    L.Conv2D,
    L.Conv3D,
    L.DepthwiseConv1D,
    L.DepthwiseConv2D,
    L.SeparableConv1D,
    L.SeparableConv2D,
)
TRANSPOSED_CONVOLUTIONS = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)


def _valid_config(layer):
    return {**layer.get_config(), "padding": "valid"}


def build_same_conv(site: CallSite) -> Rewrite | Leave:
    config = site.layer.get_config()
    rank = len(as_tuple(config["kernel_size"], 1))
    return same_rewrite(
        site.input_shape,
        as_tuple(config["kernel_size"], rank),
        as_tuple(config["strides"], rank),
        as_tuple(config["dilation_rate"], rank),
        config.get("data_format") or "channels_last",
        _valid_config(site.layer),
    )


def build_causal_conv(site: CallSite) -> Rewrite | Leave:
    config = site.layer.get_config()
    (kernel,) = as_tuple(config["kernel_size"], 1)
    (dilation,) = as_tuple(config["dilation_rate"], 1)
    pads = causal_pads(kernel, dilation)
    if pads == (0, 0):
        return Leave("unchanged", "'causal' pads nothing here (kernel 1)")
    return Rewrite(
        pads=(pads,),
        data_format=config.get("data_format") or "channels_last",
        config=_valid_config(site.layer),
        causal=True,
    )


def build_transposed(site: CallSite) -> Leave:
    return Leave(
        "skipped",
        "'same' on a transposed convolution crops its output; padding the "
        "input is not equivalent",
    )


CONV_SAME = Rule(
    name="conv-same",
    kind="convolution",
    layer_types=CONVOLUTIONS,
    applies=lambda config: config.get("padding") == "same",
    build=build_same_conv,
    description="Conv/DepthwiseConv/SeparableConv 1D-3D with padding='same'",
)

CONV_CAUSAL = Rule(
    name="conv-causal",
    kind="convolution",
    layer_types=(L.Conv1D,),
    applies=lambda config: config.get("padding") == "causal",
    build=build_causal_conv,
    description="Conv1D with padding='causal' (left pad (k-1)*d)",
)

CONV_TRANSPOSE = Rule(
    name="conv-transpose",
    kind="convolution",
    layer_types=TRANSPOSED_CONVOLUTIONS,
    applies=lambda config: config.get("padding") == "same",
    build=build_transposed,
    description="Conv*Transpose with padding='same': reported, never rewritten",
)
