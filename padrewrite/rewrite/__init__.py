"""The rewrite engine: a Keras model in, the same model with explicit padding out.

    from padrewrite.rewrite import rewrite_model
    result = rewrite_model(model, "reflect")    # RewriteResult(model, report)

One idea per module, in the order a rewrite uses them:

- `options.py`    `RewriteOptions`: every choice, normalised and checked once
- `engine.py`     `rewrite_model`: options → walk → weights → report; `Run`, the
                  state the parts share (copies, records, names in use)
- `graph.py`      the walk over Functional and Sequential models, call by call
- `decide.py`     the decision for one layer call, and its report record
- `refusal.py`    `RewriteError` and the message naming every refused layer
- `padding.py`    the padding layers and stand-ins a rewrite puts in
- `held.py`       layers held as attributes (custom layers, wrappers,
                  subclassed models), rewritten in place of the attribute
- `attributes.py` finding held layers by attribute path
- `copying.py`    copies of the other layers, config completion, notes
- `unreached.py`  why a layer that pads 'same'/'causal' is out of reach

The rules themselves (which layers, which pads) are `padrewrite.rules`.
Importing this package loads none of its modules (the rules import
`unreached.py` from here): the names below load the engine on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "rewrite_model": "padrewrite.rewrite.engine",
    "rewrite_with_options": "padrewrite.rewrite.engine",
    "RewriteResult": "padrewrite.rewrite.engine",
    "RewriteOptions": "padrewrite.rewrite.options",
    "RewriteError": "padrewrite.rewrite.refusal",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'padrewrite.rewrite' has no attribute {name!r}")
