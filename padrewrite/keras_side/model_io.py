"""The inputs and outputs of a Keras model, flattened and named (shared by export and checks)."""

from __future__ import annotations

import collections
import dataclasses

from padrewrite.errors import InputError

__all__ = ["ModelIO", "describe_io"]


@dataclasses.dataclass(frozen=True)
class ModelIO:
    """Inputs and outputs of a Keras model, flattened, with their ONNX names.

    Inputs are named after their InputLayer, outputs after the layer that
    produced them (suffixed `_1`, `_2` when repeated). `input_shapes` keep
    `None` for dynamic sizes; the batch axis is always `None`. Flat order is
    `keras.tree.flatten` order of `model.input` and `model.output` (dict
    entries sorted by key).
    """

    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int | None, ...], ...]
    input_dtypes: tuple[str, ...]
    output_names: tuple[str, ...]
    input_structure: object
    output_shapes: tuple[tuple[int | None, ...], ...] = ()
    output_dtypes: tuple[str, ...] = ()

    def pack_inputs(self, flat):
        """The structure the Keras model is called with, from flat inputs."""
        import keras

        return keras.tree.pack_sequence_as(self.input_structure, list(flat))


def describe_io(model) -> ModelIO:
    """The `ModelIO` of a built Functional or Sequential Keras model (or a subclass)."""
    import keras

    inputs, outputs = _io_structures(model)
    flat_inputs = keras.tree.flatten(inputs)
    flat_outputs = keras.tree.flatten(outputs)
    return ModelIO(
        input_names=_unique([_layer_name(t) for t in flat_inputs]),
        input_shapes=tuple((None, *tuple(t.shape)[1:]) for t in flat_inputs),
        input_dtypes=tuple(str(t.dtype) for t in flat_inputs),
        output_names=_unique([_layer_name(t) for t in flat_outputs]),
        input_structure=inputs,
        output_shapes=tuple(tuple(t.shape) for t in flat_outputs),
        output_dtypes=tuple(str(t.dtype) for t in flat_outputs),
    )


def _io_structures(model):
    import keras

    if not isinstance(model, keras.Model):
        raise InputError(f"`model` must be a Keras model. Received: model={type(model).__name__}")
    try:
        if isinstance(model, keras.Sequential):
            return model.inputs[0], model.outputs[0]
        return model.input, model.output
    except (AttributeError, IndexError, TypeError, ValueError):
        raise InputError(
            "`model` must be a built Functional or Sequential model with known "
            "inputs (subclassed models have no symbolic inputs and outputs). "
            f"Received: model={type(model).__name__} named {model.name!r}"
        ) from None


def _layer_name(tensor):
    from padrewrite.keras_side import keras_internals

    layer = keras_internals.producing_layer(tensor)
    return layer.name if layer is not None else tensor.name


def _unique(names):
    seen = collections.Counter()
    result = []
    for name in names:
        result.append(name if not seen[name] else f"{name}_{seen[name]}")
        seen[name] += 1
    return tuple(result)
