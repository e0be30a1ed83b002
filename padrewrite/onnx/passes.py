"""The ONNX passes `export_onnx` applies to the converted graph, in order.

Each pass edits the model in place and returns a record (a dataclass with
`to_dict`); `run_passes` collects them for the export report.

1. `replace-erfc`: rewrite tf2onnx's leftover `Erfc` (exact GELU) as
   `1 - Erf`; runs only on graphs that have one.
2. `match-pad-value-types`: cast constant pad values to their data's type
   (tf2onnx leaves them float16 on float32 data under mixed_float16).
3. `raise-opset`: above opset 18 (tf2onnx's highest), convert the graph.
4. `sink-pads-below-layout-ops`: move tf2onnx's Transpose/Unsqueeze above
   the pads, so each pad feeds its convolution directly.
5. `hoist-pads-above-pointwise-ops`: move value-copying pads above the 1x1
   convolutions and activations before them, where the padded tensor is
   smallest (skipped with `hoist=False`).
6. `lower-placeholder-pads`: turn replicate/symmetric/circular placeholders
   into native `Pad`s or Slice+Concat (circular always Slice+Concat for an
   engine without `Pad` mode `wrap`).

The order matters: step 1 leaves only ONNX ops, so shape inference (which
step 2 reads element types from) sees the whole graph; step 2 makes the
graph valid for the opset converter; the placeholders keep their names until
step 6, so steps 4 and 5 move them like any reflect pad, and step 6 sees the
opset of step 3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import onnx

from padrewrite.onnx.hoist_pads_above_pointwise_ops import (
    hoist_pads_above_pointwise_ops,
)
from padrewrite.onnx.lower_placeholder_pads import lower_placeholder_pads
from padrewrite.onnx.match_pad_value_types import match_pad_value_types
from padrewrite.onnx.opsets import TF2ONNX_MAX_OPSET
from padrewrite.onnx.raise_opset import raise_opset
from padrewrite.onnx.replace_erfc import has_erfc, replace_erfc
from padrewrite.onnx.sink_pads_below_layout_ops import sink_pads_below_layout_ops

__all__ = ["PASSES", "Pass", "PassOptions", "PassResult", "run_passes"]



@dataclasses.dataclass(frozen=True)
class PassOptions:
    """What the export asked for: the target opset, whether to hoist pads, and
    whether the target engine runs `Pad` mode `wrap` (OpenVINO does not)."""

    opset: int
    hoist: bool = True
    wrap_pad: bool = True


@dataclasses.dataclass(frozen=True)
class Pass:
    """One graph pass.

    Attributes:
        name: stable kebab-case name, used in the export report.
        run: `run(model, options) -> record`; edits `model` in place.
        applies: `applies(model, options) -> bool`; the pass runs only then.
    """

    name: str
    run: Callable[[onnx.ModelProto, PassOptions], object]
    applies: Callable[[onnx.ModelProto, PassOptions], bool] = lambda model, options: True


@dataclasses.dataclass(frozen=True)
class PassResult:
    """A pass that ran, and its record."""

    name: str
    record: object

    def to_dict(self):
        return {"name": self.name, "record": self.record.to_dict()}


PASSES = (
    Pass(
        "replace-erfc",
        lambda model, options: replace_erfc(model),
        applies=lambda model, options: has_erfc(model),
    ),
    Pass("match-pad-value-types", lambda model, options: match_pad_value_types(model)),
    Pass(
        "raise-opset",
        lambda model, options: raise_opset(model, options.opset),
        applies=lambda model, options: options.opset > TF2ONNX_MAX_OPSET,
    ),
    Pass("sink-pads-below-layout-ops", lambda model, options: sink_pads_below_layout_ops(model)),
    Pass(
        "hoist-pads-above-pointwise-ops",
        lambda model, options: hoist_pads_above_pointwise_ops(model),
        applies=lambda model, options: options.hoist,
    ),
    Pass(
        "lower-placeholder-pads",
        lambda model, options: lower_placeholder_pads(model, wrap_pad=options.wrap_pad),
    ),
)


def run_passes(model: onnx.ModelProto, options: PassOptions, passes=None) -> tuple[PassResult, ...]:
    """Apply `passes` (default `PASSES`, read at call time) to `model` in place."""
    results = []
    for graph_pass in PASSES if passes is None else passes:
        if graph_pass.applies(model, options):
            results.append(PassResult(graph_pass.name, graph_pass.run(model, options)))
    return tuple(results)
