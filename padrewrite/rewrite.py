"""The rewrite engine: rebuild a Keras graph, applying the rules to every layer call.

Functional and Sequential models are rebuilt node by node (nested models
recursively, to any depth). Every layer gets a fresh copy (from its config)
and its weights; a layer a rule rewrites is preceded by a padding layer per
call, while its replacement stays shared between calls, as the original was.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import inspect
import sys
from dataclasses import dataclass, replace

import keras

from padrewrite import keras_internals as internals
from padrewrite.arithmetic import spatial_axes
from padrewrite.errors import InputError
from padrewrite.io import load_error_cause
from padrewrite.layers import PADDING_CLASSES, SAME_PADDING_CLASSES
from padrewrite.modes import (
    AXIS_NAMES,
    CAUSAL_MODES,
    FALLBACK_MODES,
    FUTURE_READING_MODES,
    axis_modes,
    check_choice,
    check_constant_value,
    exceeded_limit,
    format_mode,
    limit_phrase,
    normalize_layer_mode,
    parse_mode,
    parse_mode_for,
    uses_constant,
)
from padrewrite.padded import (
    RewrittenLayer,
    build_inner,
    has_attribute_path,
    padded_convolution,
    swap_attribute,
)
from padrewrite.reach import find_convolutions, find_held, is_graph
from padrewrite.report import (
    CLASS_CHANGED,
    CONFIG_COMPLETED,
    FALLBACK,
    LAYER_SHARED,
    REFUSED,
    REWRITTEN,
    SKIPPED,
    UNCHANGED,
    LayerRecord,
    ModelNote,
    RewriteReport,
)
from padrewrite.rules import (
    MODEL_OUTPUT,
    RULE_NAMES,
    RULES,
    CallSite,
    Leave,
    Rewrite,
    Rule,
)
from padrewrite.rules.geometry import as_tuple, spatial_sizes
from padrewrite.rules.unreached import (
    PADDED,
    RECURRENT_CONVOLUTIONS,
    config_of,
    hidden_reason,
    kind_of,
    padding_of,
    pads_implicitly,
    unreached_reason,
)

__all__ = ["RewriteError", "RewriteResult", "rewrite_model"]


class RewriteError(InputError):
    """A model the engine cannot rewrite exactly; the message says why and what to do.

    When the walk over the model was complete (layers refused by the choices
    given: pads too large for their mode, causal convolutions that would read
    the future), `report` is the `RewriteReport` with those layers' records
    (action "refused"); otherwise it is None.
    """

    def __init__(self, message: str, report: RewriteReport | None = None):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class RewriteResult:
    model: keras.Model
    report: RewriteReport


def rewrite_model(
    model: keras.Model,
    mode: str = "reflect",
    constant_value: float = 0.0,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    rules: tuple[str, ...] = (),
    skip_rules: tuple[str, ...] = (),
    mode_for=(),
    causal_mode: str | None = None,
    fallback_mode: str | None = None,
) -> RewriteResult:
    """Return a new model whose 'same'/'causal' layers pad explicitly in `mode`.

    Args:
        model: a Functional or Sequential Keras model (nested models allowed),
            or a built subclassed model; it is left untouched.
        mode: "constant", "reflect", "replicate", "symmetric" or "circular"
            (aliases "zero", "edge", "wrap"), or one mode per spatial axis:
            "H=constant,W=circular" (axes T or L for 1D, D/H/W for 3D; an
            entry without an axis, as in "reflect,W=circular", is the mode of
            the axes not named), a dict {"W": "circular", ...}, or a
            `padrewrite.modes.ModeChoice`.
        constant_value: fill value of the axes padded in constant mode.
        include: layer-name globs; when given, only matching layers are rewritten.
        exclude: layer-name globs never rewritten.
        rules: opt-in rules to enable (e.g. "zero-padding", "pooling-same",
            "adopt-padding": hand-written padding layers, found by probing them,
            keep the mode they compute unless `mode_for` names them).
        skip_rules: rules to disable.
        mode_for: per-layer modes on top of `mode`: {glob: mode}, (glob, mode)
            pairs or "GLOB=MODE" strings; the mode may be per axis. When
            several globs match a layer, the last one wins.
        causal_mode: for causal convolutions ('causal' Conv1D). None (the
            default) refuses a mode that would copy future samples into their
            left pad (reflect, symmetric, circular on the time axis);
            "replicate" or "constant" pads every causal convolution so (they
            stay causal); "as-mode" accepts the mode as chosen, and the report
            marks those layers `causal=False`.
        fallback_mode: where the chosen mode cannot pad an axis (reflect: pad
            >= size; symmetric, circular: pad > size): None (the default)
            refuses, "replicate" or "constant" pad those axes so instead
            (action "fallback"), "skip" leaves the layer as it is (action
            "skipped").

    Globs match a layer's name or its path through nested models (`outer/conv1`).

    Raises:
        RewriteError: the model cannot be rewritten with these choices; when
            layers were refused, the message names all of them and the
            error's `report` has their records.
        InputError: an argument is wrong.
    """
    choice = parse_mode(mode)
    mode_for = parse_mode_for(mode_for)
    causal_mode = check_choice(causal_mode, CAUSAL_MODES, "causal_mode")
    fallback_mode = check_choice(fallback_mode, FALLBACK_MODES, "fallback_mode")
    used = set(choice.modes).union(*(c.modes for _, c in mode_for), {causal_mode, fallback_mode})
    if "constant" in used:
        constant_value = check_constant_value("constant", constant_value)
    else:
        constant_value = check_constant_value(str(choice), constant_value)
    for argument, names in (("rules", rules), ("skip_rules", skip_rules)):
        unknown = [name for name in names if name not in RULE_NAMES]
        if unknown:
            raise InputError(
                f"`{argument}` must name known rules ({', '.join(RULE_NAMES)}). "
                f"Received: {argument}={list(names)!r}"
            )
    subclassed = isinstance(model, keras.Model) and not _is_graph_model(model)
    if not subclassed:
        _check_graph(model, model.name)
    all_layers = _all_layers(model)
    rewriter = _Rewriter(
        choice=choice,
        mode_for=mode_for,
        causal_mode=causal_mode,
        fallback_mode=fallback_mode,
        constant_value=constant_value,
        include=tuple(include),
        exclude=tuple(exclude),
        enabled_opt_in=frozenset(rules),
        disabled=frozenset(skip_rules),
        taken_names={layer.name for layer in all_layers},
    )
    with _recursion_room(len(all_layers)):
        if subclassed:
            new_model = rewriter.rebuild_subclassed(model)
        else:
            new_model = rewriter.rebuild(model, prefix="")
    for old, new in rewriter.weight_pairs:
        new.set_weights(old.get_weights())
    if rewriter.unsaveable and new_model is not model:
        _refuse_saving(new_model, rewriter.unsaveable)
    report = RewriteReport(
        model_name=model.name,
        mode=str(choice),
        constant_value=rewriter.constant_value,
        records=tuple(rewriter.records),
        notes=tuple(rewriter.notes),
        mode_for=tuple((glob, str(c)) for glob, c in mode_for),
        causal_mode=causal_mode,
        fallback_mode=fallback_mode,
    )
    refusal = rewriter.refusal_message(str(choice), causal_mode)
    if refusal is not None:
        raise RewriteError(refusal, replace(report, refusal=refusal))
    return RewriteResult(model=new_model, report=report)


@contextlib.contextmanager
def _recursion_room(layer_count):
    """Keras maps graphs recursively; deep models need a higher recursion limit."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 20 * layer_count + 2000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _is_graph_model(layer) -> bool:
    return isinstance(layer, keras.Sequential) or internals.is_functional(layer)


def _check_graph(model, path):
    if isinstance(model, keras.Sequential):
        if internals.sequential_graph(model) is None:
            raise RewriteError(
                f"Sequential model '{path}' is not built, so its layer shapes are "
                "unknown; start it with keras.Input(shape=...) or call it on data "
                "before rewriting."
            )
        return
    if not internals.is_functional(model):
        raise RewriteError(
            f"Model '{path}' ({type(model).__name__}) is a subclassed model: its "
            "call() is Python code, not a layer graph, so padding layers cannot be "
            "inserted safely. Rebuild it as a Functional or Sequential model (same "
            "layers and weights) and rewrite that."
        )


def _all_layers(model):
    return internals.flatten_layers(model)


class _Rewriter:
    """State of one rewrite: copies made so far, records, names in use."""

    def __init__(
        self, choice, mode_for, causal_mode, fallback_mode, constant_value, include, exclude,
        enabled_opt_in, disabled, taken_names,
    ):
        self.choice = choice
        self.mode_for = mode_for
        self.causal_mode = causal_mode
        self.fallback_mode = fallback_mode
        self.refused_causal: list[tuple[str, str]] = []
        self.refused_limits: list[tuple[str, str, str]] = []
        self.constant_value = constant_value
        self.include = include
        self.exclude = exclude
        self.enabled_opt_in = enabled_opt_in
        self.disabled = disabled
        self.taken_names = set(taken_names)
        self.copies: dict[int, object] = {}
        self.rewritten_copies: set[int] = set()
        self.call_counts: dict[int, int] = {}
        self.copied: dict[int, tuple[object, object]] = {}
        self.shared_pads: dict[int, tuple] = {}
        #: > 0 while rebuilding a graph model held by a custom layer.
        self.held_depth = 0
        self.records: list[LayerRecord] = []
        self.notes: list[ModelNote] = []
        #: (layer, cause): layers kept as they were whose get_config() fails.
        self.unsaveable: list[tuple[object, str]] = []

    @property
    def weight_pairs(self):
        """(original, copy) for every layer copied, whose weights the copy takes."""
        return list(self.copied.values())

    # -- graphs --------------------------------------------------------------

    def rebuild(self, model, prefix):
        """A rewritten copy of `model`; `prefix` is the path of its layers (`outer/`)."""
        if id(model) in self.copies:
            return self.copies[id(model)]
        _check_graph(model, prefix.rstrip("/") or model.name)
        if isinstance(model, keras.Sequential):
            new_model = self._rebuild_sequential(model, prefix)
        else:
            new_model = self._rebuild_functional(model, prefix)
        new_model.trainable = model.trainable
        if model.compiled:
            new_model.compile_from_config(model.get_compile_config())
        self.copies[id(model)] = new_model
        if not (type(model) is keras.Sequential or _is_plain_functional(model)):
            self.notes.append(_class_change(model, new_model, prefix.rstrip("/") or model.name))
        return new_model

    def rebuild_subclassed(self, model):
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
        inner = self._reach(model, prefix="", owner_path="")
        if inner is None:
            return model
        inputs = keras.Input(batch_shape=(None, *tuple(shape)[1:]), name=f"{model.name}_input")
        new_model = keras.Model(inputs, inner(inputs), name=model.name)
        if model.compiled:
            new_model.compile_from_config(model.get_compile_config())
        cls = type(model)
        self.notes.append(
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

    def _reach(self, layer, prefix, owner_path=None):
        """A copy of the non-graph `layer` with the convolutions it holds rewritten.

        None when none of them is rewritten. Every 'same'/'causal' layer it
        holds gets a record (path: the owner's path, then the attribute path).
        Functional and Sequential models it holds are rebuilt like graph
        models, their layers' paths prefixed by the attribute path.

        The copy is rebuilt from the holder's config (or, when that config
        cannot rebuild it, from the constructor arguments Keras recorded). A
        holder that makes some of those layers in its own build() has its
        copy built as the original was, then they are replaced (the
        `RewrittenLayer` records that build config, to do the same on load).
        Layers the copy cannot take (no copy can be made, or its build fails)
        are reported as skipped, with the reason.
        """
        owner_path = f"{prefix}{layer.name}" if owner_path is None else owner_path
        probing = self._probing_rules()
        candidates = (
            find_held(layer, wanted=lambda held: any(r.concerns(held) for r in probing))
            if probing else []
        )
        found = candidates + find_convolutions(layer, skip={id(r.layer) for r in candidates})
        covered = {id(r.layer) for r in found}
        for reached in found:
            if is_graph(reached.layer) or reached in candidates:
                covered.update(id(inner) for inner in internals.flatten_layers(reached.layer))
        self._report_hidden_convolutions(layer, prefix, reached=covered)
        if not found:
            return None
        copy, cause, completed_note = self._unbuilt_copy(layer, owner_path, found)
        built_with, unreached = None, None
        if copy is not None:
            copy, built_with, unreached = self._copy_holding(layer, owner_path, found, copy)
        plans, graphs = [], []
        for reached in found:
            path = f"{owner_path}/{reached.path}" if owner_path else reached.path
            if reached in candidates:
                if copy is not None and all(has_attribute_path(copy, s) for s in reached.paths):
                    decision, mode = self._decide(
                        reached.layer, prefix, _held_shape(reached.layer), (), 0, path=path
                    )
                    if isinstance(decision, Rewrite):
                        plans.append((reached, decision, mode))
                continue
            if copy is None or not all(has_attribute_path(copy, s) for s in reached.paths):
                self._skip_held(reached.layer, path, cause or unreached)
                continue
            if is_graph(reached.layer):
                new_model = self._reach_graph(reached.layer, path)
                if new_model is not None:
                    graphs.append((reached, new_model))
                continue
            decision, mode = self._decide(
                reached.layer, prefix, _reached_shape(reached.layer), (), 0, path=path
            )
            if isinstance(decision, Rewrite):
                plans.append((reached, decision, mode))
        if not plans and not graphs:
            return None
        replacements = {}
        for reached, decision, mode in plans:
            if reached in candidates:
                # An adopted padding layer, or padded convolution: recorded with its class.
                new = self._adopted_stand_in(reached.layer, decision, mode)
                config = keras.saving.serialize_keras_object(new)
            else:
                new = padded_convolution(
                    reached.layer, decision.config, decision.pads, mode,
                    self._pad_value(decision, mode),
                )
                config = new.get_config()
            for steps in reached.paths:
                swap_attribute(copy, steps, new)
                replacements["/".join(steps)] = config
        for reached, new_model in graphs:
            for steps in reached.paths:
                swap_attribute(copy, steps, new_model)
                replacements["/".join(steps)] = keras.saving.serialize_keras_object(new_model)
        if (isinstance(layer, keras.layers.Wrapper) and set(replacements) == {"layer"}
                and built_with is None and completed_note is None):
            new_layer = copy  # a Keras wrapper serializes its inner layer itself
        else:
            new_layer = RewrittenLayer(
                copy, replacements, name=layer.name, built_with=built_with,
                layer_config=copy.get_config() if completed_note is not None else None,
            )
        if completed_note is not None:
            self.notes.append(completed_note)
        self.copies[id(layer)] = new_layer
        self.copied[id(layer)] = (layer, new_layer)
        return new_layer

    def _probing_rules(self):
        """The enabled rules that recognise layers by calling them."""
        return [
            r for r in RULES
            if r.calls_layer and r.name in self.enabled_opt_in and r.name not in self.disabled
        ]

    def _adopted_stand_in(self, layer, decision, mode):
        """What replaces a held layer a probing rule adopted: a padding layer, or the padded
        stand-in of the convolution it holds (`decision.source`)."""
        if decision.source is None:
            return self._padding_layer(layer, decision, mode, 0)
        return padded_convolution(
            decision.source, decision.config, decision.pads, mode, self._pad_value(decision, mode)
        )

    def _pad_value(self, decision, mode):
        """The fill value of a padding in `mode`: the one found by an adopting rule when its
        mode is kept, else the rewrite's."""
        if not uses_constant(mode):
            return 0.0
        return self.constant_value if decision.mode is None else decision.constant_value

    def _unbuilt_copy(self, layer, owner_path, found):
        """`(copy, None, note)`: `layer` rebuilt unbuilt from its config (completed, with
        the `config-completed` note, when it lacks constructor arguments); else
        `(None, reason, None)`.

        A subclassed model (`owner_path` empty) that cannot be rebuilt but
        holds layers to rewrite is refused.
        """
        own = config_of(layer)
        error = own.error
        if not own.failed:
            try:
                with internals.unsafe_deserialization():
                    return type(layer).from_config(dict(own)), None, None
            except Exception as failure:  # the holder's constructor refusing its own config
                error = failure
        cause = _rebuild_cause(own, error)
        completed = self._completed_copy(layer, own, cause) or _recorded_copy(layer, cause)
        if completed is not None:
            return completed[0], None, completed[1]
        held = [r.layer for r in found]
        held += [inner for r in found if is_graph(r.layer)
                 for inner in internals.flatten_layers(r.layer)]
        if not owner_path and any(pads_implicitly(h) for h in held):
            raise RewriteError(
                f"Subclassed model '{layer.name}' ({type(layer).__name__}) holds "
                f"convolutions to rewrite but cannot be rebuilt from its config ({cause}); "
                "give it a complete get_config() (an __init__ taking **kwargs)."
            ) from error
        return None, (
            f"held by '{owner_path}' ({type(layer).__name__}), which cannot be rebuilt "
            f"from its config ({cause}); left as it is: give it a complete get_config() "
            "to rewrite it"
        ), None

    def _copy_holding(self, layer, owner_path, found, copy):
        """`(copy, built_with, reason)`: the unbuilt `copy` of the holder `layer` when every
        attribute path of `found` resolves in it; else the copy built as `layer` was
        (`built_with`, its build config), so that the layers its `build()` makes exist
        to be replaced. `reason` says why the paths that still do not resolve are left.

        When that build fails, no copy can stand in for `layer`: `(None, None, reason)`,
        and `layer` itself is kept in the rewritten model (`layer-shared` note).
        """
        owner = f"'{owner_path or layer.name}' ({type(layer).__name__})"
        if all(has_attribute_path(copy, steps) for r in found for steps in r.paths):
            return copy, None, None
        build_config = layer.get_build_config() if layer.built else None
        if not build_config:
            return copy, None, (
                f"held by {owner}, which does not make it in its constructor, and has no "
                "build shape its copy could be built with to make it; left as it is"
            )
        try:
            build_inner(copy, build_config)
        except Exception as error:  # the holder's own build(): its failure is reported
            # A copy that cannot be built as the original was cannot stand in for it at
            # all: the original instance is kept, as for a layer its config cannot rebuild.
            cause = f"building its copy as the original was built raised {load_error_cause(error)}"
            self.copies[id(layer)] = layer
            self.notes.append(_shared_layer_note(layer, cause))
            return None, None, f"held by {owner}, which makes it in build(); {cause}; left as it is"
        return copy, build_config, (
            f"held by {owner}, whose copy, rebuilt from its config and built as the original "
            "was, has no such attribute to replace: neither its constructor nor its build() "
            "makes it (it was set from outside the layer); left as it is"
        )

    def _skip_held(self, held, path, reason):
        """Report `held` (a convolution, or each layer of a graph model) at `path` as skipped."""
        if is_graph(held):
            inner = [(f"{path}/{l.name}", l) for l in internals.flatten_layers(held)]
        else:
            inner = [(path, held)]
        for inner_path, inner_layer in inner:
            if pads_implicitly(inner_layer):
                self._record_skipped(inner_path, inner_layer, reason)

    def _record_skipped(self, path, layer, reason):
        """A `skipped` record for a layer no rule reached, at `path`."""
        self.records.append(
            LayerRecord(
                path=path, name=layer.name, class_name=type(layer).__name__,
                kind=kind_of(layer), action=SKIPPED, rule=None, reason=reason,
            )
        )

    def _reach_graph(self, model, path):
        """The rewritten copy of a graph `model` held at attribute `path`, or None.

        None when nothing in it is rewritten, or when it cannot be rebuilt
        as a graph (an unbuilt Sequential): then its layers that pad
        'same'/'causal' are reported as skipped, with the reason.
        """
        before = len(self.records)
        self.held_depth += 1
        try:
            new_model = self.rebuild(model, prefix=f"{path}/")
        except RewriteError as error:
            del self.records[before:]
            self._skip_held(model, path, f"held at '{path}': {error}")
            return None
        finally:
            self.held_depth -= 1
        if any(r.action in (REWRITTEN, FALLBACK) for r in self.records[before:]):
            return new_model
        return None

    def _rebuild_functional(self, model, prefix):
        consumers = _consumers_by_tensor(model)
        inputs = keras.tree.map_structure(_fresh_input, model.input)

        def call(layer, *args, **kwargs):
            # Python constants among the arguments (`1.0 - x` records the 1.0) pass as they
            # are. A layer's input may be given by keyword (`conv(inputs=x)`).
            first = next(iter(_tensors(args) or _tensors(list(kwargs.values()))), None)
            site_consumers = consumers.get(id(layer), {}).get(
                self.call_counts.get(id(layer), 0), ()
            )
            return self._call(layer, prefix, first, site_consumers, args, kwargs)

        outputs = internals.run_through_graph(model, inputs, call)
        return keras.Model(inputs, outputs, name=model.name)

    def _rebuild_sequential(self, model, prefix):
        functional = internals.sequential_graph(model)
        consumers = _consumers_by_tensor(functional)
        (input_tensor,) = functional.inputs
        nodes = _nodes_of(functional)
        new_layers = []
        for layer in model.layers:
            (node,) = [n for n in internals.inbound_nodes(layer) if n in nodes]
            shape = tuple(node.input_tensors[0].shape)
            site_consumers = consumers.get(id(layer), {}).get(0, ())
            pad, new_layer = self._replacements(layer, prefix, shape, site_consumers)
            new_layers.extend(item for item in (pad, new_layer) if item is not None)
        return keras.Sequential(
            [_fresh_input(input_tensor), *new_layers], name=model.name
        )

    # -- one layer call ------------------------------------------------------

    def _call(self, layer, prefix, first_input, site_consumers, args, kwargs):
        shape = tuple(first_input.shape) if first_input is not None else None
        tensors = len(_tensors((args, kwargs)))
        pad, new_layer = self._replacements(layer, prefix, shape, site_consumers, tensors)
        if pad is not None:
            if args:
                padded = pad(args[0])
                args = (padded, *args[1:])
            else:  # the input given by keyword
                (key,) = [k for k, v in kwargs.items() if v is first_input]
                padded = pad(first_input)
                kwargs = {**kwargs, key: padded}
            if new_layer is None:
                return padded
        return new_layer(*args, **kwargs)

    def _replacements(self, layer, prefix, input_shape, site_consumers, input_count=1):
        """`(padding layer or None, layer or None)` standing in for one call of `layer`."""
        call_index = self.call_counts.get(id(layer), 0)
        self.call_counts[id(layer)] = call_index + 1
        if self.held_depth:
            input_shape = _free_strided_axes(layer, input_shape)
        if _is_graph_model(layer):
            return None, self.rebuild(layer, f"{prefix}{layer.name}/")
        if not isinstance(layer, keras.layers.Layer):
            return None, layer  # a keras.ops operation: no weights, no padding
        decision, mode = self._decide(
            layer, prefix, input_shape, site_consumers, call_index, input_count=input_count
        )
        if self._refused(layer) and id(layer) in self.copies:
            # The rewrite stops with the refusal once the walk has reported every layer;
            # a throwaway copy as it was keeps the shapes right until then.
            config = {**layer.get_config(), "name": self._unique(f"{layer.name}_refused")}
            with internals.unsafe_deserialization():
                return None, type(layer).from_config(config)
        if not isinstance(decision, Rewrite):
            if id(layer) not in self.copies and not isinstance(layer, RECURRENT_CONVOLUTIONS):
                reached = self._reach(layer, prefix)
                if reached is not None:
                    return None, reached
            return None, self._copy(layer)
        if decision.config is None:
            # The padding layer replaces the layer: one shared copy, as the original.
            if id(layer) not in self.copies:
                self.copies[id(layer)] = self._padding_layer(layer, decision, mode, call_index)
                self.rewritten_copies.add(id(layer))
                self.shared_pads[id(layer)] = (decision.pads, mode)
            elif id(layer) not in self.rewritten_copies:
                raise _mixed_shared_layer(layer)
            elif self.shared_pads[id(layer)] != (decision.pads, mode):
                raise RewriteError(
                    f"Shared layer '{layer.name}' pads {decision.pads} in {format_mode(mode)} on "
                    f"one call and {self.shared_pads[id(layer)][0]} in "
                    f"{format_mode(self.shared_pads[id(layer)][1])} on another, so one shared "
                    "padding layer cannot stand in for it; exclude it or un-share it."
                )
            pad = self.copies[id(layer)]
            self.records[-1] = replace(self.records[-1], pad_layer=pad.name)
            return pad, None
        pad = self._padding_layer(layer, decision, mode, call_index)
        self.records[-1] = replace(self.records[-1], pad_layer=pad.name)
        return pad, self._copy(layer, config=decision.config, source=decision.source)

    def _refused(self, layer) -> bool:
        """Whether the call just decided for `layer` was refused by the choices given."""
        return bool(self.records) and self.records[-1].action == REFUSED and (
            self.records[-1].name == layer.name
        )

    def _copy(self, layer, config=None, source=None):
        """A fresh copy of `layer` (from `config` if given), one per original layer.

        With `source`, the copy is of `source`'s class and takes its weights
        (the convolution inside an adopted padded convolution).
        """
        rewritten = config is not None
        source = layer if source is None else source
        if id(layer) in self.copies:
            if (id(layer) in self.rewritten_copies) != rewritten:
                raise _mixed_shared_layer(layer)
            return self.copies[id(layer)]
        own = None
        if not rewritten:
            own = config_of(layer)
            if own.failed:
                return self._uncopied(layer, own, None)
            config = dict(own)
        try:
            # The layer is already in memory: rebuilding it (a Lambda's function
            # included) runs no code that was not loaded already.
            with internals.unsafe_deserialization():
                new_layer = type(source).from_config(config)
            if isinstance(new_layer, keras.layers.Lambda) and source is layer:
                # Its function, rebuilt from bytecode, would lose the globals it uses.
                new_layer.function = layer.function
        except Exception as error:
            if rewritten:
                raise RewriteError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) cannot be rebuilt "
                    f"from its config ({type(error).__name__}: {error}); give it a "
                    "complete get_config() or exclude it."
                ) from error
            return self._uncopied(layer, own, error)
        self.copies[id(layer)] = new_layer
        if rewritten:
            self.rewritten_copies.add(id(layer))
        self.copied[id(layer)] = (source, new_layer)
        return new_layer

    def _uncopied(self, layer, own, error):
        """What stands in for a layer not rewritten whose own config cannot rebuild it.

        `own` is its `config_of`; `error`, when its get_config() worked, what
        rebuilding from that config raised. A copy from the completed config
        (`_completed_copy`) if there is one; else the very instance, so that it
        keeps working, with a note. Without a config the layer cannot be
        saved: the rewritten model then refuses to be saved, naming it.
        """
        cause = _rebuild_cause(own, error)
        completed = self._completed_copy(layer, own, cause)
        if completed is not None:
            new_layer, note = completed
            self.notes.append(note)
            self.copies[id(layer)] = new_layer
            self.copied[id(layer)] = (layer, new_layer)
            return new_layer
        self.copies[id(layer)] = layer
        self.notes.append(_shared_layer_note(layer, cause, saveable=not own.failed))
        if own.failed:
            self.unsaveable.append((layer, own.cause))
        return layer

    def _completed_copy(self, layer, own, cause):
        """`(copy, note)`: `layer` rebuilt from a completed config; None if there is none.

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
        try:
            with internals.unsafe_deserialization():
                new_layer = type(layer).from_config(config)
        except Exception:  # the completion does not fit its constructor: none to offer
            return None
        if own.failed:
            new_layer.get_config = lambda: {
                **config, "name": new_layer.name, "trainable": new_layer.trainable,
            }
            what = "keras.layers.Layer's own config (name, trainable, dtype)"
            if read:
                what += " and " + ", ".join(f"{k}={v!r}" for k, v in read.items())
        else:
            own_get_config = new_layer.get_config
            new_layer.get_config = lambda: {**own_get_config(), **read}
            what = ", ".join(f"{k}={v!r}" for k, v in read.items())
        note = ModelNote(
            path=layer.name,
            class_name=type(layer).__name__,
            change=CONFIG_COMPLETED,
            reason=(
                f"cannot be rebuilt from its own config ({cause}); its config is completed "
                f"with {what} read from the layer's attributes, so the written file loads"
            ),
        )
        return new_layer, note

    def _report_hidden_convolutions(self, layer, prefix, reached=frozenset()):
        """Report layers held by a wrapper or a custom layer that pad 'same'/'causal'
        and that no attribute path reaches (inside a nested model, a recurrent cell)."""
        for inner in internals.flatten_layers(layer):
            if id(inner) not in reached and pads_implicitly(inner):
                self._record_skipped(
                    f"{prefix}{layer.name}/{inner.name}", inner, hidden_reason(layer, inner)
                )

    # -- decisions -----------------------------------------------------------

    def _decide(
        self, layer, prefix, input_shape, site_consumers, call_index, path=None, input_count=1
    ):
        """`(Rewrite, mode)` for a call to rewrite, else `(Leave or None, None)`."""
        probing = self._probing_rules()
        candidates = [
            r for r in RULES if r.concerns(layer) and (not r.calls_layer or r in probing)
        ]
        path = f"{prefix}{layer.name}" if path is None else path
        if not candidates:
            reason = unreached_reason(layer)
            if reason is not None:
                self.records.append(
                    LayerRecord(
                        path=path, name=layer.name, class_name=type(layer).__name__,
                        kind=kind_of(layer), action=SKIPPED, rule=None, reason=reason,
                        call_index=call_index,
                    )
                )
            return None, None
        config = config_of(layer)
        if config.failed and any(r.calls_layer for r in candidates):
            # A rule that probes what the layer computes needs no config of it.
            candidates = [r for r in candidates if r.calls_layer]
        elif config.failed:
            # No config to rebuild the layer from: its padding is read from the attribute.
            padding = padding_of(layer)
            if padding in PADDED:
                action, reason = SKIPPED, (
                    f"padding={padding!r}, but its get_config() fails ({config.cause}): no "
                    "copy of it with padding='valid' can be built; left as it is"
                )
            elif not all(r.opt_in for r in candidates):
                action, reason = UNCHANGED, (
                    f"padding={padding!r} (its attribute: its get_config() fails: {config.cause})"
                )
            else:
                return None, None
            self.records.append(
                LayerRecord(
                    path=path, name=layer.name, class_name=type(layer).__name__,
                    kind=candidates[0].kind, action=action, rule=None, reason=reason,
                    call_index=call_index,
                )
            )
            return None, None
        applying = [r for r in candidates if r.applies(config)]

        def record(
            rule: Rule | None, action, reason, pads=None, mode=None, causal=None, computed=None
        ):
            self.records.append(
                LayerRecord(
                    path=path,
                    name=layer.name,
                    class_name=type(layer).__name__,
                    kind=(rule or candidates[0]).kind,
                    action=action,
                    rule=rule.name if rule else None,
                    reason=reason,
                    pads=pads,
                    mode=None if mode is None else format_mode(mode),
                    call_index=call_index,
                    causal=causal,
                    computed=None if computed is None else format_mode(computed),
                )
            )

        if not applying:
            # Layers only opt-in rules could concern (e.g. 'valid' pooling) are not news.
            if not all(r.opt_in for r in candidates):
                record(None, UNCHANGED, f"padding={config.get('padding')!r}")
            return None, None
        rule = applying[0]
        if rule.name in self.disabled:
            record(rule, SKIPPED, f"rule '{rule.name}' is disabled")
            return None, None
        if rule.opt_in and rule.name not in self.enabled_opt_in:
            decision = rule.build(CallSite(layer, input_shape, site_consumers))
            if isinstance(decision, Rewrite):
                record(
                    rule,
                    SKIPPED,
                    f"opt-in rule '{rule.name}' is not enabled",
                    pads=decision.pads,
                )
            else:
                record(rule, decision.action, decision.reason)
            return None, None
        selected, why_not = self._selected(layer.name, path)
        if not selected and not rule.calls_layer:
            record(rule, SKIPPED, why_not)
            return None, None
        # A rule that probes layers first finds whether the layer is its concern at all.
        decision = rule.build(CallSite(layer, input_shape, site_consumers, input_count))
        if isinstance(decision, Leave):
            if decision.recorded:
                record(rule, decision.action, decision.reason)
            return decision, None
        if not selected:
            record(rule, SKIPPED, why_not, pads=decision.pads, computed=decision.mode)
            return None, None
        rank = len(decision.pads)
        computed = decision.mode
        if computed is not None and self._named_by_mode_for(layer.name, path):
            decision = replace(decision, mode=None)  # the per-layer mode replaces the one found
        try:
            if decision.mode is not None:
                mode = normalize_layer_mode(decision.mode, rank)
            else:
                mode = self._choice_for(layer.name, path).for_rank(rank)
        except InputError as error:
            raise RewriteError(f"Layer '{path}' ({type(layer).__name__}): {error}") from None
        reason = decision.reason or _describe(rule, decision)
        if computed is not None and decision.mode is None:
            reason += f"; now {format_mode(mode)}, the per-layer mode given for it"
        record = functools.partial(record, computed=computed)
        causal = None
        if decision.causal:
            if self.causal_mode in ("replicate", "constant"):
                mode = self.causal_mode
            future = [m for m in axis_modes(mode, rank) if m in FUTURE_READING_MODES]
            causal = not future
            if future and self.causal_mode != "as-mode":
                self.refused_causal.append((path, future[0]))
                record(
                    rule, REFUSED,
                    f"causal convolution: {future[0]} padding on the time axis copies "
                    "future samples into its left pad; causal_mode 'replicate' or "
                    "'constant' keeps it causal, 'as-mode' accepts it",
                    pads=decision.pads, mode=mode, causal=False,
                )
                return None, None
            if future:
                reason += (
                    f"; NOT causal: {future[0]} padding copies future samples into the "
                    "left pad (causal_mode 'as-mode')"
                )
        problems = self._limit_problems(mode, input_shape, decision)
        if not problems:
            record(rule, REWRITTEN, reason, pads=decision.pads, mode=mode, causal=causal)
            return decision, mode
        names = AXIS_NAMES[rank]
        why = "; ".join(
            f"{axis_mode} padding must be {limit_phrase(axis_mode)}: "
            + ", ".join(
                f"axis {names[index]} has size {size} and pads {pair}"
                for index, pair, size, m in problems
                if m == axis_mode
            )
            for axis_mode in dict.fromkeys(m for *_, m in problems)
        )
        if self.fallback_mode is None:
            index, pair, size, axis_mode = problems[0]
            self.refused_limits.append(
                (f"'{path}' ({type(layer).__name__})", f"pads {pair} on spatial axis {index}, "
                 f"whose size is {size}", f"{axis_mode} padding must be {limit_phrase(axis_mode)}")
            )
            record(rule, REFUSED, f"{why}; no fallback mode", pads=decision.pads, mode=mode,
                   causal=causal)
            return None, None
        if self.fallback_mode == "skip":
            record(rule, SKIPPED, f"{why}; fallback mode 'skip' keeps the layer as it is",
                   pads=decision.pads)
            return None, None
        modes = list(axis_modes(mode, rank))
        for index, *_ in problems:
            modes[index] = self.fallback_mode
        mode = normalize_layer_mode(tuple(modes), rank)
        axes = ", ".join(names[index] for index, *_ in problems)
        record(
            rule, FALLBACK, f"{why}; fallback {self.fallback_mode} on axis {axes}",
            pads=decision.pads, mode=mode, causal=causal,
        )
        return decision, mode

    def _named_by_mode_for(self, name, path) -> bool:
        return any(
            fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(path, glob)
            for glob, _ in self.mode_for
        )

    def _choice_for(self, name, path):
        """The `ModeChoice` of a layer: the last matching `mode_for` glob, else the default."""
        for glob, choice in reversed(self.mode_for):
            if fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(path, glob):
                return choice
        return self.choice

    def _selected(self, name, path):
        def matches(patterns):
            return [
                p for p in patterns if fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(path, p)
            ]

        excluded = matches(self.exclude)
        if excluded:
            return False, f"excluded by pattern {excluded[0]!r}"
        if self.include and not matches(self.include):
            return False, "not matched by any include pattern"
        return True, ""

    @staticmethod
    def _limit_problems(mode, input_shape, decision: Rewrite):
        """`(axis index, pair, size, mode)` for each axis whose pads its mode cannot give."""
        if input_shape is None:
            return []
        rank = len(decision.pads)
        sizes = spatial_sizes(input_shape, rank, decision.data_format)
        return [
            (index, pair, size, axis_mode)
            for index, (pair, size, axis_mode) in enumerate(
                zip(decision.pads, sizes, axis_modes(mode, rank))
            )
            if exceeded_limit(axis_mode, size, pair) is not None
        ]

    def refusal_message(self, mode, causal_mode):
        """The one-line error for the layers refused by the choices given, or None."""
        parts = []
        if self.refused_causal:
            paths = ", ".join(f"'{path}'" for path, _ in self.refused_causal)
            future = sorted({m for _, m in self.refused_causal})
            several = len(self.refused_causal) > 1
            parts.append(
                f"Causal convolution{'s' if several else ''} {paths} would read future "
                f"samples: {'/'.join(future)} padding on the time axis copies later "
                f"samples into {'their' if several else 'its'} left pad. Choose "
                "`causal_mode` 'replicate' or 'constant' (--causal-mode) to keep "
                f"{'them' if several else 'it'} causal, or 'as-mode' to accept it. "
                f"Received: mode={mode!r}, causal_mode={causal_mode!r}"
            )
        if len(self.refused_limits) == 1:
            (where, needs, phrase), = self.refused_limits
            parts.append(
                f"Layer {where} needs {needs}; {phrase}. Use `fallback_mode` 'replicate', "
                "'constant' or 'skip' (--fallback-mode), exclude the layer, use a larger "
                "input or mode 'replicate'/'constant'."
            )
        elif self.refused_limits:
            listed = ", ".join(
                f"{where} {needs.replace(', whose size is', ' of size')}"
                for where, needs, _ in self.refused_limits
            )
            phrases = "; ".join(sorted({phrase for _, _, phrase in self.refused_limits}))
            parts.append(
                f"{len(self.refused_limits)} layers need pads their mode cannot give "
                f"({phrases}): {listed}. Use `fallback_mode` 'replicate', 'constant' or "
                "'skip' (--fallback-mode), exclude these layers, use a larger input or "
                "mode 'replicate'/'constant'."
            )
        return " ".join(parts) or None

    # -- new layers ----------------------------------------------------------

    def _padding_layer(self, layer, decision: Rewrite, mode, call_index):
        rank = len(decision.pads)
        if decision.config is None:
            name = layer.name
        else:
            base = f"{layer.name}_pad" if call_index == 0 else f"{layer.name}_pad_{call_index}"
            name = self._unique(base)
        common = dict(
            mode=mode,
            constant_value=self._pad_value(decision, mode),
            data_format=decision.data_format,
            name=name,
            dtype=layer.dtype_policy,
        )
        if decision.same is not None:
            return SAME_PADDING_CLASSES[rank](
                kernel_size=decision.same.kernel_size,
                strides=decision.same.strides,
                dilation_rate=decision.same.dilation_rate,
                **common,
            )
        return PADDING_CLASSES[rank](padding=decision.pads, **common)

    def _unique(self, base):
        name, suffix = base, 1
        while name in self.taken_names:
            name = f"{base}_{suffix}"
            suffix += 1
        self.taken_names.add(name)
        return name


_MISSING = object()


def _plain(value) -> bool:
    """True for a value a JSON config can hold as it is."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _is_plain_functional(model) -> bool:
    return type(model).__name__ == "Functional" and internals.is_functional(model)


def _class_change(model, new_model, path) -> ModelNote:
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


def _shared_layer_note(layer, cause, saveable=True) -> ModelNote:
    reason = (
        f"is not rewritten and cannot be rebuilt from its own config ({cause}); the same "
        "instance is used, sharing its weights with the input model"
    )
    if not saveable:
        reason += "; without a config Keras cannot save it, so the rewritten model cannot be saved"
    return ModelNote(path=layer.name, class_name=type(layer).__name__, change=LAYER_SHARED,
                     reason=reason)


def _rebuild_cause(own, error) -> str:
    """Why a layer cannot be rebuilt from its config, on one line: its get_config()
    failing (`own`, its `config_of`), or `error`, what rebuilding from it raised."""
    if own.failed:
        return f"its get_config() fails: {own.cause}"
    return load_error_cause(error)


def _recorded_copy(layer, cause):
    """`(copy, note)`: the holder `layer` rebuilt from the constructor arguments Keras
    recorded when it was made; None when there are none or they do not rebuild it.

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
    try:
        parameters = list(inspect.signature(type(layer).__init__).parameters.values())
    except (TypeError, ValueError):
        return None
    base = internals.base_layer_config(layer)
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in parameters)
    if not takes_kwargs and not set(base) <= {p.name for p in parameters[1:]}:
        return None  # the copy could not keep the layer's name
    config = {**arguments, **base}
    try:
        with internals.unsafe_deserialization():
            new_layer = type(layer).from_config(config)
    except Exception:  # the recorded arguments do not fit its from_config: none to offer
        return None
    new_layer.get_config = lambda: {
        **config, "name": new_layer.name, "trainable": new_layer.trainable,
    }
    shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    note = ModelNote(
        path=layer.name,
        class_name=type(layer).__name__,
        change=CONFIG_COMPLETED,
        reason=(
            f"cannot be rebuilt from its own config ({cause}); it is rebuilt from the "
            f"constructor arguments Keras recorded when it was made ({shown}), and the "
            "written file records them as its config, so it loads"
        ),
    )
    return new_layer, note


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


def _completed_config(layer, own):
    """`(config, read)`: `layer`'s config completed with the constructor arguments `read`
    from its same-named attributes; None when some cannot be read (no such attribute,
    or not a plain value) or the class takes no arguments it could be given.

    `own` is its `config_of`. When that holds a config, only the required arguments it
    lacks are read; when get_config() failed, the config is `keras.layers.Layer`'s own
    and every argument of the class' own constructor is read.
    """
    try:
        parameters = list(inspect.signature(type(layer).__init__).parameters.values())
    except (TypeError, ValueError):
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


def _refuse_saving(model, unsaveable):
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


def _mixed_shared_layer(layer) -> RewriteError:
    return RewriteError(
        f"Shared layer '{layer.name}' is rewritten on some calls and not on others, "
        "so one shared copy cannot serve both; exclude it or un-share it."
    )


def _describe(rule: Rule, decision: Rewrite) -> str:
    if decision.same is not None:
        return "'same' pads computed from the run-time shape (size unknown, stride > 1)"
    if decision.config is None:
        return "padding layer now pads in the chosen mode"
    return f"explicit pads, then padding='valid' ({rule.name})"


def _reached_shape(conv):
    """The input shape a convolution held by another layer is given to its rule.

    Its build shape where known, with the size of every strided axis unknown
    (see `_free_strided_axes`).
    """
    config = conv.get_config()
    rank = len(as_tuple(config["kernel_size"], 1))
    build = (conv.get_build_config() or {}).get("input_shape") if conv.built else None
    shape = tuple(build) if build is not None and len(build) == rank + 2 else (None,) * (rank + 2)
    return _free_strided_axes(conv, shape)


def _held_shape(layer):
    """The input shape a layer held by another one is probed at: its build shape."""
    build = (layer.get_build_config() or {}).get("input_shape") if layer.built else None
    if build is None or not all(isinstance(d, (int, type(None))) for d in build):
        return None
    return tuple(build)


def _free_strided_axes(layer, shape):
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


def _tensors(structure) -> list:
    """The symbolic tensors in a call's (nested) arguments, in order.

    Keras records the other arguments as they were given (a float, an int,
    None, a NumPy array, lists and dicts of them) and passes them on unchanged.
    """
    return [x for x in keras.tree.flatten(structure) if isinstance(x, keras.KerasTensor)]


def _fresh_input(tensor):
    """A new Input like `tensor`, named after its InputLayer."""
    layer = internals.producing_layer(tensor)
    name = layer.name if layer is not None else tensor.name
    return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=name)


def _nodes_of(functional):
    nodes = set()
    for depth_nodes in internals.nodes_by_depth(functional).values():
        nodes.update(depth_nodes)
    return nodes


def _consumers_by_tensor(functional):
    """For each layer call (layer id, call number): the layers consuming its outputs."""
    nodes = _nodes_of(functional)
    consuming: dict[int, list] = {}
    for node in nodes:
        if node.operation is None or node.is_input:
            continue
        for tensor in node.input_tensors:
            consuming.setdefault(id(tensor), []).append(node.operation)
    for tensor in functional.outputs:
        consuming.setdefault(id(tensor), []).append(MODEL_OUTPUT)
    result: dict[int, dict[int, tuple]] = {}
    by_depth = internals.nodes_by_depth(functional)
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            calls = result.setdefault(id(node.operation), {})
            found = []
            for tensor in node.outputs:
                found.extend(consuming.get(id(tensor), []))
            calls[len(calls)] = tuple(found)
    return result
