"""Loading tf.keras 2 `.h5` files whose layer configs Keras 3 refuses.

tf.keras 2 stored keys that Keras 3 no longer accepts: `groups` on
DepthwiseConv1D/2D and Conv*Transpose (always 1 there), and on
SeparableConv1D/2D also `groups` and the unused `kernel_initializer`,
`kernel_regularizer` and `kernel_constraint` (its kernels have their own
`depthwise_*`/`pointwise_*` settings). Keras 3 raises "Unrecognized keyword
arguments passed to DepthwiseConv2D: {'groups': 1}". `translate_config`
removes exactly those keys (only with the values that make them no-ops);
`load_translated` loads a copy of the file with the translated config. The
user's file is never modified.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile

#: Keys Keras 3 refuses, per class, and the values that make them no-ops (None: any).
LEGACY_KEYS = {
    "DepthwiseConv1D": {"groups": (1,)},
    "DepthwiseConv2D": {"groups": (1,)},
    "Conv1DTranspose": {"groups": (1,)},
    "Conv2DTranspose": {"groups": (1,)},
    "Conv3DTranspose": {"groups": (1,)},
    "SeparableConv1D": {
        "groups": (1,),
        "kernel_initializer": None,
        "kernel_regularizer": None,
        "kernel_constraint": None,
    },
    "SeparableConv2D": {
        "groups": (1,),
        "kernel_initializer": None,
        "kernel_regularizer": None,
        "kernel_constraint": None,
    },
}


def translate_config(model_config: dict) -> tuple[dict, list[str]]:
    """`(translated copy, changes)`: legacy keys removed from every layer config, at any depth.

    `changes` has one entry per layer changed: "'name' (Class): dropped k1, k2".
    """
    translated = copy.deepcopy(model_config)
    changes: list[str] = []
    _walk(translated, changes)
    return translated, changes


def _walk(node, changes):
    if isinstance(node, dict):
        keys = LEGACY_KEYS.get(node.get("class_name"))
        config = node.get("config")
        if keys and isinstance(config, dict):
            dropped = [
                key for key, allowed in keys.items()
                if key in config and (allowed is None or config[key] in allowed)
            ]
            for key in dropped:
                del config[key]
            if dropped:
                changes.append(
                    f"'{config.get('name', '?')}' ({node['class_name']}): "
                    f"dropped {', '.join(dropped)}"
                )
        for value in node.values():
            _walk(value, changes)
    elif isinstance(node, list):
        for value in node:
            _walk(value, changes)


def load_translated(path, *, safe_mode: bool = True):
    """`(model, changes)` from a copy of the `.h5` file at `path` with its config translated.

    Returns `(None, [])` when the file's config needs no translation.
    """
    import h5py
    import keras

    with h5py.File(path, "r") as file:
        raw = file.attrs.get("model_config")
    if raw is None:
        return None, []
    if hasattr(raw, "decode"):
        raw = raw.decode("utf-8")
    translated, changes = translate_config(json.loads(raw))
    if not changes:
        return None, []
    directory = tempfile.mkdtemp(prefix="padrewrite-h5-")
    try:
        copy_path = os.path.join(directory, "translated.h5")
        shutil.copyfile(path, copy_path)
        with h5py.File(copy_path, "r+") as file:
            file.attrs["model_config"] = json.dumps(translated)
        model = keras.saving.load_model(copy_path, compile=False, safe_mode=safe_mode)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return model, changes
