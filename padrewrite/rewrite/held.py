"""Layers held as attributes of custom layers, wrappers and subclassed models, rewritten
in place of the attribute.

`reach` finds the convolutions (and graph models, and layers a probing rule
adopts) a non-graph layer holds (`attributes.py`), decides each one, then
rebuilds the holder from its config (or a completed one, `copying.py`) and
puts the stand-ins (`padding.py`) and rebuilt graph models in place of the
attributes, before the copy is built: the copy is kept inside a
`RewrittenLayer`, which does the same again when the file is loaded. A
holder that makes those layers in its own `build()` has its copy built as the
original was first. Whatever cannot be reached is reported as skipped, with
the reason. A subclassed model is reached the same way, then called on an
Input of the shape it was built with to make a Functional model.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from padrewrite.keras_side import keras_internals as internals
from padrewrite.keras_side.io import load_error_cause
from padrewrite.output.report import (
    CLASS_CHANGED,
    FALLBACK,
    REWRITTEN,
    SKIPPED,
    LayerRecord,
    ModelNote,
)
from padrewrite.padded import (
    RewrittenLayer,
    build_inner,
    has_attribute_path,
    swap_attribute,
)
from padrewrite.rewrite.attributes import (
    find_convolutions,
    find_held,
    held_shape,
    is_graph,
    reached_shape,
)
from padrewrite.rewrite.copying import (
    rebuild_cause,
    rebuild_otherwise,
    shared_layer_note,
)
from padrewrite.rewrite.decide import decide
from padrewrite.rewrite.padding import held_stand_in
from padrewrite.rewrite.refusal import RewriteError
from padrewrite.rewrite.unreached import (
    config_of,
    hidden_reason,
    kind_of,
    pads_implicitly,
)
from padrewrite.rules import CallSite

__all__ = ["reach", "rebuild_subclassed"]


def rebuild_subclassed(run, model):
    """A Functional model running a rewritten copy of the subclassed `model`.

    The copy is rebuilt from `model`'s config with its convolution
    attributes replaced, wrapped in a `RewrittenLayer` (which re-applies
    the replacements on load) and called on an Input of the shape the
    model was built with. Nothing reached: the input model itself.
    """
    build_config = model.get_build_config() if model.built else None
    shape = (build_config or {}).get("input_shape")
    if shape is None or (shape and isinstance(shape[0], (list, tuple, dict))):
        raise RewriteError(
            f"Subclassed model '{model.name}' ({type(model).__name__}) "
            + ("has no single known input shape" if shape is not None else "is not built")
            + ": call it once on data of one input (or model.build(shape)) before "
            "rewriting, so that its rewritten copy can be given a symbolic input."
        )
    inner = reach(run, model, prefix="", owner_path="")
    if inner is None:
        return model
    inputs = keras.Input(batch_shape=(None, *tuple(shape)[1:]), name=f"{model.name}_input")
    new_model = keras.Model(inputs, inner(inputs), name=model.name)
    if model.compiled:
        new_model.compile_from_config(model.get_compile_config())
    cls = type(model)
    run.notes.append(
        ModelNote(
            path=model.name,
            class_name=f"{cls.__module__}.{cls.__qualname__}",
            change=CLASS_CHANGED,
            new_class_name="Functional",
            lost=(),
            reason=(
                "a subclassed model has no graph to save: the rewritten copy of it is "
                "kept inside a padrewrite RewrittenLayer, called on one Input of its "
                f"build shape {tuple(shape)[1:]}; its class still runs the call()"
            ),
        )
    )
    return new_model


@dataclass(frozen=True)
class _Holder:
    """The copy of a holding layer the held layers are put into, and how it was made.

    `copy` is None when no copy can be made; `reason` then says why the held
    layers are left (or, with a copy, why the attribute paths it lacks are).
    `built_with` is the build config the copy was built with, `note` the
    `config-completed` note when it was made from a completed config.
    """

    copy: object
    built_with: dict | None = None
    reason: str | None = None
    note: ModelNote | None = None

    def holds(self, reached) -> bool:
        """Whether every attribute path of `reached` resolves in the copy."""
        return self.copy is not None and all(
            has_attribute_path(self.copy, steps) for steps in reached.paths
        )


def reach(run, layer, prefix, owner_path=None):
    """A copy of the non-graph `layer` with the layers it holds rewritten, or None.

    None when none of them is rewritten. Every 'same'/'causal' layer it
    holds gets a record (path: the owner's path, then the attribute path).
    Functional and Sequential models it holds are rebuilt like graph
    models, their layers' paths prefixed by the attribute path.
    """
    owner_path = f"{prefix}{layer.name}" if owner_path is None else owner_path
    adoptable, found = _held_layers(run, layer, prefix)
    if not found:
        return None
    holder = _holder_copy(run, layer, owner_path, found)
    plans, graphs = [], []
    for reached in found:
        path = f"{owner_path}/{reached.path}" if owner_path else reached.path
        adopted = reached in adoptable
        if not holder.holds(reached):
            if not adopted:
                _skip_held(run, reached.layer, path, holder.reason)
        elif is_graph(reached.layer) and not adopted:
            new_model = _reach_graph(run, reached.layer, path)
            if new_model is not None:
                graphs.append((reached, new_model))
        else:
            shape = held_shape(reached.layer) if adopted else reached_shape(reached.layer)
            decision = decide(CallSite(reached.layer, shape), path, 0, run.options)
            run.record(decision)
            if decision.rewrite is not None:
                plans.append((reached, decision, adopted))
    if not plans and not graphs:
        return None
    return _put_in(run, layer, holder, plans, graphs)


def _put_in(run, layer, holder: _Holder, plans, graphs):
    """The holder's copy with the stand-ins of `plans` and the rebuilt `graphs` in
    place of their attributes, kept in a `RewrittenLayer` where loading needs one."""
    copy, replacements = holder.copy, {}
    for reached, decision, adopted in plans:
        new = held_stand_in(reached.layer, decision.rewrite, decision.mode,
                            run.options.constant_value, adopted)
        # An adopted layer is recorded with its class (a padding layer, or padded convolution).
        config = keras.saving.serialize_keras_object(new) if adopted else new.get_config()
        for steps in reached.paths:
            swap_attribute(copy, steps, new)
            replacements["/".join(steps)] = config
    for reached, new_model in graphs:
        for steps in reached.paths:
            swap_attribute(copy, steps, new_model)
            replacements["/".join(steps)] = keras.saving.serialize_keras_object(new_model)
    if (isinstance(layer, keras.layers.Wrapper) and set(replacements) == {"layer"}
            and holder.built_with is None and holder.note is None):
        new_layer = copy  # a Keras wrapper serializes its inner layer itself
    else:
        new_layer = RewrittenLayer(
            copy, replacements, name=layer.name, built_with=holder.built_with,
            layer_config=copy.get_config() if holder.note is not None else None,
        )
    if holder.note is not None:
        run.notes.append(holder.note)
    run.stand_in(layer, new_layer, weights_from=layer)
    return new_layer


def _held_layers(run, layer, prefix):
    """`(adoptable, found)`: the layers `layer` holds that a probing rule may adopt, and
    those plus the convolutions and graph models it holds, by attribute path.

    Layers that pad 'same'/'causal' and that no attribute path reaches are
    reported as skipped.
    """
    probing = run.options.probing_rules
    adoptable = (
        find_held(layer, wanted=lambda held: any(r.concerns(held) for r in probing))
        if probing else []
    )
    found = adoptable + find_convolutions(layer, skip={id(r.layer) for r in adoptable})
    covered = {id(r.layer) for r in found}
    for reached in found:
        if is_graph(reached.layer) or reached in adoptable:
            covered.update(id(inner) for inner in internals.flatten_layers(reached.layer))
    _report_hidden(run, layer, prefix, covered)
    return adoptable, found


def _report_hidden(run, layer, prefix, reached):
    """Report layers held by a wrapper or a custom layer that pad 'same'/'causal'
    and that no attribute path reaches (inside a nested model, a recurrent cell)."""
    for inner in internals.flatten_layers(layer):
        if id(inner) not in reached and pads_implicitly(inner):
            run.records.append(_skipped(
                f"{prefix}{layer.name}/{inner.name}", inner, hidden_reason(layer, inner)
            ))


def _holder_copy(run, layer, owner_path, found) -> _Holder:
    """The copy of the holder `layer` to put the held layers into.

    Rebuilt from its config (or, when that config cannot rebuild it, from a
    completed one). A holder that makes some of the held layers in its own
    build() has its copy built as the original was, so that they exist to be
    replaced (the `RewrittenLayer` records that build config, to do the same
    on load).
    """
    holder = _unbuilt_copy(layer, owner_path, found)
    if holder.copy is None or all(holder.holds(r) for r in found):
        return holder
    owner = f"'{owner_path or layer.name}' ({type(layer).__name__})"
    build_config = layer.get_build_config() if layer.built else None
    if not build_config:
        return _Holder(holder.copy, note=holder.note, reason=(
            f"held by {owner}, which does not make it in its constructor, and has no "
            "build shape its copy could be built with to make it; left as it is"
        ))
    try:
        build_inner(holder.copy, build_config)
    except Exception as error:  # the holder's own build(): its failure is reported
        # A copy that cannot be built as the original was cannot stand in for it at
        # all: the original instance is kept, as for a layer its config cannot rebuild.
        cause = f"building its copy as the original was built raised {load_error_cause(error)}"
        run.stand_in(layer, layer)
        run.notes.append(shared_layer_note(layer, cause))
        return _Holder(None, note=holder.note, reason=(
            f"held by {owner}, which makes it in build(); {cause}; left as it is"
        ))
    return _Holder(holder.copy, build_config, note=holder.note, reason=(
        f"held by {owner}, whose copy, rebuilt from its config and built as the original "
        "was, has no such attribute to replace: neither its constructor nor its build() "
        "makes it (it was set from outside the layer); left as it is"
    ))


def _unbuilt_copy(layer, owner_path, found) -> _Holder:
    """`layer` rebuilt unbuilt from its config (completed, with the `config-completed`
    note, when it lacks constructor arguments); else no copy, and the reason.

    A subclassed model (`owner_path` empty) that cannot be rebuilt but
    holds layers to rewrite is refused.
    """
    own = config_of(layer)
    error = own.error
    if not own.failed:
        try:
            with internals.unsafe_deserialization():
                return _Holder(type(layer).from_config(dict(own)))
        except Exception as failure:  # the holder's constructor refusing its own config
            error = failure
    rebuilt, cause = rebuild_otherwise(layer, own, rebuild_cause(own, error), recorded=True)
    if rebuilt is not None:
        return _Holder(rebuilt.layer, note=rebuilt.note)
    held = [r.layer for r in found]
    held += [inner for r in found if is_graph(r.layer)
             for inner in internals.flatten_layers(r.layer)]
    if not owner_path and any(pads_implicitly(h) for h in held):
        raise RewriteError(
            f"Subclassed model '{layer.name}' ({type(layer).__name__}) holds "
            f"convolutions to rewrite but cannot be rebuilt from its config ({cause}); "
            "give it a complete get_config() (an __init__ taking **kwargs)."
        ) from error
    return _Holder(None, reason=(
        f"held by '{owner_path}' ({type(layer).__name__}), which cannot be rebuilt "
        f"from its config ({cause}); left as it is: give it a complete get_config() "
        "to rewrite it"
    ))


def _reach_graph(run, model, path):
    """The rewritten copy of a graph `model` held at attribute `path`, or None.

    None when nothing in it is rewritten, or when it cannot be rebuilt
    as a graph (an unbuilt Sequential): then its layers that pad
    'same'/'causal' are reported as skipped, with the reason.
    """
    before = len(run.records)
    run.held_depth += 1
    try:
        new_model = run.rebuild(model, prefix=f"{path}/")
    except RewriteError as error:
        del run.records[before:]
        _skip_held(run, model, path, f"held at '{path}': {error}")
        return None
    finally:
        run.held_depth -= 1
    if any(r.action in (REWRITTEN, FALLBACK) for r in run.records[before:]):
        return new_model
    return None


def _skip_held(run, held, path, reason):
    """Report `held` (a convolution, or each layer of a graph model) at `path` as skipped."""
    if is_graph(held):
        inner = [(f"{path}/{layer.name}", layer) for layer in internals.flatten_layers(held)]
    else:
        inner = [(path, held)]
    for inner_path, inner_layer in inner:
        if pads_implicitly(inner_layer):
            run.records.append(_skipped(inner_path, inner_layer, reason))


def _skipped(path, layer, reason) -> LayerRecord:
    """The `skipped` record of a layer no rule reached, at `path`."""
    return LayerRecord(
        path=path, name=layer.name, class_name=type(layer).__name__,
        kind=kind_of(layer), action=SKIPPED, rule=None, reason=reason,
    )
