"""ONNX graph passes for exported models (pure onnx: no TensorFlow, no Keras).

While exporting, `padrewrite.layers` traces replicate/symmetric/circular pads
as a reflect `Pad` named `padrewrite_<mode>` (TensorFlow has no op for them).
`lower_placeholder_pads` turns each such placeholder into what it stands for:

- replicate -> the same `Pad` with mode="edge";
- circular -> `Pad` mode="wrap" at opset >= 19, else per padded axis at most
  two `Slice` and one `Concat`;
- symmetric -> per padded axis at most two `Slice` (negative steps for the
  mirrored parts) and one `Concat`.

Pads computed at run time (`SamePadding` with stride > 1 and an unknown size)
are supported: the slice bounds are then computed from the tiny pads tensor.
No pass ever gathers from the data tensor.

`hoist_layout_ops_above_pads` moves the `Transpose`/`Unsqueeze` that tf2onnx
puts between a pad and its convolution above the pad, so the pad (or its last
`Concat`) feeds the `Conv` directly. The passes edit the model in place.
(Moving pads above per-position ops is `padrewrite.onnx_hoist`, which shares
`GraphEditor`.)
"""

from __future__ import annotations

import collections
import dataclasses
import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = [
    "ExportError",
    "PLACEHOLDER_MODES",
    "PadLowering",
    "WRAP_OPSET",
    "count_ops",
    "hoist_layout_ops_above_pads",
    "lower_placeholder_pads",
    "model_opset",
    "placeholder_mode",
    "raise_opset",
    "set_io_names",
]

#: First opset whose `Pad` has mode="wrap".
WRAP_OPSET = 19

PLACEHOLDER_MODES = ("replicate", "symmetric", "circular")
# The last path component of the node name: `padrewrite_<mode>` as given by
# `padrewrite.layers.placeholder_op_name`, maybe uniquified by TensorFlow.
_PLACEHOLDER_NAME = re.compile(
    r"(?:^|/)padrewrite_(replicate|symmetric|circular)(?:_\d+)?$"
)
_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)


class ExportError(ValueError):
    """A model cannot be exported to ONNX as asked (one-line message)."""


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


def model_opset(model: onnx.ModelProto) -> int:
    """The opset version of the default ONNX domain of `model`."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise ExportError("The ONNX model imports no default-domain opset.")


def count_ops(model: onnx.ModelProto) -> dict[str, int]:
    """Node count per op type of the main graph, sorted by op type."""
    counts = collections.Counter(node.op_type for node in model.graph.node)
    return dict(sorted(counts.items()))


def placeholder_mode(node: onnx.NodeProto) -> str | None:
    """The mode a placeholder `Pad` stands for, `None` for any other node."""
    if node.op_type != "Pad" or _attribute(node, "mode", b"constant") != b"reflect":
        return None
    match = _PLACEHOLDER_NAME.search(node.name)
    return match.group(1) if match else None


def lower_placeholder_pads(model: onnx.ModelProto) -> list[PadLowering]:
    """Replace every placeholder `Pad` of `model` by its mode's ONNX ops.

    Edits `model` in place and returns one record per placeholder, in graph
    order. The opset is read from `model.opset_import`.
    """
    opset = model_opset(model)
    editor = GraphEditor(model)
    records = []
    nodes = []
    for node in model.graph.node:
        mode = placeholder_mode(node)
        if mode is None:
            nodes.append(node)
            continue
        pads = editor.static_pads(node)
        if mode == "replicate" or (mode == "circular" and opset >= WRAP_OPSET):
            native = "edge" if mode == "replicate" else "wrap"
            _set_attribute(node, "mode", native)
            nodes.append(node)
            records.append(PadLowering(node.name, mode, f"Pad({native})", pads))
            continue
        replacement, axes = _slice_and_concat(editor, node, mode, pads)
        nodes.extend(replacement)
        lowered_to = "Slice+Concat" if axes else "Identity"
        records.append(PadLowering(node.name, mode, lowered_to, pads, axes))
    editor.replace_nodes(nodes)
    return records


def hoist_layout_ops_above_pads(model: onnx.ModelProto) -> int:
    """Move each `Transpose`/`Unsqueeze` that alone consumes a `Pad` above it.

    The pads are permuted (Transpose) or extended with zeros (Unsqueeze), so
    the result is the same for every pad mode. Only pads known before run time
    are moved. Edits `model` in place; returns the number of moves.
    """
    moves = 0
    while True:
        editor = GraphEditor(model)
        for index, node in enumerate(model.graph.node):
            if node.op_type == "Pad" and _hoist_one(editor, index, node):
                moves += 1
                break
        else:
            return moves


def raise_opset(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """`model` converted to `opset` (default domain), with a matching IR version."""
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, opset)
    except Exception as error:  # the converter raises bare RuntimeErrors
        raise ExportError(
            f"onnx.version_converter cannot raise the model from opset "
            f"{model_opset(model)} to {opset}: {_first_line(error)}. "
            f"Received: opset={opset}"
        ) from error
    converted.ir_version = max(
        converted.ir_version, helper.find_min_ir_version_for(list(converted.opset_import))
    )
    return converted


def set_io_names(model: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> None:
    """Rename the graph inputs and outputs of `model` (in order), in place.

    An output that cannot be renamed alone (it is also an input or another
    output) gets an `Identity` node instead.
    """
    graph = model.graph
    for kind, actual, values in (
        ("inputs", graph.input, inputs),
        ("outputs", graph.output, outputs),
    ):
        if len(actual) != len(values):
            raise ExportError(
                f"The ONNX graph has {len(actual)} {kind}, expected "
                f"{len(values)}. Received: {kind}={list(values)}"
            )
    if len(set(outputs)) != len(outputs) or len(set(inputs)) != len(inputs):
        raise ExportError(
            f"Input and output names must be unique. "
            f"Received: inputs={inputs}, outputs={outputs}"
        )
    used = _all_value_names(graph)
    for value, name in zip(graph.input, inputs):
        if value.name != name:
            _make_room(graph, name, used)
            _rename(graph, {value.name: name})
    graph_inputs = {value.name for value in graph.input}
    seen = collections.Counter(value.name for value in graph.output)
    identities = []
    for value, name in zip(graph.output, outputs):
        old = value.name
        if old == name:
            continue
        _make_room(graph, name, used)
        if old in graph_inputs or seen[old] > 1:
            identities.append(helper.make_node("Identity", [old], [name], name=name))
            value.name = name
        else:
            _rename(graph, {old: name})
    graph.node.extend(identities)


# --------------------------------------------------------------------------
# Slice + Concat lowering


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


# --------------------------------------------------------------------------
# Hoisting Transpose/Unsqueeze above Pad


def _hoist_one(editor, index, pad):
    pads = editor.static_pads(pad)
    output = pad.output[0]
    consumers = editor.consumers.get(output, [])
    if pads is None or editor.is_graph_output(output) or len(consumers) != 1:
        return False
    if len(pad.input) > 3 and pad.input[3]:
        return False
    layout = consumers[0]
    rank = len(pads) // 2
    begins, ends = list(pads[:rank]), list(pads[rank:])
    if layout.op_type == "Transpose":
        perm = _attribute(layout, "perm", None)
        perm = list(perm) if perm is not None else list(reversed(range(rank)))
        begins, ends = [begins[p] for p in perm], [ends[p] for p in perm]
    elif layout.op_type == "Unsqueeze":
        axes = editor.unsqueeze_axes(layout)
        if axes is None:
            return False
        new_rank = rank + len(axes)
        for axis in sorted(a % new_rank for a in axes):
            begins.insert(axis, 0)
            ends.insert(axis, 0)
    else:
        return False
    moved = editor.fresh(f"{layout.output[0]}/before_pad")
    layout.input[0] = pad.input[0]
    layout_output = layout.output[0]
    layout.output[0] = moved
    pad.input[0] = moved
    pad.input[1] = editor.const(begins + ends)
    pad.output[0] = layout_output
    editor.forget_value_info(output)
    nodes = list(editor.graph.node)
    nodes.remove(layout)
    nodes.insert(index, layout)
    editor.replace_nodes(nodes)
    return True


# --------------------------------------------------------------------------
# Graph editing helpers


class GraphEditor:
    """Lookups and small additions on one ONNX graph (main graph only).

    Shared by the passes of this module and `padrewrite.onnx_hoist`; not
    part of the public API.
    """

    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.initializers = {tensor.name: tensor for tensor in self.graph.initializer}
        self.producers = {}
        self.consumers = collections.defaultdict(list)
        for node in self.graph.node:
            for name in node.output:
                self.producers[name] = node
            for name in node.input:
                self.consumers[name].append(node)
        self.names = _all_value_names(self.graph) | {n.name for n in self.graph.node}
        self._constants = {}
        self._shapes = None

    def replace_nodes(self, nodes):
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        self._drop_unused_initializers()

    def is_graph_output(self, name):
        return any(value.name == name for value in self.graph.output)

    def fresh(self, name):
        """`name`, or `name` with a numeric suffix, unused in the graph."""
        candidate, counter = name, 0
        while candidate in self.names:
            counter += 1
            candidate = f"{name}_{counter}"
        self.names.add(candidate)
        return candidate

    def const(self, values):
        """Name of an int64 1-D initializer holding `values` (shared)."""
        key = tuple(int(v) for v in values)
        if key not in self._constants:
            name = self.fresh("padrewrite/const")
            array = np.array(key, dtype=np.int64)
            self.graph.initializer.append(numpy_helper.from_array(array, name))
            self.initializers[name] = self.graph.initializer[-1]
            self._constants[key] = name
        return self._constants[key]

    def constant_value(self, name):
        """numpy value of an initializer or `Constant` output, else `None`."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producers.get(name)
        if node is not None and node.op_type == "Constant" and node.attribute:
            attribute = node.attribute[0]
            if attribute.name == "value":
                return numpy_helper.to_array(attribute.t)
            if attribute.name in ("value_int", "value_ints"):
                return np.array(helper.get_attribute_value(attribute), dtype=np.int64)
        return None

    def static_pads(self, pad):
        """The pads of `pad` as a tuple (expanded over `axes`), `None` if dynamic."""
        value = self.constant_value(pad.input[1])
        if value is None:
            return None
        pads = [int(v) for v in value.reshape(-1)]
        if len(pad.input) > 3 and pad.input[3]:
            axes = self.constant_value(pad.input[3])
            rank = self.rank(pad.input[0])
            if axes is None or rank is None:
                return None
            full = [0] * (2 * rank)
            count = len(axes)
            for i, axis in enumerate(int(a) % rank for a in axes.reshape(-1)):
                full[axis], full[axis + rank] = pads[i], pads[i + count]
            pads = full
        return tuple(pads)

    def unsqueeze_axes(self, node):
        if len(node.input) > 1:
            value = self.constant_value(node.input[1])
            return None if value is None else [int(v) for v in value.reshape(-1)]
        axes = _attribute(node, "axes", None)
        return None if axes is None else list(axes)

    def forget_value_info(self, name):
        kept = [value for value in self.graph.value_info if value.name != name]
        del self.graph.value_info[:]
        self.graph.value_info.extend(kept)

    # -- run-time pads ----------------------------------------------------

    def shape(self, name):
        """Static shape of `name` from shape inference, `None` if unknown."""
        if self._shapes is None:
            self._shapes = {}
            try:
                inferred = onnx.shape_inference.infer_shapes(self.model)
            except Exception:  # inference is a hint only: no shapes then
                return None
            graph = inferred.graph
            for value in [*graph.input, *graph.value_info, *graph.output]:
                tensor = value.type.tensor_type
                if tensor.HasField("shape"):
                    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
                    self._shapes[value.name] = dims
        return self._shapes.get(name)

    def rank(self, name):
        shape = self.shape(name)
        return None if shape is None else len(shape)

    def known_values(self, name):
        """Elements of a small int tensor known before run time (`None` = unknown).

        Follows the ops tf2onnx uses to assemble pads (Concat, Unsqueeze,
        Squeeze, Cast, Identity, Transpose, Reshape); returns `None` when the
        tensor's shape itself is unknown.
        """
        array = self._known_array(name, depth=0)
        return None if array is None else list(array.reshape(-1))

    def _known_array(self, name, depth):
        value = self.constant_value(name)
        if value is not None:
            return value.astype(object)
        node = self.producers.get(name)
        if node is None or depth > 32:
            return self._unknown(name)
        inputs = [self._known_array(i, depth + 1) for i in node.input[:1]]
        source = inputs[0] if inputs else None
        if node.op_type in ("Cast", "Identity") and source is not None:
            return source
        if node.op_type == "Concat":
            parts = [self._known_array(i, depth + 1) for i in node.input]
            if all(part is not None for part in parts):
                return np.concatenate(parts, axis=_attribute(node, "axis", 0))
        elif node.op_type == "Transpose" and source is not None:
            return np.transpose(source, _attribute(node, "perm", None))
        elif node.op_type == "Unsqueeze" and source is not None:
            axes = self.unsqueeze_axes(node)
            if axes is not None:
                rank = source.ndim + len(axes)
                for axis in sorted(a % rank for a in axes):
                    source = np.expand_dims(source, axis)
                return source
        elif node.op_type == "Squeeze" and source is not None:
            axes = self.unsqueeze_axes(node)
            return np.squeeze(source, axis=None if axes is None else tuple(axes))
        elif node.op_type == "Reshape" and source is not None:
            shape = self.constant_value(node.input[1])
            if shape is not None:
                shape = [
                    source.shape[i] if s == 0 and not _attribute(node, "allowzero", 0) else int(s)
                    for i, s in enumerate(shape.reshape(-1))
                ]
                return source.reshape(shape)
        return self._unknown(name)

    def _unknown(self, name):
        shape = self.shape(name)
        if shape is None or any(d is None for d in shape):
            return None
        return np.full(shape, None, dtype=object)

    def pad_element(self, nodes, pad, pads_name, index):
        """Name of a 1-element tensor holding `pads[index]` (computed at run time)."""
        output = self.fresh(f"{pad.name}/pads_{index}:0")
        nodes.append(
            helper.make_node(
                "Slice",
                [pads_name, self.const([index]), self.const([index + 1]), self.const([0])],
                [output],
                name=f"{pad.name}/pads_{index}",
            )
        )
        return output

    def unary(self, nodes, op, x):
        output = self.fresh(f"{x}/{op.lower()}")
        nodes.append(helper.make_node(op, [x], [output], name=output))
        return output

    def binary(self, nodes, op, x, y):
        output = self.fresh(f"{x}/{op.lower()}")
        nodes.append(helper.make_node(op, [x, y], [output], name=output))
        return output

    def where_zero(self, nodes, x, if_zero, otherwise):
        """`if_zero` (an int) where `x == 0`, else `otherwise` (a tensor name)."""
        is_zero = self.binary(nodes, "Equal", x, self.const([0]))
        output = self.fresh(f"{x}/where")
        nodes.append(
            helper.make_node(
                "Where", [is_zero, self.const([if_zero]), otherwise], [output], name=output
            )
        )
        return output

    def _drop_unused_initializers(self):
        used = set(_used_names(self.graph))
        kept = [t for t in self.graph.initializer if t.name in used]
        if len(kept) != len(self.graph.initializer):
            del self.graph.initializer[:]
            self.graph.initializer.extend(kept)
            self.initializers = {t.name: t for t in kept}
            self._constants = {k: v for k, v in self._constants.items() if v in self.initializers}


def _used_names(graph):
    """Names read by the nodes (and subgraphs) and the outputs of `graph`."""
    for node in graph.node:
        yield from node.input
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                yield from _used_names(subgraph)
    for value in graph.output:
        yield value.name


def _make_room(graph, name, used):
    """Rename the internal value called `name`, if any, to a fresh name."""
    if name in {value.name for value in [*graph.input, *graph.output]}:
        raise ExportError(
            f"The name '{name}' is already an input or output of the ONNX graph. "
            f"Received: name={name!r}"
        )
    if name in used:
        counter = 1
        while f"{name}_{counter}" in used:
            counter += 1
        _rename(graph, {name: f"{name}_{counter}"})
        used.add(f"{name}_{counter}")
    used.add(name)


def _all_value_names(graph):
    names = {value.name for value in [*graph.input, *graph.output, *graph.value_info]}
    names |= {tensor.name for tensor in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def _rename(graph, mapping):
    """Rename values of `graph` and its subgraphs, in place."""
    if not mapping:
        return
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)
        for attribute in node.attribute:
            for subgraph in [attribute.g, *attribute.graphs]:
                _rename(subgraph, mapping)
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = mapping.get(value.name, value.name)
    for tensor in graph.initializer:
        tensor.name = mapping.get(tensor.name, tensor.name)


def _attribute(node, name, default):
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _set_attribute(node, name, value):
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, value)])


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
