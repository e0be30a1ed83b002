"""Pass: rewrite each `Erfc(x)` as `Sub(1, Erf(x))`, which ONNX has.

Exact GELU (`keras.activations.gelu(x, approximate=False)`, `Activation("gelu")`)
runs on the TensorFlow backend as `tf.nn.gelu`, which computes
`0.5 * x * erfc(-x / sqrt(2))`. ONNX has no `Erfc`; tf2onnx 1.17 converts
the rest of the graph and leaves a default-domain `Erfc` node with the
TensorFlow op's single input and output, which the ONNX checker rejects
("No Op registered for Erfc"). `approximate=True` (tanh) converts to plain
ONNX ops and never reaches this pass.

Each `Erfc` becomes `Erf` then `Sub` from a constant 1 of the input's element
type (float32, or float16 under `mixed_float16`); the `Sub` writes the `Erfc`'s
output tensor, so nothing downstream changes.

Accuracy: `1 - erf(x)` loses relative precision where `erf(x)` is close to
1 (large positive `x`): the subtraction is exact, but `erf(x)` is rounded to
the floats just below 1, spaced 6e-8 in float32 (5e-4 in float16), so erfc
values of that size are off by up to half the spacing and smaller ones come
out as 0. The absolute error stays that small: within 1.2e-7 of `math.erfc`
over [-30, 30] with onnxruntime's float32 `Erf`. In GELU,
`0.5 * x * erfc(-x / sqrt(2))`, the argument's erf is close to 1 only for
large negative `x`, where GELU itself is tiny (-1.4e-6 at x = -5) and the
erfc error is scaled by `|x| / 2`: measured over `x` in [-30, 30], the
rewritten float32 GELU is within 1e-7 of the exact one (`math.erfc` in
float64) for `x < -3`, and within 5e-7 everywhere (the float32 rounding of
`x / 2 * erfc` near 5, at `x` about 5).

Only the main graph is rewritten: an `Erfc` inside an `If`/`Loop` body
stays, and the ONNX checker names it.
"""

from __future__ import annotations

import dataclasses

import onnx
from onnx import TensorProto, helper

from padrewrite.onnx.graph import ExportError, GraphEditor

__all__ = ["ErfcReplacement", "ErfcRewriting", "has_erfc", "replace_erfc"]

#: Domains of the ONNX default opset, where tf2onnx leaves `Erfc`.
_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclasses.dataclass(frozen=True)
class ErfcReplacement:
    """One `Erfc` node replaced by `Erf` and `Sub`.

    Attributes:
        node: name of the `Erfc` node.
        output: its output tensor, now written by the `Sub`.
        elem_type: the element type computed in ("float", "float16", ...).
    """

    node: str
    output: str
    elem_type: str

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ErfcRewriting:
    """Record of `replace_erfc`: the number of `Erfc` nodes replaced, and each one."""

    replaced: int = 0
    replacements: tuple[ErfcReplacement, ...] = ()

    def to_dict(self):
        return dataclasses.asdict(self)


def has_erfc(model: onnx.ModelProto) -> bool:
    """True if the main graph of `model` has a default-domain `Erfc` node."""
    return any(_is_erfc(node) for node in model.graph.node)


def replace_erfc(model: onnx.ModelProto) -> ErfcRewriting:
    """Replace every `Erfc(x)` of the main graph by `Sub(1, Erf(x))`, in place.

    Raises:
        ExportError: the element type of an `Erfc` input is unknown (ONNX
            shape inference cannot tell it), so no constant 1 can be typed.
    """
    if not has_erfc(model):
        return ErfcRewriting()
    editor = GraphEditor(model)
    ones = {}  # element type -> name of the initializer holding 1
    nodes, replacements = [], []
    for node in editor.nodes:
        if not _is_erfc(node):
            nodes.append(node)
            continue
        (x,) = node.input
        (output,) = node.output
        elem_type = editor.elem_type(x)
        if not elem_type:
            raise ExportError(
                f"Cannot replace the Erfc node {node.name!r} by Erf: the element "
                f"type of its input is unknown. Received: input={x!r}"
            )
        if elem_type not in ones:
            name = editor.fresh(f"padrewrite/erfc_one_{_type_name(elem_type)}")
            model.graph.initializer.append(helper.make_tensor(name, elem_type, [], [1.0]))
            ones[elem_type] = name
        erf = editor.fresh(f"{node.name}/Erf:0")
        nodes.append(
            helper.make_node("Erf", [x], [erf], name=editor.fresh(f"{node.name}/Erf"))
        )
        nodes.append(
            helper.make_node(
                "Sub", [ones[elem_type], erf], [output], name=editor.fresh(f"{node.name}/Sub")
            )
        )
        replacements.append(ErfcReplacement(node.name, output, _type_name(elem_type)))
    editor.replace_nodes(nodes)
    return ErfcRewriting(len(replacements), tuple(replacements))


def _is_erfc(node):
    return node.op_type == "Erfc" and node.domain in _DEFAULT_DOMAINS


def _type_name(elem_type):
    return TensorProto.DataType.Name(elem_type).lower()
