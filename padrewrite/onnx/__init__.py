"""The ONNX side of padrewrite: export with tf2onnx, then graph passes.

- `export`: `export_onnx` and its report (the only module importing tf2onnx,
  lazily); importing this package imports nothing heavy, its names load on first use.
- `passes`: the ordered list of passes the export applies, one module each:
  `match_pad_value_types`, `raise_opset`, `sink_pads_below_layout_ops`,
  `hoist_pads_above_pointwise_ops`, `lower_placeholder_pads`.
- `graph`: the helpers the passes share; `pads`: how padrewrite's pads look
  in ONNX.

Inside this package `import onnx` is the onnx library (absolute imports).
"""

from __future__ import annotations

import importlib

from padrewrite.onnx.opsets import (
    DEFAULT_OPSET,
    MIN_OPSET,
    TF2ONNX_MAX_OPSET,
    WRAP_OPSET,
)

_LAZY = {
    "ExportError": "padrewrite.onnx.export",
    "ExportRefused": "padrewrite.onnx.export",
    "ExportReport": "padrewrite.onnx.export",
    "ModelIO": "padrewrite.onnx.export",
    "describe_io": "padrewrite.onnx.export",
    "export_onnx": "padrewrite.onnx.export",
    "PASSES": "padrewrite.onnx.passes",
    "run_passes": "padrewrite.onnx.passes",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'padrewrite.onnx' has no attribute {name!r}")


__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "PASSES",
    "TF2ONNX_MAX_OPSET",
    "WRAP_OPSET",
    "ExportError",
    "ExportRefused",
    "ExportReport",
    "ModelIO",
    "describe_io",
    "export_onnx",
    "run_passes",
]
