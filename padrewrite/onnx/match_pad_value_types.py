"""Pass: give each constant `Pad` a `constant_value` of its data's element type.

Under a `mixed_float16` policy tf2onnx pads float16 tensors in float32 (a
`Cast` before the `Pad` and one after) but keeps the pad value float16, which
the ONNX checker rejects ("constant_value has inconsistent type"). The value
gets a `Cast` to the data's type; widening float16 to float32 is exact.
"""

from __future__ import annotations

import dataclasses

import onnx
from onnx import TensorProto, helper

from padrewrite.onnx.graph import GraphEditor

__all__ = ["PadValueCast", "PadValueTyping", "match_pad_value_types"]


@dataclasses.dataclass(frozen=True)
class PadValueCast:
    """One `Pad` whose `constant_value` got a `Cast`.

    Attributes:
        node: name of the `Pad` node.
        value_type: the value's element type before ("float16", ...).
        data_type: the padded tensor's element type, the value's now.
    """

    node: str
    value_type: str
    data_type: str

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PadValueTyping:
    """Record of `match_pad_value_types`: one `PadValueCast` per changed `Pad`."""

    casts: tuple[PadValueCast, ...] = ()

    def to_dict(self):
        return dataclasses.asdict(self)


def match_pad_value_types(model: onnx.ModelProto) -> PadValueTyping:
    """Cast the `constant_value` of every `Pad` whose type differs from its data's, in place."""
    editor = GraphEditor(model)
    nodes, casts = [], []
    for node in editor.nodes:
        if node.op_type == "Pad" and len(node.input) > 2 and node.input[2]:
            data_type = editor.elem_type(node.input[0])
            value_type = editor.elem_type(node.input[2])
            if data_type and value_type and data_type != value_type:
                value = editor.fresh(f"{node.name}/constant_value:0")
                nodes.append(
                    helper.make_node(
                        "Cast", [node.input[2]], [value],
                        name=editor.fresh(f"{node.name}/constant_value"), to=data_type,
                    )
                )
                node.input[2] = value
                casts.append(PadValueCast(node.name, _type_name(value_type), _type_name(data_type)))
        nodes.append(node)
    if casts:
        editor.replace_nodes(nodes)
    return PadValueTyping(tuple(casts))


def _type_name(elem_type):
    return TensorProto.DataType.Name(elem_type).lower()
