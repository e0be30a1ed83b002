"""Pass: move the layout op after a pad above it, so the pad sinks to its convolution.

tf2onnx puts a `Transpose` (NHWC -> NCHW) or an `Unsqueeze` (Conv1D as a 2D
conv) between a pad and the `Conv` it feeds. When that layout op is the pad's
only consumer it moves above the pad: the pads are permuted (Transpose) or
extended with zeros (Unsqueeze), so the result is the same for every pad mode,
and the pad (or, once lowered, its last `Concat`) feeds the `Conv` directly.
Only pads known before run time move.
"""

from __future__ import annotations

import dataclasses

import onnx

from padrewrite.onnx.graph import GraphEditor, get_attribute

__all__ = ["LayoutMove", "PadSinking", "sink_pads_below_layout_ops"]


@dataclasses.dataclass(frozen=True)
class LayoutMove:
    """One layout op moved above a pad.

    Attributes:
        pad: name of the `Pad` node.
        layout_op: name of the `Transpose`/`Unsqueeze` node now before it.
        op_type: "Transpose" or "Unsqueeze".
    """

    pad: str
    layout_op: str
    op_type: str

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PadSinking:
    """Record of `sink_pads_below_layout_ops`: the moves, in the order made."""

    moves: tuple[LayoutMove, ...] = ()

    def to_dict(self):
        return dataclasses.asdict(self)


def sink_pads_below_layout_ops(model: onnx.ModelProto) -> PadSinking:
    """Move each `Transpose`/`Unsqueeze` that alone consumes a `Pad` above it.

    Edits `model` in place (main graph only).
    """
    moves = []
    while True:
        editor = GraphEditor(model)
        for index, node in enumerate(editor.nodes):
            if node.op_type == "Pad":
                move = _sink_one(editor, index, node)
                if move is not None:
                    moves.append(move)
                    break
        else:
            return PadSinking(tuple(moves))


def _sink_one(editor, index, pad):
    pads = editor.static_pads(pad)
    output = pad.output[0]
    consumers = editor.consumers(output)
    if pads is None or editor.is_graph_output(output) or len(consumers) != 1:
        return None
    if len(pad.input) > 3 and pad.input[3]:
        return None
    layout = consumers[0]
    rank = len(pads) // 2
    begins, ends = list(pads[:rank]), list(pads[rank:])
    if layout.op_type == "Transpose":
        perm = get_attribute(layout, "perm", None)
        perm = list(perm) if perm is not None else list(reversed(range(rank)))
        begins, ends = [begins[p] for p in perm], [ends[p] for p in perm]
    elif layout.op_type == "Unsqueeze":
        axes = editor.unsqueeze_axes(layout)
        if axes is None:
            return None
        new_rank = rank + len(axes)
        for axis in sorted(a % new_rank for a in axes):
            begins.insert(axis, 0)
            ends.insert(axis, 0)
    else:
        return None
    moved = editor.fresh(f"{layout.output[0]}/before_pad")
    layout.input[0] = pad.input[0]
    layout_output = layout.output[0]
    layout.output[0] = moved
    pad.input[0] = moved
    pad.input[1] = editor.const(begins + ends)
    pad.output[0] = layout_output
    editor.forget_value_info([output])
    nodes = list(editor.nodes)
    nodes.remove(layout)
    nodes.insert(index, layout)
    editor.replace_nodes(nodes)
    return LayoutMove(pad.name, layout.name, layout.op_type)
