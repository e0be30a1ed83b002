"""Small Keras models shared by the ONNX export and parity tests.

`exported(kind, mode, opset)` builds a model from `BUILDERS`, exports it once
per test process (cached) and returns `(model, report)`.
"""

from __future__ import annotations

import functools
import os
import tempfile

import keras
import numpy as np

from padrewrite.layers import PADDING_CLASSES, Padding2D, SamePadding2D
from padrewrite.onnx import export_onnx

MODES = ("constant", "reflect", "replicate", "symmetric", "circular")
SPATIAL_SIZE = {1: 12, 2: 10, 3: 6}
# First pad of each rank: asymmetric and non-zero on every spatial axis.
FIRST_PADS = {1: (2, 1), 2: ((1, 2), (2, 1)), 3: ((1, 1), (2, 1), (1, 2))}
_CONVS = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
_DEPTHWISE = {1: keras.layers.DepthwiseConv1D, 2: keras.layers.DepthwiseConv2D}
_EXPORT_DIR = tempfile.TemporaryDirectory(prefix="padrewrite-onnx-tests-")


def padded_conv_model(rank, mode, data_format="channels_last", depthwise=False):
    """Input -> Padding -> conv(valid) -> ReLU -> Padding(1) -> conv(valid).

    Two padded convolutions: one on the model input, one mid-graph, so
    `padded_convs` is 2 and every spatial axis is padded by both.
    """
    channels = 3
    size = (SPATIAL_SIZE[rank],) * rank
    shape = (*size, channels) if data_format == "channels_last" else (channels, *size)
    pad = PADDING_CLASSES[rank]
    kwargs = {"data_format": data_format}
    inputs = keras.Input(shape, name="image")
    x = pad(FIRST_PADS[rank], mode=mode, name="pad_a", **kwargs)(inputs)
    x = _conv(rank, depthwise, "conv_a", **kwargs)(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = pad(1, mode=mode, name="pad_b", **kwargs)(x)
    outputs = _conv(rank, depthwise, "logits", **kwargs)(x)
    return keras.Model(inputs, outputs, name=f"padded_conv{rank}d")


def _conv(rank, depthwise, name, **kwargs):
    common = {"padding": "valid", "bias_initializer": "random_normal", "name": name, **kwargs}
    if depthwise:
        return _DEPTHWISE[rank](3, **common)
    return _CONVS[rank](4 if name == "conv_a" else 3, 3, **common)


def multi_io_model():
    """Dict inputs and dict outputs whose keys differ from the layer names."""
    image = keras.Input((10, 10, 3), name="image")
    signal = keras.Input((16, 2), name="signal")
    x = Padding2D(((1, 2), (0, 1)), mode="reflect", name="pad_img")(image)
    x = keras.layers.Conv2D(4, 3, name="conv_img")(x)
    x = Padding2D(1, mode="symmetric", name="pad_img2")(x)
    features = keras.layers.DepthwiseConv2D(3, name="features")(x)
    y = PADDING_CLASSES[1]((2, 0), mode="replicate", name="pad_sig")(signal)
    y = keras.layers.Conv1D(4, 3, name="conv_sig")(y)
    pooled = keras.layers.Concatenate(name="concat")(
        [keras.layers.GlobalAveragePooling2D(name="gap")(features),
         keras.layers.GlobalAveragePooling1D(name="gap1d")(y)]
    )
    logits = keras.layers.Dense(5, name="logits")(pooled)
    return keras.Model(
        {"image": image, "signal": signal},
        {"class_scores": logits, "feature_map": features},
        name="multi_io",
    )


def nested_model():
    """A Sequential block (circular pad) inside a Functional model."""
    block = keras.Sequential(
        [
            keras.Input((10, 10, 3), name="block_input"),
            Padding2D(1, mode="circular", name="block_pad"),
            keras.layers.Conv2D(4, 3, name="block_conv"),
        ],
        name="block",
    )
    inputs = keras.Input((10, 10, 3), name="image")
    x = block(inputs)
    x = Padding2D((2, 1), mode="replicate", name="pad")(x)
    outputs = keras.layers.Conv2D(2, 3, name="head")(x)
    return keras.Model(inputs, outputs, name="nested")


def sequential_model(mode="symmetric"):
    return keras.Sequential(
        [
            keras.Input((12, 12, 3), name="pixels"),
            Padding2D(((0, 1), (1, 0)), mode=mode, name="pad"),
            keras.layers.Conv2D(4, 2, name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="scores"),
        ],
        name="seq",
    )


def dynamic_model(mode):
    """'same' padding of a stride-2 conv on an unknown spatial size."""
    inputs = keras.Input((None, None, 3), name="image")
    x = SamePadding2D(3, strides=2, mode=mode, name="same_pad")(inputs)
    outputs = keras.layers.Conv2D(4, 3, strides=2, padding="valid", name="conv")(x)
    return keras.Model(inputs, outputs, name="dynamic")


def expand_model(mode):
    """A MobileNetV2-like block: 1x1 conv widening 4 -> 12, ReLU6, pad, depthwise."""
    inputs = keras.Input((10, 10, 4), name="image")
    x = keras.layers.Conv2D(12, 1, name="expand")(inputs)
    x = keras.layers.ReLU(6.0, name="expand_relu")(x)
    x = Padding2D(((1, 2), (2, 1)), mode=mode, name="pad")(x)
    outputs = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    return keras.Model(inputs, outputs, name="expand_block")


def mobilenet_v2(input_size=96, transform=None, seed=0):
    """keras.applications.MobileNetV2 (weights=None, logits out), calibrated.

    With random weights MobileNetV2's activations shrink to ~1e-11 and its
    softmax is a constant 0.001, which any export would match. So the
    classifier has no softmax and every BatchNormalization takes the moving
    statistics of one seeded random batch: the logits are then O(1).
    `transform(model) -> model` is the hook for the rewrite engine.
    """
    model = keras.applications.MobileNetV2(
        input_shape=(input_size, input_size, 3), weights=None, classifier_activation=None
    )
    batch = np.random.default_rng(seed).standard_normal((4, input_size, input_size, 3))
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(batch.astype("float32"), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return transform(model) if transform is not None else model


BUILDERS = {
    "conv1d": lambda mode: padded_conv_model(1, mode),
    "conv2d": lambda mode: padded_conv_model(2, mode),
    "conv3d": lambda mode: padded_conv_model(3, mode),
    "depthwise1d": lambda mode: padded_conv_model(1, mode, depthwise=True),
    "depthwise2d": lambda mode: padded_conv_model(2, mode, depthwise=True),
    "conv2d_channels_first": lambda mode: padded_conv_model(2, mode, "channels_first"),
    "conv1d_channels_first": lambda mode: padded_conv_model(1, mode, "channels_first"),
    "dynamic": dynamic_model,
    "expand": expand_model,
    "sequential": sequential_model,
    "multi_io": lambda mode: multi_io_model(),
    "nested": lambda mode: nested_model(),
}


def exported(kind, mode="symmetric", opset=18):
    """`(model, ExportReport)` for `BUILDERS[kind](mode)`, exported once."""
    return _exported(kind, mode, opset)  # one cache key however it is called


@functools.cache
def _exported(kind, mode, opset):
    model = BUILDERS[kind](mode)
    path = os.path.join(_EXPORT_DIR.name, f"{kind}-{mode}-{opset}.onnx")
    return model, export_onnx(model, path, opset=opset)
