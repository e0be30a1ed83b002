"""Layers that pad 'same' or 'causal' where no rule can reach them, and why.

Nothing is silent: a layer with `padding='same'`/`'causal'` that no rule
rewrites — a recurrent convolution, a layer held by a wrapper or a custom
layer, a class no rule knows — is reported as skipped with one of these
reasons. A layer's config is read here too (`config_of`): its `get_config()`,
or the failure of it with Keras' cause, which the engine and the rules report
rather than read as "no padding".
"""

from __future__ import annotations

import keras

from padrewrite.errors import one_line

L = keras.layers

#: Their recurrent convolution pads 'same' inside the cell whatever `padding` says.
RECURRENT_CONVOLUTIONS = (L.ConvLSTM1D, L.ConvLSTM2D, L.ConvLSTM3D)
PADDED = ("same", "causal")


class LayerConfig(dict):
    """A layer's `get_config()`, or the failure of it.

    When `get_config()` raised (a custom layer without a complete config,
    such as one built with constructor arguments Keras cannot serialize), the
    mapping is empty and `error` is the exception: a caller that needs the
    config checks `failed` and reports `cause`, never reading the empty
    mapping as "no padding".
    """

    def __init__(self, config=None, error: BaseException | None = None):
        super().__init__(config or {})
        self.error = error

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def cause(self) -> str | None:
        """Keras' reason on one line (`NotImplementedError: Object X was created ...`)."""
        if self.error is None:
            return None
        text = str(self.error)
        # Keras' auto-config errors end with an example class, not with the reason.
        lines = text.splitlines()
        cut = [i for i, line in enumerate(lines) if line.strip() == "Example:"]
        if cut:
            text = "\n".join(lines[: cut[0]])
        return f"{type(self.error).__name__}: {one_line(text, 300) or '(no message)'}"


def config_of(layer) -> LayerConfig:
    """`layer.get_config()` as a `LayerConfig`: the config, or the error it raised."""
    try:
        config = layer.get_config()
    except Exception as error:  # the layer's own code: its failure is the result, reported
        return LayerConfig(error=error)
    if not isinstance(config, dict):
        return LayerConfig(
            error=TypeError(
                f"get_config() must return a dict. Received: {type(config).__name__}"
            )
        )
    return LayerConfig(config)


def padding_of(layer) -> str | None:
    """A layer's `padding`: from its config, or from its attribute when get_config() fails."""
    config = config_of(layer)
    if not config.failed:
        return config.get("padding")
    padding = getattr(layer, "padding", None)
    return padding if isinstance(padding, str) else None


def pads_implicitly(layer) -> bool:
    """True if `layer` pads 'same'/'causal' by itself (its config, or a recurrent conv)."""
    return isinstance(layer, RECURRENT_CONVOLUTIONS) or padding_of(layer) in PADDED


def kind_of(layer) -> str:
    """The report kind of a padding layer no rule concerns."""
    config = config_of(layer)
    if "pool_size" in config or (config.failed and hasattr(layer, "pool_size")):
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
    padding = padding_of(layer)
    if padding not in PADDED:
        return None
    reason = f"padding={padding!r} on a {type(layer).__name__}, which no rule rewrites"
    config = config_of(layer)
    if config.failed:
        reason += f" (its get_config() fails: {config.cause})"
    return reason


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
