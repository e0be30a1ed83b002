"""Graph helpers shared by the ONNX passes (pure onnx: no TensorFlow, no Keras).

`GraphEditor` indexes the main graph of a model once (producers, consumers,
initializers, value names) and makes the small additions a pass needs (fresh
names, int64 constants, Slice/Where arithmetic on pads computed at run time).
The functions below it walk subgraphs, read and set attributes, read the
opset, count ops and rename values; `set_io_names` names the graph inputs and
outputs after the Keras model.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
from onnx import helper, numpy_helper

from padrewrite.errors import InputError

__all__ = [
    "ExportError",
    "ExportRefused",
    "GraphEditor",
    "all_value_names",
    "count_ops",
    "first_line",
    "get_attribute",
    "index_nodes",
    "model_opset",
    "node_reads",
    "rename_values",
    "set_attribute",
    "set_io_names",
    "subgraph_reads",
    "subgraphs",
]


class ExportError(InputError):
    """A model cannot be exported to ONNX as asked (one-line message; a `ValueError`).

    Raised as such by the converter and the graph passes; on a model padrewrite
    rewrote itself that is its own failure, not the input's (`rewrite_file`
    reports it as a bug). `ExportRefused` is the part that is the user's to
    change: the options or a model property the export does not take.
    """


class ExportRefused(ExportError):
    """The options, or a property of the model the user chose, cannot be exported."""


class GraphEditor:
    """Lookups and small additions on the main graph of one ONNX model.

    `nodes` is the node list as it was when the editor was made; passes edit
    nodes in place and hand the final list to `replace_nodes`.
    `producer_index` maps a value to the index of the node that outputs it,
    `consumer_indices` to the indices of the nodes that read it (through
    their subgraphs too).
    """

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.graph = model.graph
        self.nodes = list(self.graph.node)
        self.producer_index, self.consumer_indices = index_nodes(self.nodes)
        self.initializers = {tensor.name: tensor for tensor in self.graph.initializer}
        self.names = all_value_names(self.graph) | {node.name for node in self.nodes}
        self._constants = {}
        self._shapes = self._types = None

    # -- lookups ------------------------------------------------------------

    def producer(self, name):
        """The node that outputs `name`, `None` for inputs and initializers."""
        index = self.producer_index.get(name)
        return None if index is None else self.nodes[index]

    def consumers(self, name):
        """The nodes that read `name` (a node reading it twice is listed twice)."""
        return [self.nodes[index] for index in self.consumer_indices.get(name, ())]

    def is_graph_output(self, name):
        return any(value.name == name for value in self.graph.output)

    def is_constant(self, name):
        """True for an absent optional input, an initializer or a `Constant` output."""
        return not name or self.constant_value(name) is not None

    def constant_value(self, name):
        """numpy value of an initializer or `Constant` output, else `None`."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer(name)
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
        """The axes of an `Unsqueeze`/`Squeeze` (input or attribute), `None` if unknown."""
        if len(node.input) > 1:
            value = self.constant_value(node.input[1])
            return None if value is None else [int(v) for v in value.reshape(-1)]
        axes = get_attribute(node, "axes", None)
        return None if axes is None else list(axes)

    def shape(self, name):
        """Static shape of `name` from shape inference (`None` per unknown dim), or `None`."""
        return self._inferred()[0].get(name)

    def elem_type(self, name):
        """The `TensorProto` element type of `name` from shape inference, `None` if unknown."""
        if name in self.initializers:
            return self.initializers[name].data_type
        return self._inferred()[1].get(name)

    def _inferred(self):
        """`(shapes, element types)` by value name, from ONNX shape inference (once)."""
        if self._shapes is None:
            self._shapes, self._types = {}, {}
            try:
                inferred = onnx.shape_inference.infer_shapes(self.model)
            except Exception:  # inference is a hint only: nothing known then
                return self._shapes, self._types
            graph = inferred.graph
            for value in [*graph.input, *graph.value_info, *graph.output]:
                tensor = value.type.tensor_type
                if tensor.elem_type:
                    self._types[value.name] = tensor.elem_type
                if tensor.HasField("shape"):
                    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
                    self._shapes[value.name] = dims
        return self._shapes, self._types

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
        node = self.producer(name)
        if node is None or depth > 32:
            return self._unknown(name)
        inputs = [self._known_array(i, depth + 1) for i in node.input[:1]]
        source = inputs[0] if inputs else None
        if node.op_type in ("Cast", "Identity") and source is not None:
            return source
        if node.op_type == "Concat":
            parts = [self._known_array(i, depth + 1) for i in node.input]
            if all(part is not None for part in parts):
                return np.concatenate(parts, axis=get_attribute(node, "axis", 0))
        elif node.op_type == "Transpose" and source is not None:
            return np.transpose(source, get_attribute(node, "perm", None))
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
                    source.shape[i] if s == 0 and not get_attribute(node, "allowzero", 0) else int(s)
                    for i, s in enumerate(shape.reshape(-1))
                ]
                return source.reshape(shape)
        return self._unknown(name)

    def _unknown(self, name):
        shape = self.shape(name)
        if shape is None or any(d is None for d in shape):
            return None
        return np.full(shape, None, dtype=object)

    # -- additions ----------------------------------------------------------

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

    # -- committing ---------------------------------------------------------

    def forget_value_info(self, names):
        """Drop the shape information of `names` (values whose producer changed)."""
        names = set(names)
        kept = [value for value in self.graph.value_info if value.name not in names]
        del self.graph.value_info[:]
        self.graph.value_info.extend(kept)

    def replace_nodes(self, nodes):
        """Make `nodes` the graph's nodes and drop initializers no longer read."""
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        used = set(_used_names(self.graph))
        kept = [t for t in self.graph.initializer if t.name in used]
        if len(kept) != len(self.graph.initializer):
            del self.graph.initializer[:]
            self.graph.initializer.extend(kept)
            self.initializers = {t.name: t for t in kept}
            self._constants = {k: v for k, v in self._constants.items() if v in self.initializers}


# --------------------------------------------------------------------------
# Nodes, subgraphs, attributes


def index_nodes(nodes):
    """`(producer_index, consumer_indices)` of a node list (see `GraphEditor`)."""
    producer_index = {}
    consumer_indices = collections.defaultdict(list)
    for index, node in enumerate(nodes):
        for name in node.output:
            if name:
                producer_index[name] = index
        for name in node_reads(node):
            if name:
                consumer_indices[name].append(index)
    return producer_index, consumer_indices


def subgraphs(node):
    """The graphs held by `node`'s attributes (If branches, Loop bodies)."""
    for attribute in node.attribute:
        if attribute.HasField("g"):
            yield attribute.g
        yield from attribute.graphs


def subgraph_reads(graph):
    """Every name the nodes of `graph` (and deeper subgraphs) read."""
    for node in graph.node:
        yield from node_reads(node)


def node_reads(node):
    """The inputs of `node`, then every name its subgraphs read."""
    yield from node.input
    for subgraph in subgraphs(node):
        yield from subgraph_reads(subgraph)


def _used_names(graph):
    """Names read by the nodes (and subgraphs) and the outputs of `graph`."""
    yield from subgraph_reads(graph)
    for value in graph.output:
        yield value.name


def get_attribute(node, name, default):
    """The value of attribute `name` of `node`, `default` if it has none."""
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def set_attribute(node, name, value):
    """Set (or replace) attribute `name` of `node`."""
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute(name, value)])


# --------------------------------------------------------------------------
# Models


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


def all_value_names(graph):
    """Every value name of `graph` (main graph only): inputs, outputs, initializers, edges."""
    names = {value.name for value in [*graph.input, *graph.output, *graph.value_info]}
    names |= {tensor.name for tensor in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def rename_values(graph, mapping):
    """Rename values of `graph` and its subgraphs, in place."""
    if not mapping:
        return
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)
        for subgraph in subgraphs(node):
            rename_values(subgraph, mapping)
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = mapping.get(value.name, value.name)
    for tensor in graph.initializer:
        tensor.name = mapping.get(tensor.name, tensor.name)


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
    used = all_value_names(graph)
    for value, name in zip(graph.input, inputs):
        if value.name != name:
            _make_room(graph, name, used)
            rename_values(graph, {value.name: name})
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
            rename_values(graph, {old: name})
    graph.node.extend(identities)


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
        rename_values(graph, {name: f"{name}_{counter}"})
        used.add(f"{name}_{counter}")
    used.add(name)


def first_line(error):
    """The first line of an exception's message (its class name if empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
