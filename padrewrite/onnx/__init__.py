"""The ONNX side of padrewrite: export with tf2onnx, then graph passes.

- `export`: `export_onnx` and its report (the only module importing tf2onnx,
  lazily: importing this package imports onnx, never TensorFlow).
- `passes`: the ordered list of passes the export applies, one module each:
  `match_pad_value_types`, `raise_opset`, `sink_pads_below_layout_ops`,
  `hoist_pads_above_pointwise_ops`, `lower_placeholder_pads`.
- `graph`: the helpers the passes share; `pads`: how padrewrite's pads look
  in ONNX.

Inside this package `import onnx` is the onnx library (absolute imports).
"""

from __future__ import annotations

from padrewrite.onnx.export import (
    DEFAULT_OPSET,
    MIN_OPSET,
    TF2ONNX_MAX_OPSET,
    WRAP_OPSET,
    ExportError,
    ExportReport,
    ModelIO,
    describe_io,
    export_onnx,
)
from padrewrite.onnx.passes import PASSES, run_passes

__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "PASSES",
    "TF2ONNX_MAX_OPSET",
    "WRAP_OPSET",
    "ExportError",
    "ExportReport",
    "ModelIO",
    "describe_io",
    "export_onnx",
    "run_passes",
]
