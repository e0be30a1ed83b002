"""Which CPU kernels TensorFlow runs, and the layers its default kernels cannot run.

TensorFlow 2.21 turns oneDNN off on x86 CPUs without AVX-512 (many laptops and
cloud CPUs) unless `TF_ENABLE_ONEDNN_OPTS` says otherwise. Its other CPU
kernels refuse, and Keras 3 does not route around them:

- channels_first `Conv1D`/`Conv2D` (not grouped ones, which Keras runs through
  XLA): "The Conv2D op currently only
  supports the NHWC tensor format on the CPU";
- every channels_first transposed convolution (1D, 2D, 3D) and channels_first
  `ConvLSTM1D`/`ConvLSTM2D`;
- `DepthwiseConv2D`/`SeparableConv2D` with unequal strides: "Current
  implementation only supports equal length strides".

oneDNN runs on any x86-64 CPU (AVX2 included). The `padrewrite` command asks
for it when the user has not chosen (`prefer_onednn`, before TensorFlow is
imported); when it is off, `require_runnable` names the layers that cannot run
and what to do, instead of TensorFlow's error from deep inside a check.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from padrewrite.errors import InputError

__all__ = [
    "ONEDNN_VARIABLE",
    "UnrunnableLayer",
    "onednn_enabled",
    "prefer_onednn",
    "require_runnable",
    "unrunnable_layers",
]

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn(environ=None) -> bool:
    """Ask TensorFlow for oneDNN unless the user chose (`TF_ENABLE_ONEDNN_OPTS` set).

    Only before TensorFlow is imported (it reads the variable once). Returns
    whether the variable was set.
    """
    environ = os.environ if environ is None else environ
    if ONEDNN_VARIABLE in environ or "tensorflow" in sys.modules:
        return False
    environ[ONEDNN_VARIABLE] = "1"
    return True


def onednn_enabled() -> bool:
    """Whether this process' TensorFlow runs its CPU kernels through oneDNN."""
    from tensorflow.python.util import (
        _pywrap_util_port,  # the flag TensorFlow's tests read
    )

    return bool(_pywrap_util_port.IsMklEnabled())


@dataclasses.dataclass(frozen=True)
class UnrunnableLayer:
    """A layer TensorFlow's CPU kernels without oneDNN refuse, and why."""

    name: str
    class_name: str
    cause: str

    def describe(self) -> str:
        return f"{self.name!r} ({self.class_name}, {self.cause})"


def unrunnable_layers(*models) -> tuple[UnrunnableLayer, ...]:
    """The layers of `models` (at any depth) that cannot run on this process' CPU kernels.

    Empty with oneDNN on, or on another Keras backend.
    """
    import keras

    if keras.backend.backend() != "tensorflow" or onednn_enabled():
        return ()
    from padrewrite.keras_side.keras_internals import flatten_layers

    found, seen = [], set()
    for model in models:
        for layer in flatten_layers(model, include_self=True):
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            cause = _unrunnable_cause(layer)
            if cause is not None:
                found.append(UnrunnableLayer(layer.name, type(layer).__name__, cause))
    return tuple(found)


def require_runnable(*models) -> None:
    """Raise `InputError` naming the layers of `models` this CPU's kernels cannot run."""
    layers = unrunnable_layers(*models)
    if not layers:
        return
    chosen = os.environ.get(ONEDNN_VARIABLE)
    if chosen is None:
        why = ("TensorFlow turned oneDNN off on this CPU (it does so without AVX-512); set "
               f"{ONEDNN_VARIABLE}=1 before TensorFlow is imported (oneDNN runs on any "
               "x86-64 CPU)")
    else:
        why = (f"{ONEDNN_VARIABLE}={chosen} turns oneDNN off; unset it or set it to 1 "
               "(oneDNN runs on any x86-64 CPU)")
    names = ", ".join(layer.describe() for layer in layers[:5])
    more = f" and {len(layers) - 5} more" if len(layers) > 5 else ""
    raise InputError(
        f"TensorFlow's CPU kernels without oneDNN cannot run layer(s) {names}{more}: {why}. "
        f"Received: {ONEDNN_VARIABLE}={chosen!r}"
    )


def _unrunnable_cause(layer) -> str | None:
    from keras import layers as L

    data_format = getattr(layer, "data_format", None)
    cell = getattr(layer, "cell", None)
    if isinstance(layer, (L.ConvLSTM1D, L.ConvLSTM2D)):
        data_format = getattr(cell, "data_format", data_format)
    channels_first = data_format == "channels_first"
    transposed = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
    if channels_first and isinstance(layer, transposed):
        return "a channels_first transposed convolution"
    if channels_first and isinstance(layer, (L.ConvLSTM1D, L.ConvLSTM2D)):
        return "a channels_first convolutional LSTM"
    if (
        channels_first
        and isinstance(layer, (L.Conv1D, L.Conv2D))
        and not isinstance(layer, transposed)
        and getattr(layer, "groups", 1) == 1
    ):
        return "data_format='channels_first'; only channels_last 1D/2D convolutions run"
    if isinstance(layer, (L.DepthwiseConv2D, L.SeparableConv2D)):
        strides = tuple(layer.strides)
        if len(set(strides)) > 1:
            return f"strides={strides}; only equal strides run"
    return None
