"""One rewrite from start to end: `rewrite_model`, and `Run`, the state its parts share.

`rewrite_model` turns its keyword arguments into a `RewriteOptions` value;
`rewrite_with_options` walks the model (`graph.py`, or `held.py` for a
subclassed model), copies the weights, and returns the new model with its
report, or raises the refusal once every layer has its record.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, replace

import keras

from padrewrite.keras_side import keras_internals as internals
from padrewrite.output.report import LayerRecord, ModelNote, RewriteReport
from padrewrite.rewrite import graph, held
from padrewrite.rewrite.attributes import is_graph
from padrewrite.rewrite.copying import refuse_saving
from padrewrite.rewrite.decide import Decision
from padrewrite.rewrite.options import RewriteOptions
from padrewrite.rewrite.refusal import RewriteError, refusal_message

__all__ = ["RewriteResult", "Run", "rewrite_model", "rewrite_with_options"]


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
    options = RewriteOptions(
        mode, constant_value, include=include, exclude=exclude, rules=rules,
        skip_rules=skip_rules, mode_for=mode_for, causal_mode=causal_mode,
        fallback_mode=fallback_mode,
    )
    return rewrite_with_options(model, options)


def rewrite_with_options(model: keras.Model, options: RewriteOptions) -> RewriteResult:
    """`rewrite_model` with its choices given as one `RewriteOptions` value."""
    subclassed = isinstance(model, keras.Model) and not is_graph(model)
    if not subclassed:
        graph.check_graph(model, model.name)
    all_layers = internals.flatten_layers(model)
    run = Run(options, taken_names={layer.name for layer in all_layers})
    with _recursion_room(len(all_layers)):
        if subclassed:
            new_model = held.rebuild_subclassed(run, model)
        else:
            new_model = run.rebuild(model, prefix="")
    for old, new in run.copied.values():
        new.set_weights(old.get_weights())
    if run.unsaveable and new_model is not model:
        refuse_saving(new_model, run.unsaveable)
    report = RewriteReport(
        model_name=model.name,
        mode=str(options.mode),
        constant_value=options.constant_value,
        records=tuple(run.records),
        notes=tuple(run.notes),
        mode_for=tuple((glob, str(choice)) for glob, choice in options.mode_for),
        causal_mode=options.causal_mode,
        fallback_mode=options.fallback_mode,
    )
    refusal = refusal_message(run.refusals, str(options.mode), options.causal_mode)
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


class Run:
    """The state of one rewrite, shared by the graph walk, the held layers and the copies.

    What stands in for each original layer (`copies`, by id), which original
    each copy takes its weights from (`copied`), how often each layer was
    called so far, the names in use, and what the report will say: the
    records in walk order, the notes, the refused calls and the layers kept
    without a config (`unsaveable`, with the cause).
    """

    def __init__(self, options: RewriteOptions, taken_names):
        self.options = options
        self.taken_names = set(taken_names)
        self.records: list[LayerRecord] = []
        self.notes: list[ModelNote] = []
        self.refusals: list = []
        self.unsaveable: list[tuple[object, str]] = []
        self.copies: dict[int, object] = {}
        #: ids of the layers whose copy is a rewritten one (or their padding layer).
        self.rewritten_copies: set[int] = set()
        #: id of a layer -> (original whose weights it takes, copy).
        self.copied: dict[int, tuple[object, object]] = {}
        self.call_counts: dict[int, int] = {}
        #: id of a layer the padding layer replaces -> (pads, mode) of its first call.
        self.shared_pads: dict[int, tuple] = {}
        #: > 0 while rebuilding a graph model held by a custom layer.
        self.held_depth = 0

    # -- the two walks, which enter each other ---------------------------------------------

    def rebuild(self, model, prefix):
        """The rewritten copy of the graph `model` (`graph.rebuild`)."""
        return graph.rebuild(self, model, prefix)

    def reach(self, layer, prefix, owner_path=None):
        """A copy of the non-graph `layer` with the layers it holds rewritten, or None
        (`held.reach`)."""
        return held.reach(self, layer, prefix, owner_path)

    # -- state -----------------------------------------------------------------------------

    def record(self, decision: Decision, pad_layer: str | None = None) -> None:
        """Add a decision's record (naming the padding layer put in, if any) and refusal."""
        if decision.record is not None:
            record = decision.record
            if pad_layer is not None:
                record = replace(record, pad_layer=pad_layer)
            self.records.append(record)
        if decision.refusal is not None:
            self.refusals.append(decision.refusal)

    def stand_in(self, layer, copy, weights_from=None, rewritten=False) -> None:
        """Remember `copy` as what stands in for `layer` at every call; it takes the
        weights of `weights_from` when given."""
        self.copies[id(layer)] = copy
        if rewritten:
            self.rewritten_copies.add(id(layer))
        if weights_from is not None:
            self.copied[id(layer)] = (weights_from, copy)

    def next_call_index(self, layer) -> int:
        """The index of this call of `layer` (0 for its first)."""
        index = self.call_counts.get(id(layer), 0)
        self.call_counts[id(layer)] = index + 1
        return index

    def unique(self, base: str) -> str:
        """`base`, or `base_1`, `base_2`, ...: the first name not in use, now taken."""
        name, suffix = base, 1
        while name in self.taken_names:
            name = f"{base}_{suffix}"
            suffix += 1
        self.taken_names.add(name)
        return name
