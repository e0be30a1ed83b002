"""Pass: replace each placeholder `Pad` by the ONNX ops of the mode it stands for.

- replicate -> the same `Pad` with mode="edge";
- circular -> `Pad` mode="wrap" at opset >= 19 (unless the engine lacks it:
  OpenVINO), else per padded axis at most two `Slice` and one `Concat`;
- symmetric -> per padded axis at most two `Slice` (negative steps for the
  mirrored parts) and one `Concat`.

Pads computed at run time (`SamePadding` with stride > 1 and an unknown size)
are supported: the slice bounds are then computed from the tiny pads tensor.
No pass ever gathers from the data tensor.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import helper

from padrewrite.onnx.graph import ExportError, GraphEditor, model_opset, set_attribute
from padrewrite.onnx.pads import WRAP_OPSET, placeholder_mode

__all__ = ["PadLowering", "PlaceholderLowering", "lower_placeholder_pads"]

_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)


@dataclasses.dataclass(frozen=True)
class PadLowering:
    """What `lower_placeholder_pads` did to one placeholder `Pad`.

    Attributes:
        node: name of the placeholder `Pad` node.
        mode: "replicate", "symmetric" or "circular".
        lowered_to: "Pad(edge)", "Pad(wrap)", "Slice+Concat" or "Identity"
            (all pads zero).
        pads: the ONNX pads (all begins, then all ends), `None` when they
            are computed at run time.
        axes: tensor axes padded with `Slice`+`Concat` (empty for a `Pad`).
    """

    node: str
    mode: str
    lowered_to: str
    pads: tuple[int, ...] | None
    axes: tuple[int, ...] = ()

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PlaceholderLowering:
    """Record of `lower_placeholder_pads`: one `PadLowering` per placeholder, in graph order."""

    lowerings: tuple[PadLowering, ...] = ()

    def to_dict(self):
        return dataclasses.asdict(self)


def lower_placeholder_pads(model: onnx.ModelProto, wrap_pad: bool = True) -> PlaceholderLowering:
    """Replace every placeholder `Pad` of `model` by its mode's ONNX ops.

    Edits `model` in place. The opset is read from `model.opset_import`;
    with `wrap_pad` false (an engine without `Pad` mode `wrap`, such as
    OpenVINO) circular pads are Slice+Concat at every opset.
    """
    opset = model_opset(model)
    editor = GraphEditor(model)
    records = []
    nodes = []
    for node in editor.nodes:
        mode = placeholder_mode(node)
        if mode is None:
            nodes.append(node)
            continue
        pads = editor.static_pads(node)
        if mode == "replicate" or (mode == "circular" and wrap_pad and opset >= WRAP_OPSET):
            native = "edge" if mode == "replicate" else "wrap"
            set_attribute(node, "mode", native)
            nodes.append(node)
            records.append(PadLowering(node.name, mode, f"Pad({native})", pads))
            continue
        replacement, axes = _slice_and_concat(editor, node, mode, pads)
        nodes.extend(replacement)
        lowered_to = "Slice+Concat" if axes else "Identity"
        records.append(PadLowering(node.name, mode, lowered_to, pads, axes))
    editor.replace_nodes(nodes)
    return PlaceholderLowering(tuple(records))


def _slice_and_concat(editor, node, mode, pads):
    """Nodes computing `node`'s output with Slice+Concat, and the padded axes."""
    nodes = []
    if pads is None:
        if len(node.input) > 3 and node.input[3]:
            raise ExportError(
                f"Pad node '{node.name}' has pads and axes computed at run time; "
                f"only pads may be. Received: inputs={list(node.input)}"
            )
        known = editor.known_values(node.input[1])
        rank = len(known) // 2 if known is not None else editor.rank(node.input[0])
        if rank is None:
            raise ExportError(
                f"Cannot tell the rank of the input of Pad node '{node.name}' "
                f"(its pads are computed at run time and shape inference gives "
                f"no rank). Use mode='replicate', 'reflect', or 'circular' with "
                f"opset >= {WRAP_OPSET}: they need no rank."
            )
        known = known if known is not None else [None] * (2 * rank)
        amounts = [
            value if value is not None else editor.pad_element(nodes, node, node.input[1], i)
            for i, value in enumerate(known)
        ]
    elif any(value < 0 for value in pads):
        raise ExportError(
            f"Pad node '{node.name}' has negative pads (cropping), which "
            f"{mode} padding does not allow. Received: pads={list(pads)}"
        )
    else:
        amounts = list(pads)
    rank = len(amounts) // 2
    axes = tuple(
        axis for axis in range(rank) if not (amounts[axis] == 0 and amounts[axis + rank] == 0)
    )
    if not axes:
        return [helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name)], ()
    current = node.input[0]
    for position, axis in enumerate(axes):
        prefix = f"{node.name}/{mode}_axis{axis}"
        parts = []
        before, after = amounts[axis], amounts[axis + rank]
        if before != 0:
            parts.append(_mirror_part(editor, nodes, current, axis, before, mode, "before", prefix))
        parts.append(current)
        if after != 0:
            parts.append(_mirror_part(editor, nodes, current, axis, after, mode, "after", prefix))
        last = position == len(axes) - 1
        output = node.output[0] if last else editor.fresh(f"{prefix}/concat:0")
        nodes.append(
            helper.make_node("Concat", parts, [output], name=f"{prefix}/concat", axis=axis)
        )
        current = output
    return nodes, axes


def _mirror_part(editor, nodes, data, axis, amount, mode, side, prefix):
    """The `Slice` giving the `amount` elements added on `side` of `axis`.

    `amount` is an int, or the name of a 1-element int64 tensor (run time),
    which may be 0: every bound below then gives an empty slice for 0.
    """
    dynamic = isinstance(amount, str)
    if mode == "circular" and side == "before":
        # x[n - b:], and nothing when b == 0 (start past the end).
        if dynamic:
            starts = editor.where_zero(nodes, amount, _INT64_MAX, editor.unary(nodes, "Neg", amount))
        else:
            starts = editor.const([-amount])
        ends, steps = editor.const([_INT64_MAX]), editor.const([1])
    elif mode == "circular":
        # x[:a]
        starts, ends, steps = editor.const([0]), _bound(editor, amount), editor.const([1])
    elif side == "before":
        # x[b-1::-1]: indices b-1 down to 0; for b == 0 start and end are both n-1.
        if dynamic:
            starts = editor.binary(nodes, "Sub", amount, editor.const([1]))
            ends = editor.where_zero(nodes, amount, -1, editor.const([_INT64_MIN]))
        else:
            starts, ends = editor.const([amount - 1]), editor.const([_INT64_MIN])
        steps = editor.const([-1])
    else:
        # x[:-a-1:-1]: indices n-1 down to n-a.
        starts, steps = editor.const([-1]), editor.const([-1])
        if dynamic:
            ends = editor.binary(nodes, "Sub", editor.const([-1]), amount)
        else:
            ends = editor.const([-1 - amount])
    output = editor.fresh(f"{prefix}/{side}:0")
    nodes.append(
        helper.make_node(
            "Slice",
            [data, starts, ends, editor.const([axis]), steps],
            [output],
            name=f"{prefix}/slice_{side}",
        )
    )
    return output


def _bound(editor, amount):
    return amount if isinstance(amount, str) else editor.const([amount])
