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
    means an output is also an output of the model.
    """

    layer: object
    input_shape: tuple
    consumers: tuple = ()


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
    """

    pads: tuple[Pair | None, ...]
    data_format: str
    config: dict | None
    same: SameSpec | None = None
    causal: bool = False


@dataclass(frozen=True)
class Leave:
    """Keep the layer; `action` is "unchanged" or "skipped"."""

    action: str
    reason: str


@dataclass(frozen=True)
class Rule:
    """A rewrite rule.

    `applies(config)` says whether a layer of `layer_types` is a candidate
    (e.g. `padding == 'same'`); `build(site)` decides for one call.
    Opt-in rules run only when asked for by name.
    """

    name: str
    kind: str
    layer_types: tuple[type, ...]
    applies: Callable[[dict], bool]
    build: Callable[[CallSite], Rewrite | Leave]
    opt_in: bool = False
    description: str = field(default="", compare=False)
