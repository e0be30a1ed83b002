"""Layers standing in for convolutions held by other layers (custom layers, wrappers).

`PaddedConv2D` (and the other `Padded*` classes) is the Keras convolution
class itself, with `padding='valid'`, that pads its input first: it keeps the
convolution's variables (same names, shapes and attribute path), so user code
reading `block.conv.kernel` keeps working. `RewrittenLayer` wraps a custom
layer (or a subclassed model) whose convolution attributes were replaced: the
custom layer rebuilds its sub-layers from its own config when loaded, so the
wrapper re-applies the replacements to the freshly deserialized layer before
it is built — or right after, with the build config it records, when the layer
makes those sub-layers in its own `build()` (Keras `Wrapper` conventions: the
inner layer serialized in `get_config`).
"""

from __future__ import annotations

import keras

from padrewrite.arithmetic import (
    as_tuple,
    same_pads,
    same_total_pad,
    spatial_axes,
    split_pad,
)
from padrewrite.keras_side import keras_internals as internals
from padrewrite.layers import pad_tensor
from padrewrite.modes import (
    axis_modes,
    check_constant_value,
    exceeded_limit,
    limit_phrase,
    normalize_layer_mode,
)

L = keras.layers
_register = keras.saving.register_keras_serializable(package="padrewrite")

__all__ = [
    "PADDED_CLASSES", "RewrittenLayer", "build_inner", "padded_convolution", "swap_attribute",
]


class _PaddedMixin:
    """Pads the input (`explicit_padding`, `padding_mode`), then runs the 'valid' convolution.

    `explicit_padding` has one `(before, after)` per spatial axis, or `None`
    where TensorFlow's 'same' amounts are computed from the run-time shape
    (stride > 1 on an axis of unknown size).
    """

    def __init__(self, *args, explicit_padding=None, padding_mode="constant",
                 padding_value=0.0, **kwargs):
        kwargs["padding"] = "valid"
        super().__init__(*args, **kwargs)
        rank = self.rank
        if explicit_padding is None or len(explicit_padding) != rank:
            raise ValueError(
                f"`explicit_padding` must have one (before, after) pair or None per "
                f"spatial axis ({rank}). Received: explicit_padding={explicit_padding!r}"
            )
        self.explicit_padding = tuple(
            None if pair is None else (int(pair[0]), int(pair[1])) for pair in explicit_padding
        )
        self.padding_mode = normalize_layer_mode(padding_mode, rank)
        self.padding_value = check_constant_value(self.padding_mode, padding_value)

    def _axes(self):
        return spatial_axes(self.rank, self.data_format)

    def _geometry(self):
        rank = self.rank
        return zip(
            self._axes(),
            self.explicit_padding,
            as_tuple(self.kernel_size, rank),
            as_tuple(self.strides, rank),
            as_tuple(self.dilation_rate, rank),
        )

    def _static_pads(self, shape):
        return tuple(
            pair if pair is not None else same_pads(shape[axis], k, s, d)
            for axis, pair, k, s, d in self._geometry()
        )

    def _padded_shape(self, shape):
        shape = list(shape)
        for axis, pair in zip(self._axes(), self._static_pads(shape)):
            if shape[axis] is not None and pair is not None:
                shape[axis] += sum(pair)
        return tuple(shape)

    def _pads_for(self, inputs):
        shape = tuple(inputs.shape)
        runtime = keras.ops.shape(inputs)
        pads = []
        modes = axis_modes(self.padding_mode, self.rank)
        for (axis, pair, k, s, d), static, mode in zip(
            self._geometry(), self._static_pads(shape), modes
        ):
            if static is not None:
                if shape[axis] is not None and exceeded_limit(mode, shape[axis], static):
                    raise ValueError(
                        f"Layer '{self.name}': {mode} padding must be {limit_phrase(mode)}, "
                        f"but tensor axis {axis} has size {shape[axis]} and pads {static}. "
                        f"Received: input_shape={shape}"
                    )
                pads.append(static)
                continue
            pads.append(split_pad(same_total_pad(runtime[axis], k, s, d, keras.ops.maximum)))
        return pads

    def call(self, inputs):
        padded = pad_tensor(
            inputs, self._axes(), self._pads_for(inputs), self.padding_mode, self.padding_value
        )
        return super().call(padded)

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(self._padded_shape(input_shape))

    def get_config(self):
        return {
            **super().get_config(),
            "explicit_padding": [None if p is None else list(p) for p in self.explicit_padding],
            "padding_mode": self.padding_mode,
            "padding_value": self.padding_value,
        }


def _padded_class(base):
    name = f"Padded{base.__name__}"
    doc = (
        f"`keras.layers.{base.__name__}` with padding='valid' after an explicit pad "
        f"in any mode.\n\n    {_PaddedMixin.__doc__}"
    )
    return _register(type(name, (_PaddedMixin, base), {"__doc__": doc, "__module__": __name__}))


#: The Keras convolution class -> its padded stand-in.
PADDED_CLASSES = {
    base: _padded_class(base)
    for base in (
        L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D,
        L.SeparableConv1D, L.SeparableConv2D,
    )
}
globals().update({cls.__name__: cls for cls in PADDED_CLASSES.values()})
__all__ += [cls.__name__ for cls in PADDED_CLASSES.values()]


def padded_convolution(layer, valid_config, pads, mode, constant_value):
    """The padded stand-in for the convolution `layer` (exactly a Keras class), unbuilt."""
    cls = PADDED_CLASSES[type(layer)]
    return cls.from_config(
        {
            **valid_config,
            "explicit_padding": [None if p is None else list(p) for p in pads],
            "padding_mode": mode,
            "padding_value": constant_value,
        }
    )


# -- attribute paths ------------------------------------------------------------------


def _step(container, key):
    if isinstance(container, (list, tuple)):
        return container[int(key)]
    if isinstance(container, dict):
        return container[key]
    return getattr(container, key)


def _resolve(root, path):
    """The value at the attribute `path` of `root`."""
    value = root
    for key in path:
        value = _step(value, key)
    return value


def has_attribute_path(root, path: tuple[str, ...]) -> bool:
    """Whether every step of `path` resolves from `root`."""
    try:
        _resolve(root, path)
    except (AttributeError, IndexError, KeyError, ValueError):
        return False
    return True


def swap_attribute(root, path: tuple[str, ...], new_layer) -> None:
    """Put `new_layer` at the attribute `path` of the layer `root`.

    `root` is unbuilt, or built when its own `build()` makes the layer
    replaced (the replaced layer's variables then leave `root`). Each step is
    an attribute name, a list index or a dict key. The old layer is replaced
    in place in its owner's tracked sub-layers, so the weight order of `root`
    is unchanged.
    """
    owner, container = root, root
    for key in path[:-1]:
        container = _step(container, key)
        if isinstance(container, L.Layer):
            owner = container
    old = _step(container, path[-1])
    internals.replace_sublayer(owner, old, new_layer)
    key = path[-1]
    if isinstance(container, list):
        list.__setitem__(container, int(key), new_layer)
    elif isinstance(container, dict):
        dict.__setitem__(container, key, new_layer)
    else:
        setattr(container, key, new_layer)


def _path_text(path) -> str:
    return "/".join(path)


@_register
class RewrittenLayer(L.Wrapper):
    """A custom layer whose convolution attributes are padded stand-ins.

    Args:
        layer: the custom layer (or subclassed model), with the stand-ins
            already in place.
        replacements: `{attribute path: stand-in config}`; the path is
            "/"-separated attribute names, list indices and dict keys
            (`blocks/1/conv`). A held Functional or Sequential model that was
            rewritten is recorded whole (`keras.saving.serialize_keras_object`).
        built_with: None when the replacements go in before `layer` is built
            (it makes the layers they replace in its constructor). Else the
            build config (`get_build_config()`) `layer` is built with first:
            it makes those layers in its own `build()`, so they exist only
            once it is built.
        layer_config: None when `layer`'s own `get_config()` rebuilds it.
            Else the config that does (its constructor arguments, completed
            where its own config leaves one out or adds one its constructor
            refuses): `layer.get_config()` then returns it, with the current
            name and trainable flag, so the layer saves and loads again.

    On load, `layer` is rebuilt from its config (with its original
    convolutions), built first when `built_with` says so, and each
    replacement is put back before the stand-ins are built.
    """

    def __init__(self, layer, replacements, built_with=None, layer_config=None, **kwargs):
        super().__init__(layer, **kwargs)
        self.replacements = {str(k): dict(v) for k, v in replacements.items()}
        self.built_with = None if built_with is None else _json_shapes(built_with)
        self.layer_config = None if layer_config is None else dict(layer_config)
        if self.layer_config is not None:
            _pin_config(layer, self.layer_config)

    def build(self, input_shape=None):
        # The inner layer builds on its first call (its own build, or by running call()).
        self.built = True

    def call(self, *args, **kwargs):
        return self.layer(*args, **kwargs)

    def get_config(self):
        config = {**super().get_config(), "replacements": self.replacements}
        if self.built_with is not None:
            config["built_with"] = self.built_with
        if self.layer_config is not None:
            config["layer_config"] = self.layer_config
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        built_with = config.pop("built_with", None)
        # Without its build config the inner layer is rebuilt unbuilt: the
        # replacements go in before its own build() creates any variable, or
        # right after, when `built_with` says they replace layers build() makes.
        inner_config = {k: v for k, v in config.pop("layer").items() if k != "build_config"}
        inner = keras.saving.deserialize_keras_object(inner_config, custom_objects=custom_objects)
        if built_with is not None:
            build_inner(inner, built_with)
        replacements = config.pop("replacements")
        _apply_replacements(inner, replacements, custom_objects)
        return cls(inner, replacements, built_with=built_with, **config)


def build_inner(layer, build_config) -> None:
    """Build `layer` from `build_config` (as `get_build_config()` gives it, or as read
    back from JSON: each shape a list) with every shape a tuple, as Keras gives
    shapes to `build()` when a layer is first called."""
    layer.build_from_config(_tuple_shapes(_json_shapes(build_config)))


def _apply_replacements(inner, replacements, custom_objects=None) -> None:
    """Put the stand-in each of `replacements` describes at its attribute path of `inner`."""
    made = {}  # one stand-in per layer, even when held at several paths
    for path, layer_config in replacements.items():
        steps = tuple(path.split("/"))
        old = _resolve(inner, steps)
        if id(old) not in made:
            made[id(old)] = _stand_in(type(old), layer_config, custom_objects)
        swap_attribute(inner, steps, made[id(old)])


def _pin_config(layer, config) -> None:
    """Make `layer.get_config()` return `config` (with its current name and trainable)."""
    layer.get_config = lambda: {**config, "name": layer.name, "trainable": layer.trainable}


def _is_shape(value) -> bool:
    return isinstance(value, (list, tuple)) and all(
        isinstance(d, int) and not isinstance(d, bool) or d is None for d in value
    )


def _json_shapes(value):
    """`value` (a build config) as JSON holds it: each shape a list."""
    if isinstance(value, dict):
        return {str(k): _json_shapes(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_shapes(v) for v in value]
    return value


def _tuple_shapes(value):
    """`value` with each shape (a list of ints and None) a tuple; other lists stay lists."""
    if isinstance(value, dict):
        return {k: _tuple_shapes(v) for k, v in value.items()}
    if _is_shape(value):
        return tuple(value)
    if isinstance(value, list):
        return [_tuple_shapes(v) for v in value]
    return value


def _stand_in(cls, layer_config, custom_objects):
    """The layer a replacement's config describes: a rewritten graph model (serialized
    whole, with its class) or the padded stand-in of a convolution of class `cls`."""
    if "class_name" in layer_config and "config" in layer_config:
        return keras.saving.deserialize_keras_object(layer_config, custom_objects=custom_objects)
    return PADDED_CLASSES[_keras_base(cls)].from_config(layer_config)


def _keras_base(cls):
    for base in PADDED_CLASSES:
        if cls is base or cls is PADDED_CLASSES[base]:
            return base
    raise ValueError(
        f"A RewrittenLayer replacement must stand at a Keras convolution; found a "
        f"{cls.__name__}. Received: class={cls.__name__}"
    )
