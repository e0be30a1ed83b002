"""The walk over a Functional or Sequential model: rebuild it call by call.

Every layer call is decided (`decide.py`) and replaced: a rewritten call
becomes its padding layer, then the layer rebuilt with padding='valid'; any
other layer becomes its copy (`copying.py`), or its copy with the layers it
holds rewritten (`held.py`). A layer called several times keeps one shared
copy, and gets one padding layer per call. Nested graph models are rebuilt
recursively, to any depth, their layers' paths prefixed by theirs
(`outer/backbone/conv1`).
"""

from __future__ import annotations

from dataclasses import replace

import keras

from padrewrite.keras_side import keras_internals as internals
from padrewrite.modes import format_mode
from padrewrite.rewrite.attributes import free_strided_axes, is_graph
from padrewrite.rewrite.copying import class_change, copy_layer, refused_copy
from padrewrite.rewrite.decide import decide
from padrewrite.rewrite.padding import padding_layer
from padrewrite.rewrite.refusal import RewriteError, mixed_shared_layer
from padrewrite.rewrite.unreached import RECURRENT_CONVOLUTIONS
from padrewrite.rules import MODEL_OUTPUT, CallSite

__all__ = ["check_graph", "rebuild"]


def check_graph(model, path):
    """Raise a `RewriteError` unless `model` is a graph the walk can rebuild."""
    if isinstance(model, keras.Sequential):
        if internals.sequential_graph(model) is None:
            raise RewriteError(
                f"Sequential model '{path}' is not built, so its layer shapes are "
                "unknown; start it with keras.Input(shape=...) or call it on data "
                "before rewriting."
            )
        return
    if not internals.is_functional(model):
        raise RewriteError(
            f"Model '{path}' ({type(model).__name__}) is a subclassed model: its "
            "call() is Python code, not a layer graph, so padding layers cannot be "
            "inserted safely. Rebuild it as a Functional or Sequential model (same "
            "layers and weights) and rewrite that."
        )


def rebuild(run, model, prefix):
    """A rewritten copy of `model`; `prefix` is the path of its layers (`outer/`).

    A model whose class is a subclass of Functional or Sequential becomes a
    plain one, with a `class-changed` note.
    """
    if id(model) in run.copies:
        return run.copies[id(model)]
    check_graph(model, prefix.rstrip("/") or model.name)
    if isinstance(model, keras.Sequential):
        new_model = _rebuild_sequential(run, model, prefix)
    else:
        new_model = _rebuild_functional(run, model, prefix)
    new_model.trainable = model.trainable
    if model.compiled:
        new_model.compile_from_config(model.get_compile_config())
    run.stand_in(model, new_model)
    if not (type(model) is keras.Sequential or _is_plain_functional(model)):
        run.notes.append(class_change(model, new_model, prefix.rstrip("/") or model.name))
    return new_model


def _rebuild_functional(run, model, prefix):
    consumers = _consumers_by_tensor(model)
    inputs = keras.tree.map_structure(_fresh_input, model.input)

    def call(layer, *args, **kwargs):
        # Python constants among the arguments (`1.0 - x` records the 1.0) pass as they
        # are. A layer's input may be given by keyword (`conv(inputs=x)`).
        first = next(iter(_tensors(args) or _tensors(list(kwargs.values()))), None)
        site_consumers = consumers.get(id(layer), {}).get(run.call_counts.get(id(layer), 0), ())
        return _call(run, layer, prefix, first, site_consumers, args, kwargs)

    outputs = internals.run_through_graph(model, inputs, call)
    return keras.Model(inputs, outputs, name=model.name)


def _rebuild_sequential(run, model, prefix):
    functional = internals.sequential_graph(model)
    consumers = _consumers_by_tensor(functional)
    (input_tensor,) = functional.inputs
    nodes = _nodes_of(functional)
    new_layers = []
    for layer in model.layers:
        (node,) = [n for n in internals.inbound_nodes(layer) if n in nodes]
        shape = tuple(node.input_tensors[0].shape)
        site = CallSite(layer, shape, consumers.get(id(layer), {}).get(0, ()))
        pad, new_layer = replacements(run, site, prefix)
        new_layers.extend(item for item in (pad, new_layer) if item is not None)
    return keras.Sequential([_fresh_input(input_tensor), *new_layers], name=model.name)


def _call(run, layer, prefix, first_input, site_consumers, args, kwargs):
    """One call of `layer` in the new graph: its padding layer first, if any."""
    shape = tuple(first_input.shape) if first_input is not None else None
    site = CallSite(layer, shape, site_consumers, len(_tensors((args, kwargs))))
    pad, new_layer = replacements(run, site, prefix)
    if pad is not None:
        if args:
            padded = pad(args[0])
            args = (padded, *args[1:])
        else:  # the input given by keyword
            (key,) = [k for k, v in kwargs.items() if v is first_input]
            padded = pad(first_input)
            kwargs = {**kwargs, key: padded}
        if new_layer is None:
            return padded
    return new_layer(*args, **kwargs)


def replacements(run, site: CallSite, prefix):
    """`(padding layer or None, layer or None)` standing in for the call `site`.

    `site.input_shape` is the shape the original graph gives the call.
    """
    layer = site.layer
    call_index = run.next_call_index(layer)
    if run.held_depth:
        site = replace(site, input_shape=free_strided_axes(layer, site.input_shape))
    if is_graph(layer):
        return None, run.rebuild(layer, f"{prefix}{layer.name}/")
    if not isinstance(layer, keras.layers.Layer):
        return None, layer  # a keras.ops operation: no weights, no padding
    decision = decide(site, f"{prefix}{layer.name}", call_index, run.options)
    if decision.rewrite is None:
        run.record(decision)
        if decision.refusal is not None and id(layer) in run.copies:
            # The rewrite stops with the refusal once the walk has reported every layer;
            # a throwaway copy as it was keeps the shapes right until then.
            return None, refused_copy(run, layer)
        if id(layer) not in run.copies and not isinstance(layer, RECURRENT_CONVOLUTIONS):
            reached = run.reach(layer, prefix)
            if reached is not None:
                return None, reached
        return None, copy_layer(run, layer)
    rewrite, mode = decision.rewrite, decision.mode
    if rewrite.config is None:
        # The padding layer replaces the layer: one shared copy, as the original.
        pad = _shared_padding_layer(run, layer, decision)
        run.record(decision, pad_layer=pad.name)
        return pad, None
    base = f"{layer.name}_pad" if call_index == 0 else f"{layer.name}_pad_{call_index}"
    pad = padding_layer(layer, rewrite, mode, run.unique(base), run.options.constant_value)
    run.record(decision, pad_layer=pad.name)
    return pad, copy_layer(run, layer, config=rewrite.config, source=rewrite.source)


def _shared_padding_layer(run, layer, decision):
    """The one padding layer replacing `layer` at every call (made at its first)."""
    rewrite, mode = decision.rewrite, decision.mode
    if id(layer) not in run.copies:
        pad = padding_layer(layer, rewrite, mode, layer.name, run.options.constant_value)
        run.stand_in(layer, pad, rewritten=True)
        run.shared_pads[id(layer)] = (rewrite.pads, mode)
    elif id(layer) not in run.rewritten_copies:
        raise mixed_shared_layer(layer)
    elif run.shared_pads[id(layer)] != (rewrite.pads, mode):
        pads, first_mode = run.shared_pads[id(layer)]
        raise RewriteError(
            f"Shared layer '{layer.name}' pads {rewrite.pads} in {format_mode(mode)} on "
            f"one call and {pads} in {format_mode(first_mode)} on another, so one shared "
            "padding layer cannot stand in for it; exclude it or un-share it."
        )
    return run.copies[id(layer)]


def _is_plain_functional(model) -> bool:
    return type(model).__name__ == "Functional" and internals.is_functional(model)


def _tensors(structure) -> list:
    """The symbolic tensors in a call's (nested) arguments, in order.

    Keras records the other arguments as they were given (a float, an int,
    None, a NumPy array, lists and dicts of them) and passes them on unchanged.
    """
    return [x for x in keras.tree.flatten(structure) if isinstance(x, keras.KerasTensor)]


def _fresh_input(tensor):
    """A new Input like `tensor`, named after its InputLayer."""
    layer = internals.producing_layer(tensor)
    name = layer.name if layer is not None else tensor.name
    return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=name)


def _nodes_of(functional):
    nodes = set()
    for depth_nodes in internals.nodes_by_depth(functional).values():
        nodes.update(depth_nodes)
    return nodes


def _consumers_by_tensor(functional):
    """For each layer call (layer id, call number): the layers consuming its outputs."""
    nodes = _nodes_of(functional)
    consuming: dict[int, list] = {}
    for node in nodes:
        if node.operation is None or node.is_input:
            continue
        for tensor in node.input_tensors:
            consuming.setdefault(id(tensor), []).append(node.operation)
    for tensor in functional.outputs:
        consuming.setdefault(id(tensor), []).append(MODEL_OUTPUT)
    result: dict[int, dict[int, tuple]] = {}
    by_depth = internals.nodes_by_depth(functional)
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            calls = result.setdefault(id(node.operation), {})
            found = []
            for tensor in node.outputs:
                found.extend(consuming.get(id(tensor), []))
            calls[len(calls)] = tuple(found)
    return result
