"""What padrewrite's pads look like in an exported ONNX graph.

While exporting, `padrewrite.layers` traces replicate/symmetric/circular pads
as a reflect `Pad` named `padrewrite_<mode>` (TensorFlow has no op for them);
`placeholder_mode` recognises them and `padrewrite.onnx.lower_placeholder_pads`
replaces them. `pad_mode` names the padding any `Pad` node does.
"""

from __future__ import annotations

import re

import onnx

from padrewrite.onnx.graph import get_attribute
from padrewrite.onnx.opsets import WRAP_OPSET

__all__ = ["COPYING_MODES", "PLACEHOLDER_MODES", "WRAP_OPSET", "pad_mode", "placeholder_mode"]


#: Modes traced as a placeholder `Pad`, lowered after conversion.
PLACEHOLDER_MODES = ("replicate", "symmetric", "circular")

#: ONNX Pad modes that only copy existing values, and padrewrite's name for each.
COPYING_MODES = {b"reflect": "reflect", b"edge": "replicate", b"wrap": "circular"}

# The last path component of the node name: `padrewrite_<mode>` as given by
# `padrewrite.layers.placeholder_op_name`, maybe uniquified by TensorFlow.
_PLACEHOLDER_NAME = re.compile(
    r"(?:^|/)padrewrite_(replicate|symmetric|circular)(?:_\d+)?$"
)


def placeholder_mode(node: onnx.NodeProto) -> str | None:
    """The mode a placeholder `Pad` stands for, `None` for any other node."""
    if node.op_type != "Pad" or get_attribute(node, "mode", b"constant") != b"reflect":
        return None
    match = _PLACEHOLDER_NAME.search(node.name)
    return match.group(1) if match else None


def pad_mode(node: onnx.NodeProto) -> str:
    """padrewrite's name for the padding a `Pad` node does ("constant", "reflect", ...)."""
    placeholder = placeholder_mode(node)
    if placeholder is not None:
        return placeholder
    mode = get_attribute(node, "mode", b"constant")
    return COPYING_MODES.get(mode, mode.decode())
