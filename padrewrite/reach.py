"""Convolutions and graph models held as attributes of other layers, by attribute path.

A custom layer (or a Keras wrapper, or a subclassed model) keeps its
sub-layers as attributes, in lists and in dicts, to any depth. `find_convolutions`
walks those attributes and returns each Keras convolution, and each
Functional or Sequential model, with every path that reaches it
(`blocks/1/conv`: attribute `blocks`, index 1, attribute `conv`). Graph
models are not entered: the engine rebuilds them as graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from padrewrite import keras_internals as internals
from padrewrite.rules.conv import CONVOLUTIONS

__all__ = ["Reached", "find_convolutions", "find_held", "is_graph"]


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
