"""Where an ONNX export first departs from its Keras model: layer by layer.

`locate_divergence` runs the Keras model with every layer call's output
exposed, and a temporary copy of the ONNX file in which one tensor per Keras
layer is marked as an extra graph output (only those tensors, so that fusions
elsewhere in the graph stay as they are). It compares each pair on the parity
check's inputs and reports the first layer, in topological order, whose error
exceeds the tolerance, with the error of the layer compared just before it.

Which ONNX tensor stands for a layer: tf2onnx names each node after the
TensorFlow op it came from, whose name carries the Keras layer's name scope
(`model_1/enc1_conv_1/BiasAdd`). A layer's tensor is the first output of the
last node (in the graph's topological order) whose name has the layer's scope
right under the model's. A node under the model's scope but no layer's is a
keras.ops operation of the Functional itself and no layer's (tf2onnx merges
equal constants, so the constants it reads may carry a layer's scope). A model
output with no such node is the ONNX graph output of its name (a scalar
`3.0 - ops.max(y)`). Other layers with no such node (folded into another op by
tf2onnx, such as a BatchNormalization merged into the convolution before it)
are not compared. A tensor is compared when its dtype is of the Keras
output's family (bool, integer, floating: a comparison's bool tensor is not a
float layer's output) and its shape equals the Keras output's, or equals it
with the channels moved to axis 1 (tf2onnx computes convolutions in NCHW and
removes the transposes between them): then it is transposed back first.

tf2onnx folds some layers into the node of the layer before them (a
BatchNormalization into the convolution: the Conv node then computes the
normalization's output). A layer's tensor is therefore compared with its own
output and with those of the layers after it, in a chain, that have no node of
their own; the best agreement counts (`compared_with` says which). A Conv node
without a bias is named `Conv__107` by tf2onnx: it is found by its kernel's
name instead, which keeps the layer's scope.

When channels equal a spatial size the two layouts have the same shape: both
readings are compared and the better one counts.

Nested models count as one layer (the last node under their scope).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile

import numpy as np

# `render_divergence` is `padrewrite.output.render.divergence_lines`: a report's text lines.
from padrewrite.output.render import divergence_lines as render_divergence
from padrewrite.verify.compare import Comparison

__all__ = ["DivergenceReport", "LayerDivergence", "locate_divergence", "render_divergence"]

#: `LayerDivergence.status` values.
PASSED, DIVERGED, NOT_COMPARED = "passed", "diverged", "not-compared"


@dataclasses.dataclass(frozen=True)
class LayerDivergence:
    """One Keras layer call against its ONNX tensor over every sample.

    `onnx_tensor` is the ONNX tensor compared (None when the layer has no
    node of its own in the ONNX graph); `layout` is "same" or "channels-first"
    (the ONNX tensor was transposed back to channels-last to compare);
    `status` is "passed", "diverged" or "not-compared" (`reason` says why).
    `compared_with` names the later layer whose output the tensor was compared
    with when tf2onnx folded that layer into this one's node (None: its own).
    """

    layer: str
    class_name: str
    onnx_tensor: str | None
    status: str
    max_abs: float | None = None
    max_rel: float | None = None
    layout: str | None = None
    reason: str | None = None
    compared_with: str | None = None


@dataclasses.dataclass(frozen=True)
class DivergenceReport:
    """Result of `locate_divergence`: `first` is the first diverging layer (or None)
    and `previous` the layer compared just before it (None if it was the first)."""

    atol: float
    rtol: float
    samples: int
    layers: tuple[LayerDivergence, ...]
    first: LayerDivergence | None
    previous: LayerDivergence | None

    @property
    def compared(self) -> int:
        return sum(layer.status != NOT_COMPARED for layer in self.layers)

    def to_dict(self) -> dict:
        def record(layer):
            return None if layer is None else dataclasses.asdict(layer)

        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "samples": self.samples,
            "compared": self.compared,
            "first_divergence": record(self.first),
            "previous": record(self.previous),
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
        }


def locate_divergence(keras_model, onnx_path, *, atol, rtol, batches, io,
                      runtime: str = "onnxruntime") -> DivergenceReport:
    """Compare `keras_model`'s layer outputs with the ONNX file's tensors.

    Args:
        keras_model: the Functional or Sequential model the ONNX file was exported from.
        onnx_path: the ONNX file; it is not modified (a temporary copy is run).
        atol, rtol: the parity check's tolerances.
        batches, io: flat input batches and the model's `ModelIO`
            (`padrewrite.verify.parity.make_inputs`).
        runtime: the engine running the ONNX copy (`padrewrite.verify.engines`).
    """
    import keras
    import onnx

    from padrewrite.keras_side import keras_internals
    from padrewrite.verify.engines import open_engine

    graph = keras_model
    if isinstance(keras_model, keras.Sequential):
        graph = keras_internals.sequential_graph(keras_model)
    calls = keras_internals.graph_calls(graph)
    probe = keras.Model(graph.input, [outputs[0] for _, _, outputs in calls])

    model = onnx.load(str(onnx_path))
    tensor_of, own = _layer_tensors(model, graph, io, calls)
    existing = {output.name for output in model.graph.output}
    extra = sorted({t for t in tensor_of.values() if t not in existing})
    for name in extra:
        model.graph.output.append(onnx.ValueInfoProto(name=name))
    with tempfile.TemporaryDirectory() as directory:
        probe_path = os.path.join(directory, "probe.onnx")
        onnx.save(model, probe_path)
        session = open_engine(probe_path, runtime)
    fetch = sorted(set(tensor_of.values()))
    shared = {id(layer) for layer, _, _ in calls if sum(o is layer for o, _, _ in calls) > 1}
    candidates = _references(calls, tensor_of, shared, own)
    stats = {}
    for batch in batches:
        reference = probe(io.pack_inputs(batch), training=False)
        reference = [
            np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(reference)
        ]
        got = dict(zip(fetch, session.run(fetch, dict(zip(io.input_names, batch)))))
        for index, choices in candidates.items():
            tensor = got[tensor_of[calls[index][0].name]]
            for choice in choices:
                stats.setdefault((index, choice), _LayerStats(atol, rtol)).add(
                    reference[choice], tensor
                )
    records = [
        _layer_record(index, calls, shared, tensor_of, stats, candidates)
        for index in range(len(calls))
    ]
    first = previous = None
    for record in records:
        if record.status == DIVERGED:
            first = record
            break
        if record.status == PASSED:
            previous = record
    return DivergenceReport(
        atol=atol, rtol=rtol, samples=len(batches), layers=tuple(records), first=first,
        previous=previous if first is not None else None,
    )


def _layer_tensors(model, graph, io, calls) -> tuple[dict, set]:
    """`({layer name: ONNX tensor}, names of layers with a node of their own)`.

    One tensor per layer: the first output of its last node. A model output with
    no node of its own is that ONNX graph output (the same name: the parity check
    compared them): the keras.ops operations of a Functional (`3.0 - ops.max(y)`)
    have no scope. A layer folded into the node before it (a BatchNormalization)
    still counts as folded there (`_references`).
    """
    owners = _layer_of_nodes(model, {layer.name for layer, _, _ in calls})
    tensor_of, position = {}, {}
    for index, node in enumerate(model.graph.node):
        layer = owners.get(node.name)
        if layer is not None and node.output:
            tensor_of[layer], position[layer] = node.output[0], index
    _drop_misplaced(calls, tensor_of, position)
    own = set(tensor_of)
    for layer, (tensor, index) in _graph_outputs(graph, io, calls, model).items():
        if layer not in tensor_of:
            tensor_of[layer], position[layer] = tensor, index
    return tensor_of, own


def _layer_record(index, calls, shared, tensor_of, stats, candidates) -> LayerDivergence:
    """The record of layer call `index`: its best reading, or why it is not compared."""
    layer = calls[index][0]
    label = layer.name
    if id(layer) in shared:
        label += f" (call {sum(other is layer for other, _, _ in calls[:index])})"
        return LayerDivergence(
            label, type(layer).__name__, None, NOT_COMPARED,
            reason="a shared layer (its calls are not told apart in the ONNX graph)",
        )
    tensor = tensor_of.get(layer.name)
    if tensor is None:
        return LayerDivergence(
            label, type(layer).__name__, None, NOT_COMPARED,
            reason="no ONNX node of its own (folded into another op)",
        )
    results = [
        stats[(index, choice)].result(label, type(layer).__name__, tensor)
        for choice in candidates[index]
    ]
    best = min(range(len(results)), key=lambda i: _rank(results[i]))
    record = results[best]
    if best:
        record = dataclasses.replace(record, compared_with=calls[candidates[index][best]][0].name)
    return record


def _layer_of_nodes(model, layer_names: set[str]) -> dict[str, str]:
    """`{node name: Keras layer name}` for the nodes named under a layer's scope.

    A node named by tf2onnx alone, without any scope (a Conv without bias is
    `Conv__107`), is the layer's whose weight it reads: its kernel keeps the
    layer's scope. A node named under the model's scope but no layer's
    (`model_1/Greater`: a keras.ops operation of the Functional itself) is no
    layer's, whatever constants it reads: tf2onnx merges equal constants into
    one, named after one of their users (the threshold of `x > 2.0` becomes
    `model_1/rescaling_1/Cast/x`, a `Rescaling(2.0)`'s scale).
    """
    initializers = {init.name for init in model.graph.initializer}
    owners = {}
    for node in model.graph.node:
        names = [node.name]
        if "/" not in node.name:
            names += [i for i in node.input if i in initializers]
        for name in names:
            parts = name.split("/")
            layer = _scope_layer(parts[1], layer_names) if len(parts) >= 3 else None
            if layer is not None:
                owners[node.name] = layer
                break
    return owners


def _graph_outputs(graph, io, calls, model) -> dict[str, tuple[str, int]]:
    """`{layer name: (ONNX graph output, index of the node computing it)}` for the
    layers (called once) whose first output is a model output."""
    import keras

    outputs = keras.tree.flatten(graph.output)
    if len(outputs) != len(io.output_names):
        return {}
    producer = {name: index for index, node in enumerate(model.graph.node)
                for name in node.output}
    onnx_outputs = {output.name for output in model.graph.output}
    result = {}
    for (layer, _, layer_outputs) in calls:
        if sum(other is layer for other, _, _ in calls) > 1 or layer.name in result:
            continue
        for tensor, name in zip(outputs, io.output_names):
            if layer_outputs and tensor is layer_outputs[0] and name in onnx_outputs and (
                    name in producer):
                result[layer.name] = (name, producer[name])
                break
    return result


_CALL_SUFFIX = re.compile(r"_\d+$")


def _scope_layer(scope: str, layer_names: set[str]) -> str | None:
    """The layer a TensorFlow name scope stands for: `conv_1` is layer `conv`'s
    (tf.function adds `_1`), or layer `conv_1`'s if there is no layer `conv`."""
    stripped = _CALL_SUFFIX.sub("", scope)
    if stripped != scope and stripped in layer_names:
        return stripped
    return scope if scope in layer_names else None


def _references(calls, tensor_of, shared, own) -> dict[int, list[int]]:
    """`{call index: [call indexes]}`: the Keras outputs a layer's ONNX tensor may
    stand for: its own, then those of the layers after it in a chain that have no
    node of their own (not in `own`; tf2onnx folds a BatchNormalization into the
    convolution before it; the convolution's node then computes the
    normalization's output)."""
    by_tensor = {}
    for index, (_, _, outputs) in enumerate(calls):
        for tensor in outputs:
            by_tensor[id(tensor)] = index
    readers: dict[int, list[int]] = {}
    for index, (_, inputs, _) in enumerate(calls):
        for tensor in inputs:
            source = by_tensor.get(id(tensor))
            if source is not None:
                readers.setdefault(source, []).append(index)
    result = {}
    for index, (layer, _, _) in enumerate(calls):
        if id(layer) in shared or layer.name not in tensor_of:
            continue
        chain = [index]
        while len(readers.get(chain[-1], ())) == 1:
            after = readers[chain[-1]][0]
            if calls[after][0].name in own or id(calls[after][0]) in shared:
                break
            chain.append(after)
        result[index] = chain
    return result


def _drop_misplaced(calls, tensor_of, position):
    """Forget a layer's tensor computed before a tensor of a layer it reads: the node
    only carries the name (passes reorder and rename nodes, such as a layout
    Transpose of the input named after the first layer using it)."""
    made_by = {}
    for index, (layer, _, outputs) in enumerate(calls):
        for tensor in outputs:
            made_by[id(tensor)] = layer.name
    for layer, inputs, _ in calls:
        if layer.name not in position:
            continue
        sources = [made_by.get(id(tensor)) for tensor in inputs]
        if any(position.get(source, -1) > position[layer.name] for source in sources):
            del tensor_of[layer.name], position[layer.name]


def _rank(record):
    """Order of preference among a tensor's readings: passed, then smallest error."""
    if record.status == NOT_COMPARED:
        return (2, math.inf)
    return (0 if record.status == PASSED else 1, record.max_abs)


class _LayerStats:
    """Errors of one ONNX tensor against one Keras output, in each layout that fits."""

    def __init__(self, atol, rtol):
        self.atol, self.rtol = atol, rtol
        self.layouts: dict[str, _Errors] = {}
        self.reason = None

    def add(self, expected, got):
        got = np.asarray(got)
        if _kind(got.dtype) != _kind(expected.dtype):
            # Not the layer's output (a comparison's bool for a float layer).
            self.reason = (f"ONNX dtype {got.dtype} cannot be the layer's {expected.dtype} "
                           "output")
            return
        readings = {}
        if got.shape == expected.shape:
            readings["same"] = got
        if got.ndim >= 3 and got.ndim == expected.ndim and got.shape == (
                expected.shape[0], expected.shape[-1], *expected.shape[1:-1]):
            readings["channels-first"] = np.moveaxis(got, 1, -1)
        if not readings:
            self.reason = f"ONNX shape {got.shape} does not match Keras shape {expected.shape}"
        for layout, value in readings.items():
            self.layouts.setdefault(layout, _Errors(self.atol, self.rtol)).add(expected, value)

    def result(self, label, class_name, tensor):
        # Every sample has the same shapes: a layout fits all of them or none.
        fits = list(self.layouts.items())
        if self.reason or not fits:
            return LayerDivergence(label, class_name, tensor, NOT_COMPARED,
                                   reason=self.reason or "no sample compared")
        layout, errors = min(fits, key=lambda item: (not item[1].passed, item[1].max_abs))
        return LayerDivergence(
            label, class_name, tensor, PASSED if errors.passed else DIVERGED,
            max_abs=errors.max_abs, max_rel=errors.max_rel, layout=layout,
        )


def _kind(dtype) -> str:
    """The family of a dtype: bool, integer or floating (any width)."""
    kind = np.dtype(dtype).kind
    return "integer" if kind in "iu" else "floating" if kind in "fc" else kind


class _Errors(Comparison):
    """A tensor's errors over the samples (`padrewrite.verify.compare`, as the parity check)."""

    @property
    def passed(self):
        return self.result().passed

    @property
    def max_abs(self):
        return self.result().max_abs

    @property
    def max_rel(self):
        return self.result().max_rel
