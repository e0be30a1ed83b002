"""A corpus of small, real model architectures for rewrite, export and parity tests.

`CORPUS` maps a stable name to a `CorpusEntry`: a zero-argument `build` that
returns a built Keras 3 model with random weights, where it comes from
(`source`), what sort of object it is (`kind`) and what is special about it
(`notes`). Every model is small (well under 5 M parameters, most under 0.5 M),
takes spatial inputs of 32 to 128 and builds in about a second on CPU.
Nothing is downloaded: keras.applications use `weights=None`, keras-hub
backbones are built from constructor arguments (never presets).

The architectures follow public examples: keras-io (U-Net for Oxford pets,
CycleGAN, DCGAN, convolutional autoencoder, ESPCN, timeseries classification,
ConvLSTM next-frame prediction, 3D image classification), WaveNet/TCN-style
causal stacks, keras.applications and keras-hub backbones. Widths and depths
are shrunk; the layer patterns are kept. Between them they cover 'same' and
'causal' padding in Conv1D/2D/3D, SeparableConv2D, DepthwiseConv2D,
Conv2DTranspose, grouped and channels_first convolutions, pooling, ConvLSTM2D
(whose recurrent convolution always pads 'same'), TimeDistributed wrappers,
nested Sequential models, a Functional subclass with a custom `train_step`,
convolutions hidden as attributes of custom layers, mixed precision, and
legacy tf.keras 2 `.h5` files.

Kinds:
- "functional", "sequential": plain Keras 3 models.
- "functional-subclass": a `keras.Model` subclass built with
  `super().__init__(inputs, outputs)`, rebuilt from constructor arguments on
  load (keras-hub backbones are all of this kind).
- "mixed-precision": layers compute in float16 or bfloat16.
- "h5": `build(directory)` writes a tf.keras 2 `.h5` file with `tf_keras`
  and returns its path; Keras 3 cannot load some of these (see the entries).

Helpers: `sample_inputs(model)` makes a random batch for a model's inputs
(unknown sizes become `UNKNOWN_SIZE`), `padded_layers(model)` lists every layer
at any depth (nested models, wrappers, custom layers, RNN cells) whose
`padding` is 'same' or 'causal'.

Custom layers and models here are registered under the package "corpus":
import this module before `keras.saving.load_model` on a saved corpus model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import keras
import numpy as np
from keras import layers, ops

#: Size given to unknown (`None`) input dimensions by `sample_inputs`.
UNKNOWN_SIZE = 32


@dataclasses.dataclass(frozen=True)
class CorpusEntry:
    """One model of the corpus.

    `build()` returns a built Keras 3 model; for kind "h5", `build(directory)`
    writes a `.h5` file into `directory` and returns its path.
    """

    name: str
    build: Callable
    source: str
    kind: str
    notes: str


def sample_inputs(model, batch_size=2, seed=0):
    """A random batch for `model`'s inputs: one array, or a list for several inputs."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = [batch_size] + [UNKNOWN_SIZE if d is None else d for d in tensor.shape[1:]]
        arrays.append(rng.standard_normal(shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


def padded_layers(model):
    """Every layer inside `model`, at any depth, whose `padding` is 'same' or 'causal'.

    Walks nested models, wrappers (TimeDistributed, Bidirectional), attributes of
    custom layers and RNN cells. A ConvLSTM2D is listed once, through its cell
    (the layer itself only forwards the cell's `padding`).
    """
    found = []
    # Layer._flatten_layers is private Keras API: it walks every tracked sub-layer.
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.RNN):
            continue  # its cell is visited too
        if getattr(layer, "padding", None) in ("same", "causal"):
            found.append(layer)
    return found


def _register(cls):
    return keras.saving.register_keras_serializable(package="corpus")(cls)


# --------------------------------------------------------------------------------------
# keras-io: image segmentation with a U-Net-like architecture (Oxford pets)
# --------------------------------------------------------------------------------------


def _unet(img_size=64, num_classes=3, down=(16, 32, 64, 128), up=(64, 32, 16, 8)):
    """The keras-io Oxford-pets U-Net: SeparableConv2D down, Conv2DTranspose up, residuals.

    `down[0]` is the stem's width, `down[1:]` and `up` the blocks' (keras-io: 32,
    (64, 128, 256), (256, 128, 64, 32)).
    """
    inputs = keras.Input((img_size, img_size, 3))
    x = layers.Conv2D(down[0], 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous = x
    for filters in down[1:]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous)
        x = layers.add([x, residual])
        previous = x
    for filters in up:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous = x
    # A float32 output layer, as the Keras mixed-precision guide advises (a no-op otherwise).
    outputs = layers.Conv2D(
        num_classes, 3, activation="softmax", padding="same", dtype="float32", name="logits"
    )(x)
    return keras.Model(inputs, outputs, name="unet")


def build_unet():
    return _unet()


# --------------------------------------------------------------------------------------
# keras-io: CycleGAN (ResNet generator with its own ReflectionPadding2D, PatchGAN)
# --------------------------------------------------------------------------------------


@_register
class ReflectionPadding2D(layers.Layer):
    """keras-io CycleGAN's reflection padding layer (channels_last, symmetric per axis).

    Named like padrewrite's layer on purpose: user models often carry their own.
    Its `padding` attribute is a tuple of ints, not a string. keras-io's version
    passes mode="REFLECT" and has no `get_config`; both are fixed here.
    """

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(padding)

    def call(self, inputs):
        width, height = self.padding
        return ops.pad(inputs, [[0, 0], [height, height], [width, width], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        width, height = self.padding
        return (
            batch,
            None if h is None else h + 2 * height,
            None if w is None else w + 2 * width,
            c,
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


_CYCLEGAN_KERNEL_INIT = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}
_CYCLEGAN_GAMMA_INIT = {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}


def _instance_norm():
    # What keras-io's Keras 3 version uses where the original had InstanceNormalization.
    return layers.GroupNormalization(groups=1, gamma_initializer=_CYCLEGAN_GAMMA_INIT)


def _cyclegan_residual_block(x):
    dim = x.shape[-1]
    shortcut = x
    for i in range(2):
        x = ReflectionPadding2D()(x)
        x = layers.Conv2D(dim, 3, kernel_initializer=_CYCLEGAN_KERNEL_INIT, use_bias=False)(x)
        x = _instance_norm()(x)
        if i == 0:
            x = layers.Activation("relu")(x)
    return layers.add([shortcut, x])


def _cyclegan_downsample(x, filters, activation, kernel_size=3, strides=2):
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer=_CYCLEGAN_KERNEL_INIT,
        use_bias=False,
    )(x)
    x = _instance_norm()(x)
    return activation(x)


def build_cyclegan_generator(size=64, filters=16, residual_blocks=3):
    inputs = keras.Input((size, size, 3), name="generator_input")
    x = ReflectionPadding2D(padding=(3, 3))(inputs)
    x = layers.Conv2D(filters, 7, kernel_initializer=_CYCLEGAN_KERNEL_INIT, use_bias=False)(x)
    x = _instance_norm()(x)
    x = layers.Activation("relu")(x)
    for _ in range(2):
        filters *= 2
        x = _cyclegan_downsample(x, filters, layers.Activation("relu"))
    for _ in range(residual_blocks):
        x = _cyclegan_residual_block(x)
    for _ in range(2):
        filters //= 2
        x = layers.Conv2DTranspose(
            filters,
            3,
            strides=2,
            padding="same",
            kernel_initializer=_CYCLEGAN_KERNEL_INIT,
            use_bias=False,
        )(x)
        x = _instance_norm()(x)
        x = layers.Activation("relu")(x)
    x = ReflectionPadding2D(padding=(3, 3))(x)
    x = layers.Conv2D(3, 7)(x)
    outputs = layers.Activation("tanh")(x)
    return keras.Model(inputs, outputs, name="cyclegan_generator")


def build_cyclegan_discriminator(size=64, filters=16):
    inputs = keras.Input((size, size, 3), name="discriminator_input")
    x = layers.Conv2D(
        filters, 4, strides=2, padding="same", kernel_initializer=_CYCLEGAN_KERNEL_INIT
    )(inputs)
    x = layers.LeakyReLU(0.2)(x)
    for block in range(3):
        filters *= 2
        strides = 2 if block < 2 else 1
        x = _cyclegan_downsample(x, filters, layers.LeakyReLU(0.2), kernel_size=4, strides=strides)
    outputs = layers.Conv2D(
        1, 4, strides=1, padding="same", kernel_initializer=_CYCLEGAN_KERNEL_INIT
    )(x)
    return keras.Model(inputs, outputs, name="cyclegan_discriminator")


# --------------------------------------------------------------------------------------
# keras-io: DCGAN (overriding train_step), both Sequential
# --------------------------------------------------------------------------------------


def build_dcgan_generator(latent_dim=32, width=(32, 32, 64)):
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(8 * 8 * width[0]),
            layers.Reshape((8, 8, width[0])),
            layers.Conv2DTranspose(width[0], 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(width[1], 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2DTranspose(width[2], 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(3, 5, padding="same", activation="sigmoid"),
        ],
        name="dcgan_generator",
    )


def build_dcgan_discriminator(size=64, width=(16, 32, 32)):
    return keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(width[0], 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(width[1], 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Conv2D(width[2], 4, strides=2, padding="same"),
            layers.LeakyReLU(0.2),
            layers.Flatten(),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="dcgan_discriminator",
    )


# --------------------------------------------------------------------------------------
# keras-io: convolutional autoencoder (denoising), written as a Sequential
# --------------------------------------------------------------------------------------


def build_conv_autoencoder(size=32):
    return keras.Sequential(
        [
            keras.Input((size, size, 1)),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2, padding="same"),
            layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same"),
            layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same"),
            layers.Conv2D(1, 3, activation="sigmoid", padding="same"),
        ],
        name="conv_autoencoder",
    )


# --------------------------------------------------------------------------------------
# keras-io: ESPCN super-resolution (sub-pixel convolution)
# --------------------------------------------------------------------------------------


@_register
class DepthToSpace(layers.Layer):
    """keras-io ESPCN's pixel shuffle, written with keras.ops (no Lambda)."""

    def __init__(self, block_size, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size

    def call(self, inputs):
        b = self.block_size
        batch, height, width, depth = ops.shape(inputs)
        depth = depth // (b * b)
        x = ops.reshape(inputs, [batch, height, width, b, b, depth])
        x = ops.transpose(x, [0, 1, 3, 2, 4, 5])
        return ops.reshape(x, [batch, height * b, width * b, depth])

    def compute_output_shape(self, input_shape):
        batch, h, w, c = input_shape
        b = self.block_size
        return (batch, None if h is None else h * b, None if w is None else w * b, c // (b * b))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


def build_espcn(upscale_factor=3, channels=1):
    conv_args = {"activation": "relu", "kernel_initializer": "orthogonal", "padding": "same"}
    inputs = keras.Input((None, None, channels))
    x = layers.Conv2D(32, 5, **conv_args)(inputs)
    x = layers.Conv2D(32, 3, **conv_args)(x)
    x = layers.Conv2D(16, 3, **conv_args)(x)
    x = layers.Conv2D(channels * upscale_factor**2, 3, **conv_args)(x)
    outputs = DepthToSpace(upscale_factor)(x)
    return keras.Model(inputs, outputs, name="espcn")


# --------------------------------------------------------------------------------------
# Causal 1-D stacks: WaveNet gated residual blocks, TCN
# --------------------------------------------------------------------------------------


def build_wavenet_tcn(steps=64, channels=2, width=16, dilations=(1, 2, 4, 8)):
    inputs = keras.Input((steps, channels), name="signal")
    x = layers.Conv1D(width, 1, name="input_projection")(inputs)
    skips = []
    for d in dilations:
        tanh = layers.Conv1D(width, 2, dilation_rate=d, padding="causal", activation="tanh")(x)
        gate = layers.Conv1D(width, 2, dilation_rate=d, padding="causal", activation="sigmoid")(x)
        z = layers.Multiply()([tanh, gate])
        skip = layers.Conv1D(width, 1)(z)
        x = layers.Add()([x, skip])
        skips.append(skip)
    x = layers.Activation("relu")(layers.Add()(skips))
    # A TCN-style residual block with kernel 3, a strided causal conv and a 'same' head.
    y = layers.Conv1D(width, 3, dilation_rate=2, padding="causal", activation="relu")(x)
    y = layers.Conv1D(width, 3, dilation_rate=4, padding="causal")(y)
    x = layers.Activation("relu")(layers.Add()([x, y]))
    x = layers.Conv1D(width, 4, strides=2, padding="causal")(x)
    outputs = layers.Conv1D(1, 3, padding="same", name="head")(x)
    return keras.Model(inputs, outputs, name="wavenet_tcn")


# --------------------------------------------------------------------------------------
# keras-io: timeseries classification from scratch (FCN), written as a Sequential
# --------------------------------------------------------------------------------------


def build_timeseries_classifier(steps=64, num_classes=2):
    model = keras.Sequential([keras.Input((steps, 1))], name="timeseries_classifier")
    for _ in range(3):
        model.add(layers.Conv1D(32, 3, padding="same"))
        model.add(layers.BatchNormalization())
        model.add(layers.ReLU())
    model.add(layers.GlobalAveragePooling1D())
    model.add(layers.Dense(num_classes, activation="softmax"))
    return model


# --------------------------------------------------------------------------------------
# keras-io: next-frame video prediction with ConvLSTM2D
# --------------------------------------------------------------------------------------


def build_conv_lstm(frames=4, size=32, filters=8):
    inputs = keras.Input((frames, size, size, 1))
    x = layers.ConvLSTM2D(
        filters, 5, padding="same", return_sequences=True, activation="relu"
    )(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        filters, 3, padding="same", return_sequences=True, activation="relu"
    )(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(
        filters, 1, padding="same", return_sequences=True, activation="relu"
    )(x)
    outputs = layers.Conv3D(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="conv_lstm")


# --------------------------------------------------------------------------------------
# TimeDistributed CNN + LSTM video classifier
# --------------------------------------------------------------------------------------


def build_time_distributed(frames=4, size=32, num_classes=5):
    inputs = keras.Input((frames, size, size, 3))
    x = layers.TimeDistributed(layers.Conv2D(8, 3, padding="same", activation="relu"))(inputs)
    x = layers.TimeDistributed(layers.MaxPooling2D(2))(x)
    x = layers.TimeDistributed(layers.Conv2D(16, 3, strides=2, padding="same"))(x)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.LSTM(16)(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="time_distributed")


# --------------------------------------------------------------------------------------
# keras-io: 3D image classification from CT scans
# --------------------------------------------------------------------------------------


def build_conv3d_classifier(width=32, height=32, depth=16):
    inputs = keras.Input((width, height, depth, 1))
    # keras-io's blocks use the default 'valid' padding; the first stays 'valid' here
    # (a conv the rewrite must leave alone), the others are 'same'.
    x = layers.Conv3D(8, 3, activation="relu")(inputs)
    x = layers.MaxPool3D(2)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv3D(16, 3, activation="relu", padding="same")(x)
    x = layers.MaxPool3D(2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv3D(32, (3, 3, 2), strides=(2, 2, 1), activation="relu", padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling3D()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="conv3d_classifier")


# --------------------------------------------------------------------------------------
# Grouped convolutions (ResNeXt-style), channels_first, nesting, sharing
# --------------------------------------------------------------------------------------


def build_grouped_conv(size=32, channels=16):
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(channels, 3, padding="same", name="stem")(inputs)
    shortcut = x
    x = layers.Conv2D(channels, 1, activation="relu")(x)
    x = layers.Conv2D(channels, 3, padding="same", groups=4, activation="relu", name="grouped")(x)
    x = layers.Conv2D(channels, 1)(x)
    x = layers.add([x, shortcut])
    # A depthwise convolution written as a grouped Conv2D (groups == channels).
    x = layers.Conv2D(
        channels, 3, strides=2, padding="same", groups=channels, name="depthwise_as_grouped"
    )(x)
    x = layers.Conv2D(2 * channels, 1, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="grouped_conv")


def build_channels_first(size=32):
    cf = {"data_format": "channels_first"}
    inputs = keras.Input((3, size, size))
    x = layers.Conv2D(8, 3, padding="same", **cf)(inputs)
    x = layers.BatchNormalization(axis=1)(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", **cf)(x)
    x = layers.Conv2D(16, 4, strides=2, padding="same", **cf)(x)
    x = layers.DepthwiseConv2D(3, padding="same", **cf)(x)
    x = layers.SeparableConv2D(16, 3, padding="same", **cf)(x)
    x = layers.GlobalAveragePooling2D(**cf)(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="channels_first")


def build_nested_sequential(size=32):
    features = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
            layers.DepthwiseConv2D(3, padding="same"),
        ],
        name="features",
    )
    inputs = keras.Input((size, size, 3))
    x = features(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="head_conv")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="nested_sequential")


def build_siamese_shared(size=32):
    """One Conv2D and one nested Functional encoder, each called on two inputs."""
    encoder_in = keras.Input((size, size, 8))
    e = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(encoder_in)
    e = layers.GlobalAveragePooling2D()(e)
    encoder = keras.Model(encoder_in, e, name="encoder")
    shared_conv = layers.Conv2D(8, 3, padding="same", activation="relu", name="shared_conv")
    left = keras.Input((size, size, 3), name="left")
    right = keras.Input((size, size, 3), name="right")
    a = encoder(shared_conv(left))
    b = encoder(shared_conv(right))
    distance = layers.Subtract()([a, b])
    outputs = layers.Dense(1, activation="sigmoid")(ops.abs(distance))
    return keras.Model([left, right], outputs, name="siamese_shared")


# --------------------------------------------------------------------------------------
# A Functional subclass with its own train_step (keras-io "customizing fit()")
# --------------------------------------------------------------------------------------


@_register
class Net(keras.Model):
    """Built with `super().__init__(inputs, outputs)`; `from_config` reruns `__init__`."""

    def __init__(self, size=32, filters=8, num_classes=10, **kwargs):
        inputs = keras.Input((size, size, 3))
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
        x = layers.Conv2D(2 * filters, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.SeparableConv2D(2 * filters, 3, padding="same", activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        outputs = layers.Dense(num_classes)(x)
        super().__init__(inputs, outputs, **kwargs)
        self.size = size
        self.filters = filters
        self.num_classes = num_classes

    def train_step(self, data):
        import tensorflow as tf

        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        # Like keras-hub backbones: constructor arguments only, no layer graph.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "size": self.size,
            "filters": self.filters,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_functional_subclass():
    return Net(name="net")


# --------------------------------------------------------------------------------------
# Hidden convolutions: a custom layer holding Conv2D('same') as attributes
# --------------------------------------------------------------------------------------


@_register
class ConvBNReLU(layers.Layer):
    """Conv2D('same') + BatchNormalization + ReLU as one layer; the conv is an attribute."""

    def __init__(self, filters, kernel_size=3, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.conv = layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", use_bias=False, name="conv"
        )
        self.norm = layers.BatchNormalization(name="norm")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        return ops.relu(self.norm(self.conv(inputs), training=training))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
        }


@_register
class ResidualUnit(layers.Layer):
    """Two ConvBNReLU blocks and a projection shortcut: convolutions two levels down."""

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.block_a = ConvBNReLU(filters, 3, strides=strides, name="block_a")
        self.block_b = ConvBNReLU(filters, 3, name="block_b")
        self.project = layers.Conv2D(filters, 1, strides=strides, padding="same", name="project")

    def build(self, input_shape):
        self.block_a.build(input_shape)
        self.block_b.build(self.block_a.compute_output_shape(input_shape))
        self.project.build(input_shape)

    def call(self, inputs, training=None):
        x = self.block_b(self.block_a(inputs, training=training), training=training)
        return x + self.project(inputs)

    def compute_output_shape(self, input_shape):
        return self.project.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


def build_hidden_conv(size=32):
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(8, 3, padding="same", name="visible_conv")(inputs)
    x = ConvBNReLU(8, name="stem_block")(x)
    x = ResidualUnit(16, strides=2, name="unit")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs, outputs, name="hidden_conv")


# --------------------------------------------------------------------------------------
# keras.applications (weights=None)
# --------------------------------------------------------------------------------------


def build_mobilenet_v2():
    return keras.applications.MobileNetV2(
        input_shape=(64, 64, 3), alpha=0.35, include_top=True, weights=None, classes=10
    )


def build_mobilenet_v3_small():
    return keras.applications.MobileNetV3Small(
        input_shape=(64, 64, 3),
        alpha=0.75,
        include_top=False,
        weights=None,
        include_preprocessing=True,
    )


def build_efficientnet_b0():
    return keras.applications.EfficientNetB0(
        input_shape=(64, 64, 3), include_top=False, weights=None
    )


# --------------------------------------------------------------------------------------
# keras-hub backbones from constructor arguments (imported lazily: keras_hub is slow)
# --------------------------------------------------------------------------------------


def build_hub_resnet():
    import keras_hub

    # ResNetBackbone requires stackwise_num_filters[0] == 64.
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[16],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 32, 32],
        stackwise_num_blocks=[1, 2, 1],
        stackwise_num_strides=[1, 2, 2],
        block_type="bottleneck_block",
        use_pre_activation=False,
        image_shape=(64, 64, 3),
    )


def build_hub_resnet_v2():
    import keras_hub

    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[8, 8, 16],
        input_conv_kernel_sizes=[3, 3, 3],
        stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[2, 1],
        stackwise_num_strides=[1, 2],
        block_type="basic_block_vd",
        # use_pre_activation=True fails to build with basic_block_vd and a stride 2
        # stack in keras-hub 0.32 (shortcut not downsampled: incompatible shapes).
        use_pre_activation=False,
        image_shape=(64, 64, 3),
    )


def build_hub_mobilenet_v3():
    import keras_hub

    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[40, 56], [64, 144]],
        stackwise_num_blocks=[2, 2],
        stackwise_num_filters=[[16, 16], [24, 24]],
        stackwise_kernel_size=[[3, 3], [5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1]],
        stackwise_se_ratio=[[None, None], [0.25, 0.25]],
        stackwise_activation=[["relu", "relu"], ["hard_swish", "hard_swish"]],
        stackwise_padding=[[1, 1], [2, 2]],
        output_num_filters=64,
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        last_layer_filter=64,
        squeeze_and_excite=0.5,
        image_shape=(64, 64, 3),
        input_num_filters=16,
    )


def build_hub_efficientnet():
    import keras_hub

    return keras_hub.models.EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3, 3, 3],
        stackwise_num_repeats=[1, 1, 1, 1],
        stackwise_input_filters=[16, 16, 24, 32],
        stackwise_output_filters=[16, 24, 32, 48],
        stackwise_expansion_ratios=[1, 4, 4, 4],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.0, 0.25, 0.25],
        stackwise_strides=[1, 2, 2, 2],
        stackwise_block_types=["fused", "fused", "unfused", "unfused"],
        stackwise_force_input_filters=[0] * 4,
        stackwise_nores_option=[False] * 4,
        width_coefficient=1.0,
        depth_coefficient=1.0,
        input_shape=(64, 64, 3),
    )


def build_hub_cspnet():
    import keras_hub

    return keras_hub.models.CSPNetBackbone(
        stem_filters=16,
        stem_kernel_size=3,
        stem_strides=1,
        stackwise_depth=[1, 1, 1],
        stackwise_strides=[1, 2, 2],
        stackwise_num_filters=[16, 32, 64],
        block_type="dark_block",
        stage_type="dark",
        image_shape=(64, 64, 3),
    )


def build_hub_mit():
    import keras_hub

    return keras_hub.models.MiTBackbone(
        layerwise_depths=[2, 2],
        num_layers=2,
        layerwise_num_heads=[1, 2],
        layerwise_sr_ratios=[4, 2],
        max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        image_shape=(64, 64, 3),
        hidden_dims=[8, 16],
    )


def build_hub_vae():
    # Not exported under keras_hub.models in keras-hub 0.32: import it from its module.
    from keras_hub.src.models.vae.vae_backbone import VAEBackbone

    return VAEBackbone(
        # GroupNormalization(groups=32) inside: every width must be a multiple of 32.
        encoder_num_filters=[32, 32, 32],
        encoder_num_blocks=[1, 1, 1],
        decoder_num_filters=[32, 32, 32],
        decoder_num_blocks=[1, 1, 1],
        sample_channels=4,
        sampler_method="mode",  # "sample" draws noise on every call: not reproducible
    )


def build_hub_deeplab_v3(image_size=128):
    """DeepLabV3 over a small ResNet. Its SpatialPyramidPooling works on the stride-16 map
    (8x8 at the default 128x128 input; 4x4 at 64, where the dilation-4 and -6 convolutions
    pad more than reflect can take)."""
    import keras_hub

    # basic_block's first stack has an identity shortcut: the stem must give 64 channels.
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 32, 32],
        stackwise_num_blocks=[1, 1, 1],
        stackwise_num_strides=[1, 2, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(image_size, image_size, 3),
    )
    return keras_hub.models.DeepLabV3Backbone(
        image_encoder=encoder,
        low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P4",
        dilation_rates=[2, 4, 6],
        upsampling_size=4,
        projection_filters=16,
        image_shape=(image_size, image_size, 3),
    )


def build_hub_retinanet(image_size=128):
    """RetinaNet's backbone over a small ResNet (levels P3 to P7, as keras-hub's own
    tests). Its FeaturePyramid makes every convolution in build(): 1x1 laterals and
    3x3 outputs at P3-P5, stride-2 3x3 'coarser' convolutions for P6 and P7."""
    import keras_hub

    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16, 16, 16],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(image_size, image_size, 3),
    )
    return keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder,
        min_level=3,
        max_level=7,
        use_p5=False,
        image_shape=(image_size, image_size, 3),
    )


# --------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------


def build_unet_mixed_float16():
    """The U-Net built under the global policy "mixed_float16" (restored afterwards)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        return _unet(img_size=32, down=(8, 16, 32), up=(16, 8, 8))
    finally:
        keras.config.set_dtype_policy(previous)


def build_mixed_bfloat16_layers(size=32):
    """Per-layer dtype="mixed_bfloat16" under the float32 global policy."""
    bf16 = {"dtype": "mixed_bfloat16"}
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", **bf16)(inputs)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", **bf16)(x)
    x = layers.BatchNormalization(**bf16)(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", **bf16)(x)
    x = layers.Conv2D(16, 3, padding="same", name="float32_conv")(x)  # back to float32
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, dtype="float32")(x)
    return keras.Model(inputs, outputs, name="mixed_bfloat16_layers")


# --------------------------------------------------------------------------------------
# tf.keras 2 (tf_keras) .h5 files
# --------------------------------------------------------------------------------------


def write_tf_keras_functional_h5(directory):
    """A tf.keras 2 Functional with Conv2D, SeparableConv2D, DepthwiseConv2D, BatchNorm."""
    import tf_keras

    L = tf_keras.layers
    inputs = tf_keras.Input((32, 32, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU(6.0)(x)
    x = L.SeparableConv2D(16, 3, padding="same")(x)
    x = L.MaxPooling2D(2, padding="same")(x)
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10)(x)
    model = tf_keras.Model(inputs, outputs, name="tf_keras_functional")
    path = os.path.join(os.fspath(directory), "tf_keras_functional.h5")
    model.save(path)
    return path


def write_tf_keras_sequential_h5(directory):
    """A tf.keras 2 Sequential of layers whose legacy configs Keras 3 still accepts."""
    import tf_keras

    L = tf_keras.layers
    model = tf_keras.Sequential(
        [
            L.InputLayer((32, 32, 3)),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.Conv2D(8, 4, strides=2, padding="same", activation="relu"),
            L.BatchNormalization(),
            L.MaxPooling2D(3, strides=2, padding="same"),
            L.UpSampling2D(4),
            L.Conv2D(3, 3, padding="same"),
        ],
        name="tf_keras_sequential",
    )
    path = os.path.join(os.fspath(directory), "tf_keras_sequential.h5")
    model.save(path)
    return path


# --------------------------------------------------------------------------------------
# Model classes of users' own ports: GELU, channels_first, Python constants, audio
# --------------------------------------------------------------------------------------


def build_convmixer(size=32, dim=32, depth=2, patch=2, kernel=5, classes=10):
    """keras-io ConvMixer: patch embedding, depthwise 'same' + pointwise mixing, exact GELU."""
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(dim, patch, strides=patch, name="patches")(inputs)
    x = layers.BatchNormalization()(layers.Activation("gelu")(x))
    for _ in range(depth):
        residual = x
        x = layers.DepthwiseConv2D(kernel, padding="same")(x)
        x = layers.Add()([layers.BatchNormalization()(layers.Activation("gelu")(x)), residual])
        x = layers.Conv2D(dim, 1)(x)
        x = layers.BatchNormalization()(layers.Activation("gelu")(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, name="logits")(x), name="convmixer")


def build_channels_first_port(size=32):
    """A PyTorch-style port kept channels_first (NCHW): 'same' convs, a strided one, a
    transposed upsampling, a 1D branch over the rows."""
    inputs = keras.Input((3, size, size), name="nchw")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", data_format="channels_first")(
        inputs)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu",
                      data_format="channels_first")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same",
                               data_format="channels_first")(x)
    x = layers.Conv2D(3, 5, padding="same", data_format="channels_first", name="head")(x)
    rows = layers.Reshape((3 * size, size))(x)
    rows = layers.Conv1D(4, 3, padding="same", data_format="channels_first",
                         name="rows")(rows)
    return keras.Model(inputs, [x, rows], name="channels_first_port")


def build_channels_first_3d(size=8):
    """A channels_first 3D encoder-decoder (NCDHW), transposed upsampling included."""
    inputs = keras.Input((2, size, size, size), name="volume")
    x = layers.Conv3D(4, 3, padding="same", activation="relu", data_format="channels_first")(
        inputs)
    x = layers.Conv3D(4, 3, strides=2, padding="same", data_format="channels_first")(x)
    x = layers.Conv3DTranspose(2, 3, strides=2, padding="same", data_format="channels_first")(x)
    return keras.Model(inputs, x, name="channels_first_3d")


def build_unequal_strides(size=32):
    """Audio-spectrogram style: separable and depthwise convolutions striding the time
    axis only (strides (1, 2) and (2, 1))."""
    inputs = keras.Input((size, size, 1), name="spectrogram")
    x = layers.SeparableConv2D(8, 3, strides=(1, 2), padding="same", activation="relu")(inputs)
    x = layers.DepthwiseConv2D(3, strides=(2, 1), padding="same")(x)
    x = layers.Conv2D(4, 3, padding="same")(x)
    return keras.Model(inputs, x, name="unequal_strides")


def build_zero_dce(size=32, filters=8, iterations=4):
    """keras-io Zero-DCE (low-light enhancement): 'same' convolutions estimate curve
    parameters, applied as `x + r * (x * x - x)`; the gate `x * (1.0 - alpha)` keeps a
    Python constant in the graph."""
    inputs = keras.Input((size, size, 3), name="low_light")
    c1 = layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    c2 = layers.Conv2D(filters, 3, padding="same", activation="relu")(c1)
    c3 = layers.Conv2D(filters, 3, padding="same", activation="relu")(
        layers.Concatenate()([c1, c2]))
    curves = layers.Conv2D(3 * iterations, 3, padding="same", activation="tanh")(c3)
    alpha = layers.Conv2D(3, 3, padding="same", activation="sigmoid", name="gate")(c3)
    x = inputs
    for index in range(iterations):
        r = curves[..., 3 * index: 3 * index + 3]
        x = x + r * (x * x - x)
    x = x * (1.0 - alpha) + inputs * alpha
    return keras.Model(inputs, x, name="zero_dce")


def build_hub_whisper():
    """keras-hub's Whisper backbone (tiny): its Padder layer has no config of its own."""
    import keras_hub

    return keras_hub.models.WhisperBackbone(
        vocabulary_size=32, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
        num_mels=4, max_encoder_sequence_length=64, max_decoder_sequence_length=32,
    )


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------

_ENTRIES = [
    CorpusEntry(
        "unet_oxford_pets",
        build_unet,
        "keras-io examples/vision/oxford_pets_image_segmentation.py",
        "functional",
        "SeparableConv2D down path, Conv2DTranspose up path, strided 1x1 'same' shortcuts, "
        "MaxPooling2D(3, strides=2, 'same'), residual adds",
    ),
    CorpusEntry(
        "cyclegan_generator",
        build_cyclegan_generator,
        "keras-io examples/generative/cyclegan.py (get_resnet_generator)",
        "functional",
        "carries its own registered ReflectionPadding2D (tuple `padding`) before 'valid' convs; "
        "strided 'same' downsampling, Conv2DTranspose(strides=2, 'same') upsampling, "
        "GroupNormalization(groups=1)",
    ),
    CorpusEntry(
        "cyclegan_discriminator",
        build_cyclegan_discriminator,
        "keras-io examples/generative/cyclegan.py (get_discriminator)",
        "functional",
        "PatchGAN: even 4x4 kernels, stride 2 and 1, all 'same' (asymmetric pads)",
    ),
    CorpusEntry(
        "dcgan_generator",
        build_dcgan_generator,
        "keras-io examples/generative/dcgan_overriding_train_step.py (generator)",
        "sequential",
        "Dense->Reshape, three Conv2DTranspose(4, strides=2, 'same'), Conv2D(5, 'same') head",
    ),
    CorpusEntry(
        "dcgan_discriminator",
        build_dcgan_discriminator,
        "keras-io examples/generative/dcgan_overriding_train_step.py (discriminator)",
        "sequential",
        "three Conv2D(4, strides=2, 'same'): even kernel, stride 2",
    ),
    CorpusEntry(
        "conv_autoencoder",
        build_conv_autoencoder,
        "keras-io examples/vision/autoencoder.py",
        "sequential",
        "'same' Conv2D and MaxPooling2D(2, 'same'), Conv2DTranspose(strides=2, 'same'); "
        "written as a Sequential (keras-io uses a Functional)",
    ),
    CorpusEntry(
        "espcn",
        build_espcn,
        "keras-io examples/vision/super_resolution_sub_pixel.py",
        "functional",
        "unknown spatial size (None, None, 1); registered DepthToSpace layer written with "
        "keras.ops; 5x5 and 3x3 'same' convs",
    ),
    CorpusEntry(
        "wavenet_tcn",
        build_wavenet_tcn,
        "WaveNet gated residual stack (van den Oord et al. 2016) + keras-tcn residual block",
        "functional",
        "causal dilated Conv1D (dilations 1..8, kernel 2 and 3), a strided causal conv, "
        "a 'same' Conv1D head; only constant/replicate pads keep it causal",
    ),
    CorpusEntry(
        "timeseries_classifier",
        build_timeseries_classifier,
        "keras-io examples/timeseries/timeseries_classification_from_scratch.py",
        "sequential",
        "three Conv1D(3, 'same') + BatchNorm + ReLU, GlobalAveragePooling1D; written as a "
        "Sequential (keras-io uses a Functional)",
    ),
    CorpusEntry(
        "conv_lstm",
        build_conv_lstm,
        "keras-io examples/vision/conv_lstm.py",
        "functional",
        "ConvLSTM2D x3 (5x5, 3x3, 1x1 'same', return_sequences): the recurrent conv pads "
        "'same' whatever `padding` says; Conv3D(3, 'same') head over time and space",
    ),
    CorpusEntry(
        "time_distributed",
        build_time_distributed,
        "keras.layers.TimeDistributed docs (per-frame CNN + LSTM video classifier)",
        "functional",
        "Conv2D('same') inside TimeDistributed wrappers, one strided",
    ),
    CorpusEntry(
        "conv3d_classifier",
        build_conv3d_classifier,
        "keras-io examples/vision/3D_image_classification.py",
        "functional",
        "Conv3D: first 'valid' (as in keras-io), then 'same' incl. strides (2, 2, 1) and a "
        "(3, 3, 2) kernel; MaxPool3D 'valid' and 'same'",
    ),
    CorpusEntry(
        "grouped_conv",
        build_grouped_conv,
        "ResNeXt bottleneck with keras.layers.Conv2D(groups=...)",
        "functional",
        "Conv2D(groups=4) and a depthwise written as Conv2D(groups=16, strides=2); Keras' TF "
        "backend runs grouped convs through XLA (tf2onnx leaves StatefulPartitionedCall)",
    ),
    CorpusEntry(
        "channels_first",
        build_channels_first,
        "keras.layers.Conv2D(data_format='channels_first') image classifier",
        "functional",
        "channels_first Conv2D (even kernel, stride 2), DepthwiseConv2D, SeparableConv2D, "
        "MaxPooling2D('same'), BatchNormalization(axis=1)",
    ),
    CorpusEntry(
        "nested_sequential",
        build_nested_sequential,
        "Keras guide 'functional API': a Sequential feature extractor inside a Functional",
        "functional",
        "three 'same' convs live in a nested Sequential named 'features'; one more outside",
    ),
    CorpusEntry(
        "siamese_shared",
        build_siamese_shared,
        "Keras guide 'functional API' shared layers / keras-io siamese_network.py",
        "functional",
        "two inputs; one Conv2D('same') layer and one nested Functional encoder each called "
        "twice (one pad per call, shared weights)",
    ),
    CorpusEntry(
        "functional_subclass",
        build_functional_subclass,
        "keras-io guides/custom_train_step_in_tensorflow.py; keras-hub Backbone pattern",
        "functional-subclass",
        "registered `Net(keras.Model)` built with super().__init__(inputs, outputs), custom "
        "train_step; get_config holds constructor arguments only, so loading rebuilds the "
        "original 'same' graph",
    ),
    CorpusEntry(
        "hidden_conv",
        build_hidden_conv,
        "custom-layer pattern of keras-hub (vae_layers.py, mobilenet blocks) and user models",
        "functional",
        "registered ConvBNReLU holds Conv2D('same') as an attribute; ResidualUnit holds two "
        "ConvBNReLU (convs two levels down) and a strided 1x1 'same' projection; a graph-level "
        "rewrite sees only 'visible_conv'",
    ),
    CorpusEntry(
        "mobilenet_v2",
        build_mobilenet_v2,
        "keras.applications.MobileNetV2(alpha=0.35, input 64, weights=None)",
        "functional",
        "explicit ZeroPadding2D before strided 'valid' depthwise convs, 'same' elsewhere",
    ),
    CorpusEntry(
        "mobilenet_v3_small",
        build_mobilenet_v3_small,
        "keras.applications.MobileNetV3Small(alpha=0.75, input 64, weights=None)",
        "functional",
        "Rescaling preprocessing, hard-swish, squeeze-excite; ZeroPadding2D(correct_pad) before "
        "strided depthwise convs, 5x5 kernels",
    ),
    CorpusEntry(
        "efficientnet_b0",
        build_efficientnet_b0,
        "keras.applications.EfficientNetB0(input 64, include_top=False, weights=None)",
        "functional",
        "largest entry (~4 M params); Normalization preprocessing, 'same' depthwise 3x3 and "
        "5x5 convs, ZeroPadding2D before strided ones",
    ),
    CorpusEntry(
        "hub_resnet",
        build_hub_resnet,
        "keras_hub.models.ResNetBackbone (bottleneck_block)",
        "functional-subclass",
        "keras-hub backbone; ZeroPadding2D + 'valid' stem and strided convs, 'same' only for "
        "stride-1 3x3 convs, 1x1 convs 'valid'",
    ),
    CorpusEntry(
        "hub_resnet_v2",
        build_hub_resnet_v2,
        "keras_hub.models.ResNetBackbone (basic_block_vd, use_pre_activation=True)",
        "functional-subclass",
        "ResNet-vd: three-conv stem, AveragePooling2D(2, 'same') shortcut before a 1x1 conv; "
        "ZeroPadding2D + 'valid' for strided 3x3 convs",
    ),
    CorpusEntry(
        "hub_mobilenet_v3",
        build_hub_mobilenet_v3,
        "keras_hub.models.MobileNetBackbone",
        "functional-subclass",
        "no 'same' conv at all (nothing to rewrite): convs hidden in custom blocks "
        "(DepthwiseConvBlock, InvertedResidualBlock, ConvBnActBlock), depthwise written as "
        "Conv2D(groups=C, 'valid') after a ZeroPadding2D attribute; 1x1 convs 'valid'",
    ),
    CorpusEntry(
        "hub_efficientnet",
        build_hub_efficientnet,
        "keras_hub.models.EfficientNetBackbone (fused + unfused MBConv)",
        "functional-subclass",
        "FusedMBConvBlock/MBConvBlock custom layers hold 12 of its 13 'same' convs; stem "
        "ZeroPadding2D (its `num_features` is missing from get_config, so it is left at the "
        "default 1280: any other value fails to load)",
    ),
    CorpusEntry(
        "hub_cspnet",
        build_hub_cspnet,
        "keras_hub.models.CSPNetBackbone (dark_block)",
        "functional-subclass",
        "CSP-Darknet stages; manual padding for strided convs, 'same' 3x3 convs",
    ),
    CorpusEntry(
        "hub_mit",
        build_hub_mit,
        "keras_hub.models.MiTBackbone (SegFormer encoder)",
        "functional-subclass",
        "transformer: ZeroPadding2D + 'valid' patch embedding and sequence-reduction convs; "
        "the only 'same' convs are DepthwiseConv2D inside MixFFN custom layers, held by "
        "HierarchicalTransformerEncoder blocks whose get_config does not rebuild them",
    ),
    CorpusEntry(
        "hub_vae",
        build_hub_vae,
        "keras_hub.models.VAEBackbone (Stable Diffusion 3 VAE)",
        "functional-subclass",
        "VAEEncoder/VAEDecoder custom layers hold all 26 Conv2D('same') (some two levels "
        "down, in ResNetBlock); unknown spatial size; sampler_method='mode' (deterministic)",
    ),
    CorpusEntry(
        "hub_deeplab_v3",
        build_hub_deeplab_v3,
        "keras_hub.models.DeepLabV3Backbone over a small ResNetBackbone",
        "functional-subclass",
        "encoder layers reachable twice (nested `fpn_model` Functional and the tracked "
        "`image_encoder`); SpatialPyramidPooling custom layer makes its keras.Sequential "
        "branches in build(), with dilated 'same' convs (dilations 2, 4, 6 on an 8x8 map)",
    ),
    CorpusEntry(
        "convmixer",
        build_convmixer,
        "keras-io examples/vision/convmixer.py",
        "functional",
        "exact GELU everywhere (tf2onnx leaves Erfc), depthwise 5x5 'same' mixing, residuals",
    ),
    CorpusEntry(
        "channels_first_port",
        build_channels_first_port,
        "a PyTorch-style NCHW port",
        "functional",
        "channels_first Conv2D/Conv2DTranspose/Conv1D (TensorFlow's kernels without oneDNN "
        "refuse them), two outputs",
    ),
    CorpusEntry(
        "channels_first_3d",
        build_channels_first_3d,
        "a 3D NCDHW encoder-decoder",
        "functional",
        "channels_first Conv3D and Conv3DTranspose",
    ),
    CorpusEntry(
        "unequal_strides",
        build_unequal_strides,
        "spectrogram front ends (time-only strides)",
        "functional",
        "SeparableConv2D strides (1, 2), DepthwiseConv2D strides (2, 1)",
    ),
    CorpusEntry(
        "zero_dce",
        build_zero_dce,
        "keras-io examples/vision/zero_dce.py",
        "functional",
        "keras.ops arithmetic on symbolic tensors with Python constants (1.0 - alpha), slices",
    ),
    CorpusEntry(
        "hub_whisper",
        build_hub_whisper,
        "keras_hub.models.WhisperBackbone (tiny)",
        "functional-subclass",
        "Padder layer without __init__ or get_config of its own; 'same' Conv1D front end",
    ),
    CorpusEntry(
        "hub_retinanet",
        build_hub_retinanet,
        "keras_hub.models.RetinaNetBackbone (levels P3-P7) over a small ResNetBackbone",
        "functional-subclass",
        "FeaturePyramid custom layer makes all its convs in build(), in dicts by level: 1x1 "
        "'same' laterals (pad nothing), 3x3 'same' outputs, stride-2 'coarser' P6/P7 convs; "
        "dict outputs",
    ),
    CorpusEntry(
        "unet_mixed_float16",
        build_unet_mixed_float16,
        "keras-io oxford_pets U-Net under keras.config.set_dtype_policy('mixed_float16')",
        "mixed-precision",
        "every layer float16 compute / float32 variables except the float32 softmax head",
    ),
    CorpusEntry(
        "mixed_bfloat16_layers",
        build_mixed_bfloat16_layers,
        "Keras mixed-precision guide: per-layer dtype='mixed_bfloat16'",
        "mixed-precision",
        "bfloat16 convs (incl. strided DepthwiseConv2D) followed by a float32 'same' conv",
    ),
    CorpusEntry(
        "tf_keras_functional_h5",
        write_tf_keras_functional_h5,
        "tf_keras (tf.keras 2) Functional saved as .h5",
        "h5",
        "Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPooling2D, all 'same'; Keras 3 "
        "cannot load it: tf.keras 2 writes `groups` into every conv config (and "
        "kernel_initializer/regularizer/constraint into SeparableConv2D), which Keras 3's "
        "DepthwiseConv2D/SeparableConv2D (and Conv2DTranspose) refuse",
    ),
    CorpusEntry(
        "tf_keras_sequential_h5",
        write_tf_keras_sequential_h5,
        "tf_keras (tf.keras 2) Sequential saved as .h5",
        "h5",
        "Conv2D (even kernel, stride 2), BatchNorm, MaxPooling2D, all 'same'; Keras 3 "
        "loads it (a Conv2DTranspose would not: legacy `groups` key)",
    ),
]

CORPUS: dict[str, CorpusEntry] = {entry.name: entry for entry in _ENTRIES}
