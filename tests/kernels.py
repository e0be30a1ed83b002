"""Running a Keras model in a test on this process' CPU kernels, whichever they are.

With oneDNN off (CPUs without AVX-512, or `TF_ENABLE_ONEDNN_OPTS=0`), TensorFlow's
kernels refuse channels_first 1D/2D and transposed convolutions and unequal-stride
depthwise ones (`padrewrite.keras_side.cpu`). XLA's CPU kernels take them: tests that need a
model's numbers run such a model XLA-compiled, so the suite checks the same
arithmetic claims on both kernel paths.

Those kernels are also wrong on a `Conv3D` with padding 'same' whose kernel extent
is below its stride at some sizes (k=1, strides=3 on 9x9x8: off by 4.3, where an
explicit zero pad + 'valid', XLA and oneDNN agree); such models run XLA-compiled
too when oneDNN is off.
"""

import keras
import numpy as np
import tensorflow as tf

from padrewrite.keras_side.cpu import onednn_enabled, unrunnable_layers
from padrewrite.keras_side.keras_internals import flatten_layers


def _wrong_same_conv3d(model) -> bool:
    if onednn_enabled():
        return False
    for layer in flatten_layers(model, include_self=True):
        if isinstance(layer, keras.layers.Conv3D) and layer.padding == "same":
            for k, s, d in zip(layer.kernel_size, layer.strides, layer.dilation_rate):
                if (k - 1) * d + 1 < s:
                    return True
    return False


def run_model(model, inputs):
    """`model(inputs)` as numpy (a list for several outputs), on a path this CPU runs."""
    if unrunnable_layers(model) or _wrong_same_conv3d(model):
        function = tf.function(lambda x: model(x, training=False), jit_compile=True)
        outputs = function(inputs)
    else:
        outputs = model(inputs, training=False)
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    if isinstance(outputs, dict):
        return {k: np.asarray(v) for k, v in outputs.items()}
    return np.asarray(outputs)
