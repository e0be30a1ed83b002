"""padrewrite: turn 'same'/'causal' convolutions into explicit reflect, replicate,
symmetric, circular or constant padding, exactly, and export the result to ONNX.

Importing the package is light: the Keras parts load on first use. Its padding
layers are registered with Keras as soon as Keras is imported, so any model
padrewrite wrote loads with `keras.saving.load_model` after `import padrewrite`.
"""

from __future__ import annotations

import importlib
import sys

import wrapt

__version__ = "0.1.0"

_LAZY = {
    "rewrite_model": "padrewrite.rewrite",
    "export_onnx": "padrewrite.onnx.export",
    "check_parity": "padrewrite.verify.parity",
    "rewrite_file": "padrewrite.pipeline",
}
_LAYER_NAMES = [
    f"{prefix}Padding{rank}D"
    for rank in (1, 2, 3)
    for prefix in ("", "Same", "Constant", "Reflection", "Replication", "Symmetric", "Circular")
]

__all__ = ["__version__", *_LAZY, *_LAYER_NAMES]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _LAYER_NAMES:
        return getattr(importlib.import_module("padrewrite.layers"), name)
    raise AttributeError(f"module 'padrewrite' has no attribute {name!r}")


def _register_layers(_keras_module=None):
    """Import the modules that register padrewrite's layers (run once Keras is imported).

    `padrewrite.layers` imports `padrewrite.padded` at its end and `padded`
    imports `layers` first, so either one brings both. When one of them is
    already in `sys.modules` it is loaded or being loaded (it imported Keras,
    which ran this hook): importing it here again would meet it half
    initialised, and it registers the layers itself when it finishes.
    """
    if "padrewrite.layers" in sys.modules or "padrewrite.padded" in sys.modules:
        return
    importlib.import_module("padrewrite.layers")


if "keras" in sys.modules:
    _register_layers()
else:
    wrapt.register_post_import_hook(_register_layers, "keras")
