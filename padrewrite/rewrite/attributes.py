"""Layers held as attributes of other layers, found by attribute path.

A custom layer (or a Keras wrapper, or a subclassed model) keeps its
sub-layers as attributes, in lists and in dicts, to any depth. `find_convolutions`
walks those attributes and returns each Keras convolution, and each
Functional or Sequential model, with every path that reaches it
(`blocks/1/conv`: attribute `blocks`, index 1, attribute `conv`). Graph
models are not entered: the engine rebuilds them as graphs (`graph.py`),
and `held.py` puts the rewritten layers back in place of the attributes.

A held layer may be called from Python code at other sizes than it was
built with: it is decided at its build shape, with the size of every axis it
strides over unknown (`free_strided_axes`), so that its pads are computed at
run time where they depend on the size.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from padrewrite.arithmetic import as_tuple, spatial_axes
from padrewrite.keras_side import keras_internals as internals
from padrewrite.rewrite.unreached import config_of
from padrewrite.rules.conv import CONVOLUTIONS

__all__ = [
    "Reached", "find_convolutions", "find_held", "free_strided_axes", "held_shape", "is_graph",
    "reached_shape",
]


@dataclass(frozen=True)
class Reached:
    """A convolution or graph model reached through attributes: it and its attribute paths."""

    layer: object
    paths: tuple[tuple[str, ...], ...]

    @property
    def path(self) -> str:
        return "/".join(self.paths[0])


def is_graph(layer) -> bool:
    """Whether `layer` is a Functional or Sequential model (a graph the engine rebuilds)."""
    return isinstance(layer, keras.Sequential) or internals.is_functional(layer)


def _children(value):
    """`(key, child)` pairs of an attribute value worth walking."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(str(i), v) for i, v in enumerate(value)]
    return []


def _attributes(layer):
    return [
        (name, value)
        for name, value in vars(layer).items()
        if not name.startswith("_")
        and isinstance(value, (keras.layers.Layer, list, tuple, dict))
    ]


def find_convolutions(root, skip=frozenset()) -> list[Reached]:
    """Every Keras convolution (exactly a Keras class) and graph model held by `root`'s
    attributes; layers whose id is in `skip` are neither reported nor entered."""
    return find_held(
        root,
        wanted=lambda layer: type(layer) in CONVOLUTIONS or is_graph(layer),
        skip=skip,
    )


def find_held(root, wanted, skip=frozenset()) -> list[Reached]:
    """Every layer held by `root`'s attributes (at any depth) for which `wanted(layer)`.

    A wanted layer is not entered; nor are graph models, nor layers in `skip`.
    """
    found: dict[int, tuple[object, list]] = {}
    entered: set[int] = set(skip)

    def walk(value, path, depth):
        if depth > 64:
            return
        if isinstance(value, keras.layers.Layer):
            if id(value) in skip:
                return
            if wanted(value):
                found.setdefault(id(value), (value, []))[1].append(path)
                return
            if is_graph(value) or id(value) in entered:
                return
            entered.add(id(value))
            for name, child in _attributes(value):
                walk(child, (*path, name), depth + 1)
            return
        for key, child in _children(value):
            walk(child, (*path, key), depth + 1)

    entered.add(id(root))
    for name, child in _attributes(root):
        walk(child, (name,), 1)
    return [Reached(layer, tuple(paths)) for layer, paths in found.values()]


# -- the input shapes held layers are decided at ---------------------------------------------


def reached_shape(conv):
    """The input shape a convolution held by another layer is given to its rule.

    Its build shape where known, with the size of every strided axis unknown
    (see `free_strided_axes`).
    """
    config = conv.get_config()
    rank = len(as_tuple(config["kernel_size"], 1))
    build = (conv.get_build_config() or {}).get("input_shape") if conv.built else None
    shape = tuple(build) if build is not None and len(build) == rank + 2 else (None,) * (rank + 2)
    return free_strided_axes(conv, shape)


def held_shape(layer):
    """The input shape a layer held by another one is probed at: its build shape."""
    build = (layer.get_build_config() or {}).get("input_shape") if layer.built else None
    if build is None or not all(isinstance(d, (int, type(None))) for d in build):
        return None
    return tuple(build)


def free_strided_axes(layer, shape):
    """`shape` with the size of each spatial axis `layer` strides over made unknown.

    For layers called from Python code (held by a custom layer, or inside a
    model so held): they may be called at other sizes than they were built
    with, and with a stride > 1 the 'same' split depends on the size (the pads
    are then computed at run time, exact for every size). With stride 1 the
    pads never depend on the size.
    """
    config = config_of(layer)
    strides = config.get("strides")
    if shape is None or strides is None or len(shape) < 3:
        return shape
    rank = len(shape) - 2
    data_format = config.get("data_format") or "channels_last"
    shape = list(shape)
    for axis, stride in zip(spatial_axes(rank, data_format), as_tuple(strides, rank)):
        if stride != 1:
            shape[axis] = None
    return tuple(shape)
