"""Layers that pad 'same' or 'causal' where no rule can reach them, and why.

Nothing is silent: a layer with `padding='same'`/`'causal'` that no rule
rewrites — a recurrent convolution, a layer held by a wrapper or a custom
layer, a class no rule knows — is reported as skipped with one of these
reasons.
"""

from __future__ import annotations

import keras

L = keras.layers

#: Their recurrent convolution pads 'same' inside the cell whatever `padding` says.
RECURRENT_CONVOLUTIONS = (L.ConvLSTM1D, L.ConvLSTM2D, L.ConvLSTM3D)
PADDED = ("same", "causal")


def config_of(layer) -> dict:
    """`layer.get_config()`, or {} for a custom layer whose get_config() fails."""
    try:
        return layer.get_config()
    except Exception:  # a custom layer whose get_config() fails: nothing to read
        return {}


def pads_implicitly(layer) -> bool:
    """True if `layer` pads 'same'/'causal' by itself (its config, or a recurrent conv)."""
    return isinstance(layer, RECURRENT_CONVOLUTIONS) or config_of(layer).get("padding") in PADDED


def kind_of(layer) -> str:
    """The report kind of a padding layer no rule concerns."""
    config = config_of(layer)
    if "pool_size" in config:
        return "pooling"
    return "convolution"


def unreached_reason(layer) -> str | None:
    """Why a graph layer that pads implicitly is not rewritten (None if it does not pad)."""
    if isinstance(layer, RECURRENT_CONVOLUTIONS):
        return (
            f"padding={layer.padding!r} applies to the input convolution only; the "
            "recurrent convolution inside the cell always pads 'same' with zeros, "
            "and no explicit pad can reach it"
        )
    padding = config_of(layer).get("padding")
    if padding in PADDED:
        return f"padding={padding!r} on a {type(layer).__name__}, which no rule rewrites"
    return None


def hidden_reason(container, inner) -> str:
    """Why `inner`, held by the non-graph layer `container`, is not rewritten."""
    what = unreached_reason(inner) if isinstance(inner, RECURRENT_CONVOLUTIONS) else None
    if isinstance(container, L.Wrapper):
        where = (
            f"wrapped by '{container.name}' ({type(container).__name__}), a Keras "
            "wrapper; wrapped layers are not rewritten"
        )
    else:
        where = (
            f"inside custom layer '{container.name}', whose call() is Python code, "
            "not a graph; rewrite that layer by hand"
        )
    return f"{where}; {what}" if what else where
