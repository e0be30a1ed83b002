"""Every private Keras API padrewrite relies on, in one place.

Keras 3 offers no public way to walk a Functional graph node by node, to
re-run it with a call hook or to rebuild a layer in memory outside safe mode.
These accessors reach the private names; each fails loudly, naming the
missing attribute and the Keras version, instead of falling back silently.
`tests/test_keras_internals.py` smoke-tests every one of them.
"""

from __future__ import annotations

import keras

__all__ = [
    "KerasInternalsError",
    "backend_nn",
    "base_layer_config",
    "constructor_arguments",
    "flatten_layers",
    "function_loader_module",
    "graph_calls",
    "inbound_nodes",
    "is_functional",
    "map_lambda_functions",
    "model_from_config_json",
    "nodes_by_depth",
    "producing_layer",
    "replace_sublayer",
    "run_through_graph",
    "sequential_graph",
    "unsafe_deserialization",
]


class KerasInternalsError(RuntimeError):
    """A private Keras API padrewrite uses is missing or changed in this Keras."""


def _attribute(owner, name: str, where: str):
    try:
        return getattr(owner, name)
    except AttributeError:
        raise KerasInternalsError(
            f"Keras {keras.__version__} has no `{where}.{name}`, which padrewrite "
            "relies on; install a Keras version padrewrite supports (see pyproject.toml)."
        ) from None


def _functional_class():
    models = _attribute(keras.src, "models", "keras.src")
    return _attribute(models, "Functional", "keras.src.models")


def is_functional(model) -> bool:
    """True for a Functional model (a `keras.Model(inputs, outputs)` or a subclass of it)."""
    return isinstance(model, _functional_class())


def sequential_graph(model):
    """The Functional graph a built Sequential model runs, or None if it is not built."""
    if not isinstance(model, keras.Sequential):
        raise TypeError(f"Expected a keras.Sequential. Received: {type(model).__name__}")
    if not model.built:
        return None
    graph = _attribute(model, "_functional", "Sequential")
    if graph is not None and not is_functional(graph):
        raise KerasInternalsError(
            f"Keras {keras.__version__}: `Sequential._functional` is a "
            f"{type(graph).__name__}, not a Functional model."
        )
    return graph


def run_through_graph(functional, inputs, call_fn):
    """Run `functional`'s graph on `inputs`, calling `call_fn(layer, *args, **kwargs)` per node."""
    method = _attribute(functional, "_run_through_graph", "Functional")
    return method(inputs, call_fn=call_fn)


def nodes_by_depth(functional) -> dict:
    """`{depth: [Node, ...]}` of a Functional graph (inputs at the largest depth)."""
    return _attribute(functional, "_nodes_by_depth", "Functional")


def graph_calls(functional) -> list:
    """`[(layer, [input tensors], [output tensors])]`: every layer call of a
    Functional graph in topological order (inputs first), InputLayers left out."""
    by_depth = nodes_by_depth(functional)
    calls = []
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            operation = _attribute(node, "operation", "Node")
            if isinstance(operation, keras.layers.InputLayer):
                continue
            calls.append((
                operation,
                list(_attribute(node, "input_tensors", "Node")),
                list(_attribute(node, "outputs", "Node")),
            ))
    return calls


def inbound_nodes(layer) -> list:
    """The nodes (calls) of `layer`, in every graph it was called in."""
    return _attribute(layer, "_inbound_nodes", "Layer")


def flatten_layers(layer, include_self: bool = False) -> list:
    """Every layer tracked by `layer`, recursively (its attributes, lists and dicts)."""
    method = _attribute(layer, "_flatten_layers", "Layer")
    return list(method(include_self=include_self))


def replace_sublayer(owner, old, new) -> None:
    """Track `new` in place of `old` among `owner`'s sub-layers (same position).

    Keras tracks the sub-layers an attribute assignment adds, in order; the
    order sets the order of `owner.weights`. Replacing in place keeps it, and
    the old layer is no longer tracked (its variables do not stay in `owner`).
    """
    tracker = _attribute(owner, "_tracker", type(owner).__name__)
    replace = _attribute(tracker, "replace_tracked_value", "Tracker")
    if not tracker.is_in_store("layers", old):
        if new is not old and tracker.is_in_store("layers", new):
            return  # a layer held at two paths: already replaced through the first
        raise KerasInternalsError(
            f"Keras {keras.__version__}: '{old.name}' is not a tracked sub-layer of "
            f"'{owner.name}'."
        )
    replace("layers", old, new)


def producing_layer(tensor):
    """The layer (operation) whose call produced the symbolic Keras `tensor`, or None."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    return history.operation


def unsafe_deserialization():
    """A context in which `from_config` may rebuild Lambda layers.

    Used only for layers already loaded in memory: rebuilding them runs no code
    that was not loaded before.
    """
    serialization_lib = _attribute(keras.src.saving, "serialization_lib", "keras.src.saving")
    scope = _attribute(serialization_lib, "SafeModeScope", "keras.src.saving.serialization_lib")
    return scope(False)


def model_from_config_json(config_json: str, safe_mode: bool = True):
    """A model rebuilt from the `config.json` of a `.keras` archive, weights not read.

    The same step `keras.saving.load_model` takes before it reads the weights
    (shared objects resolved, compilation off).
    """
    saving_lib = _attribute(keras.src.saving, "saving_lib", "keras.src.saving")
    build = _attribute(saving_lib, "_model_from_config", "keras.src.saving.saving_lib")
    return build(config_json, None, False, safe_mode)


def function_loader_module() -> str:
    """The module whose globals Keras gives the Python lambdas it loads from a file."""
    python_utils = _attribute(keras.src.utils, "python_utils", "keras.src.utils")
    _attribute(python_utils, "func_load", "keras.src.utils.python_utils")
    return python_utils.__name__


def map_lambda_functions(layer, change) -> None:
    """Replace each Python function a `Lambda` layer holds by `change(function)`.

    Its `function`, and its output shape when that is a function (kept in
    the private `_output_shape`).
    """
    layer.function = change(layer.function)
    output_shape = _attribute(layer, "_output_shape", "Lambda")
    if callable(output_shape):
        layer._output_shape = change(output_shape)


def backend_nn():
    """The active backend's `nn` module, whose `conv` every Keras convolution calls.

    `keras.ops.conv` looks `conv` up on this module at each call, so replacing
    the attribute for a while changes how convolutions are traced. On the
    TensorFlow backend its `conv` runs grouped convolutions and channels_first
    Conv3D through an XLA-compiled `tf.function`, which tf2onnx cannot convert.
    """
    nn = _attribute(keras.src.backend, "nn", "keras.src.backend")
    _attribute(nn, "conv", "keras.src.backend.nn")
    return nn


def base_layer_config(layer) -> dict:
    """The config `keras.layers.Layer.get_config` gives `layer` itself: name, trainable,
    dtype policy, activity regularizer (and `autocast` when off).

    For a class that does not override `get_config`, Keras' method serializes
    the constructor arguments recorded when the layer was made, and raises
    when one of them was not a plain value (a `DTypePolicy` object, a
    function); this reads the same values from the layer, as that method does
    for the keys it sets itself (keras/src/layers/layer.py).
    """
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"Expected a keras.layers.Layer. Received: {type(layer).__name__}")
    config = {
        "name": layer.name,
        "trainable": layer.trainable,
        "dtype": keras.dtype_policies.serialize(layer.dtype_policy),
    }
    regularizer = _attribute(layer, "activity_regularizer", "Layer")
    if regularizer is not None:
        config["activity_regularizer"] = keras.regularizers.serialize(regularizer)
    if not _attribute(layer, "autocast", "Layer"):
        config["autocast"] = False
    return config


def constructor_arguments(layer) -> dict | None:
    """The arguments `layer`'s constructor was called with, as Keras recorded them.

    When a layer is made, Keras binds the constructor's arguments to its
    signature (defaults filled in, `**kwargs` spread out, `name` left out) and
    keeps them if every value is a plain one (str, int, float, bool, None, in
    lists, tuples and dicts) — for the config of a class that does not
    override `get_config` (keras/src/ops/operation.py, `Operation.__new__`).
    They are kept for every class, so they rebuild a layer whose own
    `get_config` leaves an argument out or adds one its constructor refuses.
    None when Keras kept none (a value was not plain, or positional-only or
    `*args` arguments were used).
    """
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"Expected a keras.layers.Layer. Received: {type(layer).__name__}")
    recorded = _attribute(layer, "_auto_config", type(layer).__name__)
    if recorded is None:
        return None
    return dict(_attribute(recorded, "config", "SerializableDict"))
