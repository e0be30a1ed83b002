"""Copies of layers: from their config, else from a completed config, else the layer itself.

Every layer of the rewritten model is a fresh copy made from its config, one
per original layer, taking its weights. Where the layer's own config cannot
rebuild it (a third-party `get_config` leaving an argument out, or failing),
the copy is made from a config completed with the arguments read from its
attributes, or (for a holder of layers to rewrite) from the constructor
arguments Keras recorded; a `config-completed` note says so. Failing those,
the very instance is kept (`layer-shared` note, with every cause tried), and
a layer without any config makes the rewritten model refuse to be saved.
The notes on model classes that become plain Functional models are here too.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import keras

from padrewrite.errors import InputError
from padrewrite.keras_side import keras_internals as internals
from padrewrite.keras_side.io import load_error_cause
from padrewrite.output.report import (
    CLASS_CHANGED,
    CONFIG_COMPLETED,
    LAYER_SHARED,
    ModelNote,
)
from padrewrite.rewrite.refusal import RewriteError, mixed_shared_layer
from padrewrite.rewrite.unreached import LayerConfig, config_of

__all__ = [
    "Rebuilt", "class_change", "copy_layer", "rebuild_cause", "rebuild_otherwise",
    "refuse_saving", "refused_copy", "shared_layer_note",
]


@dataclass(frozen=True)
class Rebuilt:
    """A layer its own config cannot rebuild, rebuilt another way, and the note saying how."""

    layer: object
    note: ModelNote


def copy_layer(run, layer, config=None, source=None):
    """A fresh copy of `layer` (from `config` if given, a rewritten one), one per layer.

    With `source`, the copy is of `source`'s class and takes its weights
    (the convolution inside an adopted padded convolution).
    """
    rewritten = config is not None
    source = layer if source is None else source
    if id(layer) in run.copies:
        if (id(layer) in run.rewritten_copies) != rewritten:
            raise mixed_shared_layer(layer)
        return run.copies[id(layer)]
    own = None
    if not rewritten:
        own = config_of(layer)
        if own.failed:
            return _uncopied(run, layer, own, None)
        config = dict(own)
    try:
        # The layer is already in memory: rebuilding it (a Lambda's function
        # included) runs no code that was not loaded already.
        with internals.unsafe_deserialization():
            new_layer = type(source).from_config(config)
        if isinstance(new_layer, keras.layers.Lambda) and source is layer:
            # Its function, rebuilt from bytecode, would lose the globals it uses.
            new_layer.function = layer.function
    except Exception as error:  # the layer's own from_config(): its cause is reported
        if rewritten:
            raise RewriteError(
                f"Layer '{layer.name}' ({type(layer).__name__}) cannot be rebuilt "
                f"from its config ({type(error).__name__}: {error}); give it a "
                "complete get_config() or exclude it."
            ) from error
        return _uncopied(run, layer, own, error)
    run.stand_in(layer, new_layer, weights_from=source, rewritten=rewritten)
    return new_layer


def refused_copy(run, layer):
    """A throwaway copy of `layer` as it was, for a call the choices refuse: it keeps the
    shapes right while the walk goes on to report every layer."""
    config = {**layer.get_config(), "name": run.unique(f"{layer.name}_refused")}
    with internals.unsafe_deserialization():
        return type(layer).from_config(config)


def _uncopied(run, layer, own: LayerConfig, error):
    """What stands in for a layer not rewritten whose own config cannot rebuild it.

    `own` is its `config_of`; `error`, when its get_config() worked, what
    rebuilding from that config raised. A copy from the completed config if
    there is one; else the very instance, so that it keeps working, with a
    note. Without a config the layer cannot be saved: the rewritten model
    then refuses to be saved, naming it.
    """
    rebuilt, cause = rebuild_otherwise(layer, own, rebuild_cause(own, error))
    if rebuilt is not None:
        run.notes.append(rebuilt.note)
        run.stand_in(layer, rebuilt.layer, weights_from=layer)
        return rebuilt.layer
    run.stand_in(layer, layer)
    run.notes.append(shared_layer_note(layer, cause, saveable=not own.failed))
    if own.failed:
        run.unsaveable.append((layer, own.cause))
    return layer


def rebuild_cause(own: LayerConfig, error) -> str:
    """Why a layer cannot be rebuilt from its config, on one line: its get_config()
    failing (`own`, its `config_of`), or `error`, what rebuilding from it raised."""
    if own.failed:
        return f"its get_config() fails: {own.cause}"
    return load_error_cause(error)


def rebuild_otherwise(layer, own: LayerConfig, cause: str, recorded: bool = False):
    """`(Rebuilt or None, cause)`: `layer`, which its own config cannot rebuild (`cause`),
    rebuilt from its config completed with its attributes, or else (with `recorded`)
    from the constructor arguments Keras recorded.

    When neither rebuilds it, the returned cause also says why each way tried failed.
    """
    completed = _completed_copy(layer, own, cause)
    if isinstance(completed, Rebuilt):
        return completed, cause
    from_arguments = _recorded_copy(layer, cause) if recorded else None
    if isinstance(from_arguments, Rebuilt):
        return from_arguments, cause
    failures = [failure for failure in (completed, from_arguments) if failure is not None]
    return None, "; ".join([cause, *failures])


def _completed_copy(layer, own: LayerConfig, cause: str) -> Rebuilt | str | None:
    """`layer` rebuilt from a completed config; else why that failed, or None when there
    is no completed config to try.

    Some third-party layers keep an argument as a same-named attribute but
    leave it out of `get_config` (keras-hub's
    `DiagonalGaussianDistributionSampler` and its `method`): the model
    loads through its own class, but a Functional holding the layer would
    not load back. The missing arguments are read from the attributes
    (plain values only) and the copy's `get_config` includes them.

    Others have no config at all, their get_config() fails: a class that
    does not override it, made with a constructor argument Keras cannot
    record (keras-hub Whisper's `Padder`, once its backbone is loaded
    and passes it a `DTypePolicy`). Their config is then the one
    `keras.layers.Layer` gives itself (name, trainable, dtype policy) plus
    every argument of the class' own constructor, read from the
    attributes; a class without a constructor of its own needs none.
    """
    completed = _completed_config(layer, own)
    if completed is None:
        return None
    config, read = completed
    shown = ", ".join(f"{k}={v!r}" for k, v in read.items())
    if own.failed:
        what = "keras.layers.Layer's own config (name, trainable, dtype)"
        if read:
            what += " and " + shown
    else:
        what = shown
    try:
        with internals.unsafe_deserialization():
            new_layer = type(layer).from_config(config)
    except Exception as error:  # the layer's own constructor refusing the completion
        return (
            f"its config completed with {what} read from the layer's attributes does not "
            f"rebuild it either ({load_error_cause(error)})"
        )
    if own.failed:
        _pin_config(new_layer, config)
    else:
        own_get_config = new_layer.get_config
        new_layer.get_config = lambda: {**own_get_config(), **read}
    return _completed(layer, new_layer, (
        f"cannot be rebuilt from its own config ({cause}); its config is completed "
        f"with {what} read from the layer's attributes, so the written file loads"
    ))


def _recorded_copy(layer, cause: str) -> Rebuilt | str | None:
    """The holder `layer` rebuilt from the constructor arguments Keras recorded when it
    was made; else why that failed, or None when there are none to try.

    A third-party holder whose `get_config` adds a key its constructor refuses
    or leaves an argument out (keras-hub's MiT `HierarchicalTransformerEncoder`:
    `mlp` added, `sr_ratio` left out) is made by its model's own code with plain
    arguments, and Keras keeps those (`keras_internals.constructor_arguments`).
    The copy's config is those arguments with the layer's own name, trainable
    flag and dtype policy. Subclassed models are not rebuilt so: one whose
    config cannot rebuild it is refused.
    """
    if isinstance(layer, keras.Model):
        return None
    arguments = internals.constructor_arguments(layer)
    if arguments is None:
        return None
    arguments = {k: _python_value(v) for k, v in arguments.items()}
    parameters = _constructor_parameters(layer)
    if parameters is None:
        return None
    base = internals.base_layer_config(layer)
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in parameters)
    if not takes_kwargs and not set(base) <= {p.name for p in parameters[1:]}:
        return None  # the copy could not keep the layer's name
    config = {**arguments, **base}
    shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    try:
        with internals.unsafe_deserialization():
            new_layer = type(layer).from_config(config)
    except Exception as error:  # the layer's own constructor refusing its recorded arguments
        return (
            f"the constructor arguments Keras recorded when it was made ({shown}) do not "
            f"rebuild it either ({load_error_cause(error)})"
        )
    _pin_config(new_layer, config)
    return _completed(layer, new_layer, (
        f"cannot be rebuilt from its own config ({cause}); it is rebuilt from the "
        f"constructor arguments Keras recorded when it was made ({shown}), and the "
        "written file records them as its config, so it loads"
    ))


def _pin_config(new_layer, config: dict) -> None:
    """`new_layer.get_config()` returns `config` (with its current name and trainable flag)."""
    new_layer.get_config = lambda: {
        **config, "name": new_layer.name, "trainable": new_layer.trainable,
    }


def _completed(layer, new_layer, reason: str) -> Rebuilt:
    """`new_layer` standing in for `layer`, with the config-completed note saying how."""
    return Rebuilt(new_layer, ModelNote(
        path=layer.name, class_name=type(layer).__name__, change=CONFIG_COMPLETED,
        reason=reason,
    ))


def _constructor_parameters(layer):
    """The parameters of `layer`'s class constructor (`self` first), or None when Python
    cannot read its signature (a constructor written in C)."""
    try:
        return list(inspect.signature(type(layer).__init__).parameters.values())
    except (TypeError, ValueError):
        return None


_MISSING = object()


def _completed_config(layer, own: LayerConfig):
    """`(config, read)`: `layer`'s config completed with the constructor arguments `read`
    from its same-named attributes; None when some cannot be read (no such attribute,
    or not a plain value) or the class takes no arguments it could be given.

    `own` is its `config_of`. When that holds a config, only the required arguments it
    lacks are read; when get_config() failed, the config is `keras.layers.Layer`'s own
    and every argument of the class' own constructor is read.
    """
    parameters = _constructor_parameters(layer)
    if parameters is None:
        return None
    named = [
        p for p in parameters[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if own.failed:
        if not isinstance(layer, keras.layers.Layer) or isinstance(layer, keras.Model):
            return None
        config = internals.base_layer_config(layer)
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in parameters)
        if not takes_kwargs and not set(config) <= {p.name for p in named}:
            return None
        layer_arguments = set(inspect.signature(keras.layers.Layer.__init__).parameters)
        wanted = [p.name for p in named if p.name not in layer_arguments]
    else:
        config = dict(own)
        wanted = [p.name for p in named if p.default is p.empty and p.name not in own]
        if not wanted:
            return None
    read = {name: getattr(layer, name, _MISSING) for name in wanted}
    if not all(_plain(value) for value in read.values()):
        return None
    return {**config, **read}, read


def _plain(value) -> bool:
    """True for a value a JSON config can hold as it is."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _python_value(value):
    """`value` with NumPy scalars (Keras records `np.float64` as a float) made Python's."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_python_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _python_value(v) for k, v in value.items()}
    return value


# -- notes on what changed beyond the padding -----------------------------------------------


def class_change(model, new_model, path) -> ModelNote:
    """The note for a model subclass rebuilt as a plain Functional/Sequential model."""
    base = keras.Sequential if isinstance(model, keras.Sequential) else type(new_model)
    methods = sorted(
        {
            name
            for cls in type(model).__mro__
            if cls not in base.__mro__
            for name, value in vars(cls).items()
            if callable(value) and not name.startswith("__")
        }
    )
    config = config_of(model)
    arguments = sorted(
        set(config) - {"name", "trainable", "layers", "input_layers", "output_layers",
                       "dtype", "build_input_shape"}
    )
    cls = type(model)
    return ModelNote(
        path=path,
        class_name=f"{cls.__module__}.{cls.__qualname__}",
        change=CLASS_CHANGED,
        new_class_name="Sequential" if base is keras.Sequential else "Functional",
        lost=tuple(
            [f"{name}()" for name in methods]
            + [f"config '{a}'" for a in arguments]
            + ([f"its config (its get_config() fails: {config.cause})"] if config.failed else [])
        ),
        reason=(
            "its class would rebuild the original layers from its constructor "
            "arguments when loaded, undoing the rewrite; the graph, weights and "
            "names are kept"
        ),
    )


def shared_layer_note(layer, cause, saveable=True) -> ModelNote:
    """The note for a layer kept as the very instance of the input model."""
    reason = (
        f"is not rewritten and cannot be rebuilt from its own config ({cause}); the same "
        "instance is used, sharing its weights with the input model"
    )
    if not saveable:
        reason += "; without a config Keras cannot save it, so the rewritten model cannot be saved"
    return ModelNote(path=layer.name, class_name=type(layer).__name__, change=LAYER_SHARED,
                     reason=reason)


def refuse_saving(model, unsaveable):
    """Make saving `model` fail with one line naming the layers that have no config.

    Saving serializes the model's config first (`model.get_config()`), which
    would stop at the first such layer with Keras' error and its example code.
    The model itself works: it can be run, trained and exported.
    """
    named = ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer, _ in unsaveable)
    several = len(unsaveable) > 1
    (first, cause), *_ = unsaveable
    message = (
        f"The rewritten model cannot be saved: layer{'s' if several else ''} {named} "
        f"{'have' if several else 'has'} no config, since "
        f"{'their' if several else 'its'} get_config() fails ({cause}"
        f"{' for the first' if several else ''}), and a rewritten model is saved as a "
        "plain Functional model holding every layer's config. Give the class a "
        "get_config() returning its constructor arguments (with a **kwargs constructor), "
        f"then rewrite again. Received: layer='{first.name}'"
    )

    def get_config():
        raise InputError(message)

    model.get_config = get_config
