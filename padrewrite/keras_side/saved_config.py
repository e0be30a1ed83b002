"""Repairs to the config of a written `.keras` file that Keras itself cannot load back.

Keras saves each layer's `build_config` (its input shape, as a JSON list) and,
when loading, calls `build()` with that list before the layer is called in the
graph. Some layers only build from a tuple (keras-hub's DeepLabV3
`SpatialPyramidPooling` computes `input_shape[:-1] + (...)`): the model their
own class rebuilds loads, the same graph saved as a plain Functional does not.
A layer that is a node of a Functional graph is built anyway when the graph is
replayed, so its `build_config` can be dropped.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from padrewrite.atomic import atomic_path


def drop_graph_build_configs(path: Path) -> list[str]:
    """Remove `build_config` from every graph-node layer of the `.keras` file at `path`.

    Returns the names of the layers changed (the file is rewritten in place
    only if there are any).
    """
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    config = json.loads(members["config.json"])
    changed: list[str] = []
    _walk(config, changed)
    if not changed:
        return changed
    members["config.json"] = json.dumps(config).encode()
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return changed


def _walk(node, changed):
    if isinstance(node, dict):
        layers = node.get("config", {}).get("layers") if isinstance(node.get("config"), dict) else None
        if isinstance(layers, list):
            for layer in layers:
                if isinstance(layer, dict) and "inbound_nodes" in layer and layer.get(
                    "build_config"
                ):
                    del layer["build_config"]
                    changed.append(layer.get("name") or layer.get("config", {}).get("name", "?"))
        for value in node.values():
            _walk(value, changed)
    elif isinstance(node, list):
        for value in node:
            _walk(value, changed)
