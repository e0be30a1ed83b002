"""Hand-written padding layers as users copy them, for the adopt-padding rule's tests.

Written from their public sources, quirks kept:

- `BlogReflectionPadding2D` / `BlogReplicationPadding2D`: the layers of the
  widely copied blog post and Stack Overflow answer. `padding` is
  `(width, height)` in `call` but read as `(height, width)` by
  `compute_output_shape`, and the "replication" one passes TensorFlow's
  SYMMETRIC mode.
- `PaddedConv2D`: keras-cv's Stable Diffusion layer (a `ZeroPadding2D`, then
  a 'valid' `Conv2D`).
- `AnyPadding`: pads with any numpy.pad mode through TensorFlow ops written
  here (slices and concatenation), to generate layers in every mode.
- Layers that look like padding and are not: `PadThenScale`, `PadToEven`,
  `NearestUpsample`.

Importing this module registers them (package "handwritten"), as a user's
own module would (`padrewrite --import handwritten`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

_register = keras.saving.register_keras_serializable(package="handwritten")


@_register
class BlogReflectionPadding2D(keras.layers.Layer):
    def __init__(self, padding=(1, 1), **kwargs):
        self.padding = tuple(padding)
        self.input_spec = [keras.layers.InputSpec(ndim=4)]
        super().__init__(**kwargs)

    def compute_output_shape(self, s):
        """If you are using "channels_last" configuration"""
        return (s[0], s[1] + 2 * self.padding[0], s[2] + 2 * self.padding[1], s[3])

    def call(self, x, mask=None):
        w_pad, h_pad = self.padding
        return tf.pad(x, [[0, 0], [h_pad, h_pad], [w_pad, w_pad], [0, 0]], "REFLECT")


@_register
class BlogReplicationPadding2D(keras.layers.Layer):
    def __init__(self, padding=(1, 1), **kwargs):
        self.padding = tuple(padding)
        self.input_spec = [keras.layers.InputSpec(ndim=4)]
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            input_shape[1] + 2 * self.padding[0],
            input_shape[2] + 2 * self.padding[1],
            input_shape[3],
        )

    def call(self, x, mask=None):
        w_pad, h_pad = self.padding
        return tf.pad(x, [[0, 0], [h_pad, h_pad], [w_pad, w_pad], [0, 0]], "SYMMETRIC")


@_register
class PaddedConv2D(keras.layers.Layer):
    def __init__(self, filters, kernel_size, padding=0, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.padding2d = keras.layers.ZeroPadding2D(padding)
        self.conv2d = keras.layers.Conv2D(filters, kernel_size, strides=strides)

    def call(self, inputs):
        x = self.padding2d(inputs)
        return self.conv2d(x)


def _edge_pieces(x, axis, before, after, mode):
    """The slices numpy.pad puts before and after `x` on `axis`, written with tf ops."""
    size = x.shape[axis]

    def take(start, stop, reverse=False):
        if stop <= start:
            return None
        piece = tf.gather(x, list(range(start, stop)), axis=axis)
        return tf.reverse(piece, [axis]) if reverse else piece

    if mode == "edge":
        return (
            tf.repeat(take(0, 1), before, axis=axis) if before else None,
            tf.repeat(take(size - 1, size), after, axis=axis) if after else None,
        )
    if mode == "wrap":
        return take(size - before, size), take(0, after)
    if mode == "reflect":
        return take(1, before + 1, reverse=True), take(size - after - 1, size - 1, reverse=True)
    if mode == "symmetric":
        return take(0, before, reverse=True), take(size - after, size, reverse=True)
    raise ValueError(f"unknown mode {mode!r}")


@_register
class AnyPadding(keras.layers.Layer):
    """Pads each spatial axis by `pads[i]` in `modes[i]` (numpy names, or "constant")."""

    def __init__(self, pads, modes, value=0.0, channels_first=False, **kwargs):
        super().__init__(**kwargs)
        self.pads = [tuple(p) for p in pads]
        self.modes = list(modes)
        self.value = value
        self.channels_first = channels_first

    def call(self, x):
        offset = 2 if self.channels_first else 1
        for index, ((before, after), mode) in enumerate(zip(self.pads, self.modes)):
            axis = offset + index
            if mode == "constant":
                width = [[0, 0]] * len(x.shape)
                width[axis] = [before, after]
                x = tf.pad(x, width, constant_values=self.value)
                continue
            head, tail = _edge_pieces(x, axis, before, after, mode)
            x = tf.concat([p for p in (head, x, tail) if p is not None], axis=axis)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "pads": self.pads,
            "modes": self.modes,
            "value": self.value,
            "channels_first": self.channels_first,
        }


@_register
class PadThenScale(keras.layers.Layer):
    """Reflect-pads by 1, then doubles every value: grows the map, but is no padding."""

    def call(self, x):
        return 2.0 * tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT")


@_register
class PadToEven(keras.layers.Layer):
    """Pads the bottom/right by 1 only where the size is odd: amounts depend on the size."""

    def call(self, x):
        height, width = x.shape[1], x.shape[2]
        return tf.pad(x, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]], "SYMMETRIC")


@_register
class NearestUpsample(keras.layers.Layer):
    """Doubles height and width by repeating values: grows both axes, is no padding."""

    def call(self, x):
        return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
