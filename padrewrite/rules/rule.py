"""What a rewrite rule is: a small value plus one function.

A `Rule` names the layer classes it concerns and a predicate on their config;
its `build` function looks at one call of a matching layer and decides:
`Rewrite` (explicit pads, then the layer rebuilt from a new config) or `Leave`
(keep the layer as it is, with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Pair = tuple[int, int]


class _ModelOutput:
    """Stands for "the model's caller" among the consumers of a tensor."""

    name = "model output"

    def __repr__(self):
        return "MODEL_OUTPUT"


MODEL_OUTPUT = _ModelOutput()


@dataclass(frozen=True)
class CallSite:
    """One call of a layer in the original graph.

    `consumers` are the layers reading its outputs; `MODEL_OUTPUT` among them
    means an output is also an output of the model. `input_count` is the
    number of tensors it was called with.
    """

    layer: object
    input_shape: tuple
    consumers: tuple = ()
    input_count: int = 1


@dataclass(frozen=True)
class SameSpec:
    """TensorFlow 'same' geometry, for pads computed from the run-time shape."""

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation_rate: tuple[int, ...]


@dataclass(frozen=True)
class Rewrite:
    """Insert a padding layer, then the layer rebuilt from `config`.

    `pads` has one `(before, after)` per spatial axis, `None` where the amount
    is only known at run time (then `same` says how to compute it). With
    `config=None` the padding layer replaces the layer altogether. `causal`
    marks a causal convolution's left pad: a mode copying values there would
    read future samples.

    A rule that found the mode a layer already pads in (an adopted padding
    layer) sets `mode` and `constant_value`: they are kept unless a per-layer
    mode names the layer. `source` is the layer whose class and weights the
    rebuilt layer takes when that is not the layer itself (the convolution
    inside a hand-written padded convolution); `reason` replaces the
    engine's description of the rewrite.
    """

    pads: tuple[Pair | None, ...]
    data_format: str
    config: dict | None
    same: SameSpec | None = None
    causal: bool = False
    mode: str | tuple[str, ...] | None = None
    constant_value: float = 0.0
    source: object = None
    reason: str | None = None


@dataclass(frozen=True)
class Leave:
    """Keep the layer; `action` is "unchanged" or "skipped".

    `recorded=False` keeps it out of the report: the rule found the layer is
    not its concern at all (a custom layer that pads nothing).
    """

    action: str
    reason: str
    recorded: bool = True


@dataclass(frozen=True)
class Rule:
    """A rewrite rule.

    `applies(config)` says whether a layer of `layer_types` is a candidate
    (e.g. `padding == 'same'`); `build(site)` decides for one call.
    Opt-in rules run only when asked for by name. A rule that recognises
    layers by what they compute rather than by their class narrows
    `layer_types` with `accepts(layer)` and sets `calls_layer`: its `build`
    runs the layer's own code, so it runs only when enabled.
    """

    name: str
    kind: str
    layer_types: tuple[type, ...]
    applies: Callable[[dict], bool]
    build: Callable[[CallSite], Rewrite | Leave]
    opt_in: bool = False
    description: str = field(default="", compare=False)
    accepts: Callable[[object], bool] | None = None
    calls_layer: bool = False

    def concerns(self, layer) -> bool:
        """Whether `layer` is one this rule looks at (before its config)."""
        return isinstance(layer, self.layer_types) and (
            self.accepts is None or self.accepts(layer)
        )
