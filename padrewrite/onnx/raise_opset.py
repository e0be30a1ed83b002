"""Pass: convert the graph tf2onnx made (opset <= 18) to a higher opset.

tf2onnx 1.17 stops at opset 18; `Pad` mode="wrap" needs 19. The conversion
uses `onnx.version_converter` and sets the IR version the new opset needs.
"""

from __future__ import annotations

import dataclasses

import onnx
from onnx import helper

from padrewrite.onnx.graph import ExportRefused, first_line, model_opset

__all__ = ["OpsetRaise", "raise_opset"]


@dataclasses.dataclass(frozen=True)
class OpsetRaise:
    """Record of `raise_opset`: default-domain opset and IR version before and after."""

    from_opset: int
    to_opset: int
    from_ir_version: int
    to_ir_version: int

    def to_dict(self):
        return dataclasses.asdict(self)


def raise_opset(model: onnx.ModelProto, opset: int) -> OpsetRaise:
    """Convert `model` to `opset` (default domain), in place, with a matching IR version."""
    before, ir_before = model_opset(model), model.ir_version
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, opset)
    except Exception as error:  # the converter raises bare RuntimeErrors
        raise ExportRefused(
            f"onnx.version_converter cannot raise the model from opset "
            f"{before} to {opset}: {first_line(error)}. "
            f"Received: opset={opset}"
        ) from error
    converted.ir_version = max(
        converted.ir_version, helper.find_min_ir_version_for(list(converted.opset_import))
    )
    model.CopyFrom(converted)
    return OpsetRaise(before, opset, ir_before, model.ir_version)
