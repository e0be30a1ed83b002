"""Python lambdas of saved Lambda layers, loaded with the names tf.keras 2 gave them.

Keras 3 rebuilds the Python lambda of a saved `Lambda` layer with the
globals of its own `python_utils` module, where `tf` and
`np` are undefined: a `Lambda(lambda x: tf.pad(x, ..., "REFLECT"))` saved by
tf.keras 2 or by Keras 3 does not load ("could not automatically infer the
shape of the Lambda's output"). tf.keras 2 loaded the same lambda with `tf`
and `np` defined (its `lambda_layer` module imported them).
`lambda_globals_scope` does the same for a load outside safe mode (the lambda
is code from the file, run only when the user said they trust it): within
it, a loaded lambda sees `LAMBDA_GLOBAL_NAMES`. The layers are plain Keras
`Lambda` layers.
"""

from __future__ import annotations

import contextlib
import types

__all__ = ["LAMBDA_GLOBAL_NAMES", "lambda_globals_scope"]

#: The names a loaded lambda may use beyond Python's builtins.
LAMBDA_GLOBAL_NAMES = ("tf", "np", "keras")


def _with_globals(function, names: dict):
    """`function` again, its globals those Keras gave it plus `names`, if Keras loaded it."""
    from padrewrite.keras_side import keras_internals as internals

    if not isinstance(function, types.FunctionType):
        return function
    if function.__globals__.get("__name__") != internals.function_loader_module():
        return function
    return types.FunctionType(
        function.__code__,
        {**function.__globals__, **names},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )


@contextlib.contextmanager
def lambda_globals_scope():
    """Within it, `Lambda.from_config` gives saved lambdas `LAMBDA_GLOBAL_NAMES`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from padrewrite.keras_side import keras_internals as internals

    names = {"tf": tf, "np": np, "keras": keras}
    lambda_class = keras.layers.Lambda
    original = lambda_class.__dict__["from_config"]

    def from_config(cls, config, custom_objects=None, safe_mode=None):
        layer = original.__func__(cls, config, custom_objects=custom_objects, safe_mode=safe_mode)
        internals.map_lambda_functions(layer, lambda function: _with_globals(function, names))
        return layer

    lambda_class.from_config = classmethod(from_config)
    try:
        yield
    finally:
        lambda_class.from_config = original
