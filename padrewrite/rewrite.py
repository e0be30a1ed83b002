"""The rewrite engine: rebuild a Keras graph, applying the rules to every layer call.

Functional and Sequential models are rebuilt node by node (nested models
recursively, to any depth). Every layer gets a fresh copy (from its config)
and its weights; a layer a rule rewrites is preceded by a padding layer per
call, while its replacement stays shared between calls, as the original was.
"""

from __future__ import annotations

import contextlib
import fnmatch
import sys
from dataclasses import dataclass, replace

import keras

from padrewrite import keras_internals as internals
from padrewrite.errors import InputError
from padrewrite.layers import PADDING_CLASSES, SAME_PADDING_CLASSES
from padrewrite.modes import (
    check_constant_value,
    exceeded_limit,
    limit_phrase,
    normalize_mode,
)
from padrewrite.report import (
    CLASS_CHANGED,
    LAYER_SHARED,
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
from padrewrite.rules.geometry import spatial_sizes
from padrewrite.rules.unreached import (
    RECURRENT_CONVOLUTIONS,
    hidden_reason,
    kind_of,
    pads_implicitly,
    unreached_reason,
)

__all__ = ["RewriteError", "RewriteResult", "rewrite_model"]


class RewriteError(InputError):
    """A model the engine cannot rewrite exactly; the message says why and what to do."""


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
) -> RewriteResult:
    """Return a new model whose 'same'/'causal' layers pad explicitly in `mode`.

    Args:
        model: a Functional or Sequential Keras model (nested models allowed);
            it is left untouched.
        mode: "constant", "reflect", "replicate", "symmetric" or "circular"
            (aliases "zero", "edge", "wrap").
        constant_value: fill value in constant mode.
        include: layer-name globs; when given, only matching layers are rewritten.
        exclude: layer-name globs never rewritten.
        rules: opt-in rules to enable (e.g. "zero-padding", "pooling-same").
        skip_rules: rules to disable.

    Globs match a layer's name or its path through nested models (`outer/conv1`).
    """
    mode = normalize_mode(mode)
    constant_value = check_constant_value(mode, constant_value)
    for argument, names in (("rules", rules), ("skip_rules", skip_rules)):
        unknown = [name for name in names if name not in RULE_NAMES]
        if unknown:
            raise InputError(
                f"`{argument}` must name known rules ({', '.join(RULE_NAMES)}). "
                f"Received: {argument}={list(names)!r}"
            )
    _check_graph(model, model.name)
    all_layers = _all_layers(model)
    rewriter = _Rewriter(
        mode=mode,
        constant_value=constant_value,
        include=tuple(include),
        exclude=tuple(exclude),
        enabled_opt_in=frozenset(rules),
        disabled=frozenset(skip_rules),
        taken_names={layer.name for layer in all_layers},
    )
    with _recursion_room(len(all_layers)):
        new_model = rewriter.rebuild(model, prefix="")
    for old, new in rewriter.weight_pairs:
        new.set_weights(old.get_weights())
    report = RewriteReport(
        model_name=model.name,
        mode=mode,
        constant_value=rewriter.constant_value,
        records=tuple(rewriter.records),
        notes=tuple(rewriter.notes),
    )
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
        self, mode, constant_value, include, exclude, enabled_opt_in, disabled, taken_names
    ):
        self.mode = mode
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
        self.records: list[LayerRecord] = []
        self.notes: list[ModelNote] = []

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

    def _rebuild_functional(self, model, prefix):
        consumers = _consumers_by_tensor(model)
        inputs = keras.tree.map_structure(_fresh_input, model.input)

        def call(layer, *args, **kwargs):
            first = keras.tree.flatten(args)[0] if args else None
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
        pad, new_layer = self._replacements(layer, prefix, shape, site_consumers)
        if pad is not None:
            padded = pad(args[0])
            if new_layer is None:
                return padded
            args = (padded, *args[1:])
        return new_layer(*args, **kwargs)

    def _replacements(self, layer, prefix, input_shape, site_consumers):
        """`(padding layer or None, layer or None)` standing in for one call of `layer`."""
        call_index = self.call_counts.get(id(layer), 0)
        self.call_counts[id(layer)] = call_index + 1
        if _is_graph_model(layer):
            return None, self.rebuild(layer, f"{prefix}{layer.name}/")
        if not isinstance(layer, keras.layers.Layer):
            return None, layer  # a keras.ops operation: no weights, no padding
        decision = self._decide(layer, prefix, input_shape, site_consumers, call_index)
        if not isinstance(decision, Rewrite):
            if id(layer) not in self.copies and not isinstance(layer, RECURRENT_CONVOLUTIONS):
                self._report_hidden_convolutions(layer, prefix)
            return None, self._copy(layer)
        if decision.config is None:
            # The padding layer replaces the layer: one shared copy, as the original.
            if id(layer) not in self.copies:
                self.copies[id(layer)] = self._padding_layer(layer, decision, call_index)
                self.rewritten_copies.add(id(layer))
            elif id(layer) not in self.rewritten_copies:
                raise _mixed_shared_layer(layer)
            pad = self.copies[id(layer)]
            self.records[-1] = replace(self.records[-1], pad_layer=pad.name)
            return pad, None
        pad = self._padding_layer(layer, decision, call_index)
        self.records[-1] = replace(self.records[-1], pad_layer=pad.name)
        return pad, self._copy(layer, config=decision.config)

    def _copy(self, layer, config=None):
        """A fresh copy of `layer` (from `config` if given), one per original layer."""
        rewritten = config is not None
        if id(layer) in self.copies:
            if (id(layer) in self.rewritten_copies) != rewritten:
                raise _mixed_shared_layer(layer)
            return self.copies[id(layer)]
        try:
            # The layer is already in memory: rebuilding it (a Lambda's function
            # included) runs no code that was not loaded already.
            with internals.unsafe_deserialization():
                new_layer = type(layer).from_config(config or layer.get_config())
        except Exception as error:
            if rewritten:
                raise RewriteError(
                    f"Layer '{layer.name}' ({type(layer).__name__}) cannot be rebuilt "
                    f"from its config ({type(error).__name__}: {error}); give it a "
                    "complete get_config() or exclude it."
                ) from error
            # Not rewritten: keep the very instance (and its weights) working.
            self.copies[id(layer)] = layer
            self.notes.append(_shared_layer_note(layer, error))
            return layer
        self.copies[id(layer)] = new_layer
        if rewritten:
            self.rewritten_copies.add(id(layer))
        self.copied[id(layer)] = (layer, new_layer)
        return new_layer

    def _report_hidden_convolutions(self, layer, prefix):
        """Report layers held by a wrapper or a custom layer that pad 'same'/'causal'."""
        for inner in internals.flatten_layers(layer):
            if pads_implicitly(inner):
                self.records.append(
                    LayerRecord(
                        path=f"{prefix}{layer.name}/{inner.name}",
                        name=inner.name,
                        class_name=type(inner).__name__,
                        kind=kind_of(inner),
                        action=SKIPPED,
                        rule=None,
                        reason=hidden_reason(layer, inner),
                    )
                )

    # -- decisions -----------------------------------------------------------

    def _decide(self, layer, prefix, input_shape, site_consumers, call_index):
        candidates = [r for r in RULES if isinstance(layer, r.layer_types)]
        path = f"{prefix}{layer.name}"
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
            return None
        config = layer.get_config()
        applying = [r for r in candidates if r.applies(config)]

        def record(rule: Rule | None, action, reason, pads=None, kind=None):
            self.records.append(
                LayerRecord(
                    path=path,
                    name=layer.name,
                    class_name=type(layer).__name__,
                    kind=kind or (rule or candidates[0]).kind,
                    action=action,
                    rule=rule.name if rule else None,
                    reason=reason,
                    pads=pads,
                    mode=self.mode if action == REWRITTEN else None,
                    call_index=call_index,
                )
            )

        if not applying:
            # Layers only opt-in rules could concern (e.g. 'valid' pooling) are not news.
            if not all(r.opt_in for r in candidates):
                record(None, UNCHANGED, f"padding={config.get('padding')!r}")
            return None
        rule = applying[0]
        if rule.name in self.disabled:
            record(rule, SKIPPED, f"rule '{rule.name}' is disabled")
            return None
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
            return None
        selected, why_not = self._selected(layer.name, path)
        if not selected:
            record(rule, SKIPPED, why_not)
            return None
        decision = rule.build(CallSite(layer, input_shape, site_consumers))
        if isinstance(decision, Leave):
            record(rule, decision.action, decision.reason)
            return decision
        self._check_limits(layer, path, input_shape, decision)
        record(rule, REWRITTEN, _describe(rule, decision), pads=decision.pads)
        return decision

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

    def _check_limits(self, layer, path, input_shape, decision: Rewrite):
        if self.mode == "constant" or input_shape is None:
            return
        sizes = spatial_sizes(input_shape, len(decision.pads), decision.data_format)
        for index, (pair, size) in enumerate(zip(decision.pads, sizes)):
            limit = exceeded_limit(self.mode, size, pair)
            if limit is not None:
                raise RewriteError(
                    f"Layer '{path}' ({type(layer).__name__}) needs pads {pair} on "
                    f"spatial axis {index}, whose size is {size}; {self.mode} "
                    f"padding must be {limit_phrase(self.mode)}. Exclude this "
                    "layer, use a larger input or mode 'replicate'/'constant'."
                )

    # -- new layers ----------------------------------------------------------

    def _padding_layer(self, layer, decision: Rewrite, call_index):
        rank = len(decision.pads)
        if decision.config is None:
            name = layer.name
        else:
            base = f"{layer.name}_pad" if call_index == 0 else f"{layer.name}_pad_{call_index}"
            name = self._unique(base)
        common = dict(
            mode=self.mode,
            constant_value=self.constant_value if self.mode == "constant" else 0.0,
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
    try:
        arguments = sorted(
            set(model.get_config()) - {"name", "trainable", "layers", "input_layers",
                                        "output_layers", "dtype", "build_input_shape"}
        )
    except Exception:  # a subclass whose get_config needs arguments it never stored
        arguments = []
    cls = type(model)
    return ModelNote(
        path=path,
        class_name=f"{cls.__module__}.{cls.__qualname__}",
        change=CLASS_CHANGED,
        new_class_name="Sequential" if base is keras.Sequential else "Functional",
        lost=tuple([f"{name}()" for name in methods] + [f"config '{a}'" for a in arguments]),
        reason=(
            "its class would rebuild the original layers from its constructor "
            "arguments when loaded, undoing the rewrite; the graph, weights and "
            "names are kept"
        ),
    )


def _shared_layer_note(layer, error) -> ModelNote:
    return ModelNote(
        path=layer.name,
        class_name=type(layer).__name__,
        change=LAYER_SHARED,
        reason=(
            "is not rewritten and cannot be rebuilt from its own config "
            f"({type(error).__name__}: {' '.join(str(error).split())[:200]}); the same "
            "instance is used, sharing its weights with the input model"
        ),
    )


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
