"""The decision for one layer call: which rule, whether it is selected, in which mode.

`decide` is a function of the call and the options only. It returns a
`Decision`: the rule's `Rewrite` and the mode its padding takes when the
call is rewritten, the call's report record (`LayerRecord`), and a refusal
when the choices given refuse it. The walk appends the record as returned;
nothing changes it afterwards. In order:

1. the rules concerned (by class; a rule that probes layers only when enabled);
   none: a layer that pads 'same'/'causal' anyway is skipped with the reason;
2. the layer's config: the first rule whose predicate holds, unless disabled
   or opt-in and not enabled;
3. selection: `include`/`exclude` globs on the name or the nested path;
4. the rule's own decision (`Rewrite` or `Leave`);
5. the mode: the one an adopting rule found, or the last `mode_for` glob
   naming the layer, or `mode`;
6. causal convolutions: `causal_mode` keeps them causal, accepts a mode that
   reads the future, or refuses it;
7. limits: pads a mode cannot give (reflect: pad < size) are refused, padded
   in `fallback_mode` on those axes, or the layer is skipped.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

from padrewrite.errors import InputError
from padrewrite.modes import (
    AXIS_NAMES,
    FUTURE_READING_MODES,
    axis_modes,
    exceeded_limit,
    format_mode,
    limit_phrase,
    normalize_layer_mode,
)
from padrewrite.output.report import (
    FALLBACK,
    REFUSED,
    REWRITTEN,
    SKIPPED,
    UNCHANGED,
    LayerRecord,
)
from padrewrite.rewrite.options import RewriteOptions
from padrewrite.rewrite.refusal import ExceedsLimit, ReadsFuture, RewriteError
from padrewrite.rewrite.unreached import (
    PADDED,
    config_of,
    kind_of,
    padding_of,
    unreached_reason,
)
from padrewrite.rules import RULES, CallSite, Leave, Rewrite, Rule
from padrewrite.rules.geometry import spatial_sizes

__all__ = ["Decision", "decide"]


@dataclass(frozen=True)
class Decision:
    """What to do with one layer call, and what the report says of it.

    `rewrite` and `mode` are set when the call is rewritten: the rule's
    `Rewrite`, and the mode its padding takes (a name, or one per spatial
    axis). `record` is the call's report row, None for a layer that is no
    news. `refusal` is set when the choices given refuse the call
    (`ReadsFuture` or `ExceedsLimit`); the rewrite then stops once the walk
    is complete.
    """

    record: LayerRecord | None = None
    rewrite: Rewrite | None = None
    mode: str | tuple[str, ...] | None = None
    refusal: ReadsFuture | ExceedsLimit | None = None


@dataclass(frozen=True)
class _Subject:
    """The layer call being decided: what each of its possible records repeats.

    `kind` is the report kind before a rule is chosen; `computed`, the mode an
    adopting rule found the layer to compute.
    """

    site: CallSite
    path: str
    call_index: int
    kind: str
    rule: Rule | None = None
    computed: str | tuple[str, ...] | None = None

    @property
    def layer(self):
        return self.site.layer

    def record(self, action, reason, pads=None, mode=None, causal=None) -> LayerRecord:
        return LayerRecord(
            path=self.path,
            name=self.layer.name,
            class_name=type(self.layer).__name__,
            kind=self.kind if self.rule is None else self.rule.kind,
            action=action,
            rule=None if self.rule is None else self.rule.name,
            reason=reason,
            pads=pads,
            mode=None if mode is None else format_mode(mode),
            call_index=self.call_index,
            causal=causal,
            computed=None if self.computed is None else format_mode(self.computed),
        )


def decide(site: CallSite, path: str, call_index: int, options: RewriteOptions) -> Decision:
    """The decision for the call `site` of a layer at `path` (its `call_index`-th call).

    Raises:
        RewriteError: the mode chosen for the layer does not fit its rank.
    """
    layer = site.layer
    probing = options.probing_rules
    candidates = [r for r in RULES if r.concerns(layer) and (not r.calls_layer or r in probing)]
    if not candidates:
        reason = unreached_reason(layer)
        if reason is None:
            return Decision()
        return Decision(_Subject(site, path, call_index, kind_of(layer)).record(SKIPPED, reason))
    config = config_of(layer)
    if config.failed:
        if not any(r.calls_layer for r in candidates):
            return _without_config(_Subject(site, path, call_index, candidates[0].kind), config,
                                   all(r.opt_in for r in candidates))
        # A rule that probes what the layer computes needs no config of it.
        candidates = [r for r in candidates if r.calls_layer]
    subject = _Subject(site, path, call_index, candidates[0].kind)
    applying = [r for r in candidates if r.applies(config)]
    if not applying:
        # Layers only opt-in rules could concern (e.g. 'valid' pooling) are not news.
        if all(r.opt_in for r in candidates):
            return Decision()
        return Decision(subject.record(UNCHANGED, f"padding={config.get('padding')!r}"))
    return _by_rule(replace(subject, rule=applying[0]), options)


def _without_config(subject: _Subject, config, opt_in_only: bool) -> Decision:
    """A layer whose get_config() fails: its padding is read from the attribute."""
    padding = padding_of(subject.layer)
    if padding in PADDED:
        return Decision(subject.record(SKIPPED, (
            f"padding={padding!r}, but its get_config() fails ({config.cause}): no "
            "copy of it with padding='valid' can be built; left as it is"
        )))
    if opt_in_only:
        return Decision()
    return Decision(subject.record(
        UNCHANGED, f"padding={padding!r} (its attribute: its get_config() fails: {config.cause})"
    ))


def _by_rule(subject: _Subject, options: RewriteOptions) -> Decision:
    """The decision once `subject.rule` is the rule whose predicate holds."""
    rule, layer = subject.rule, subject.layer
    if rule.name in options.skip_rules:
        return Decision(subject.record(SKIPPED, f"rule '{rule.name}' is disabled"))
    if rule.opt_in and rule.name not in options.rules:
        built = rule.build(subject.site)
        if isinstance(built, Rewrite):
            return Decision(subject.record(
                SKIPPED, f"opt-in rule '{rule.name}' is not enabled", pads=built.pads
            ))
        return Decision(subject.record(built.action, built.reason))
    why_not = _not_selected(layer.name, subject.path, options)
    if why_not and not rule.calls_layer:
        return Decision(subject.record(SKIPPED, why_not))
    # A rule that probes layers first finds whether the layer is its concern at all.
    built = rule.build(subject.site)
    if isinstance(built, Leave):
        return Decision(subject.record(built.action, built.reason) if built.recorded else None)
    subject = replace(subject, computed=built.mode)
    if why_not:
        return Decision(subject.record(SKIPPED, why_not, pads=built.pads))
    if built.mode is not None and _named_by_mode_for(layer.name, subject.path, options):
        built = replace(built, mode=None)  # the per-layer mode replaces the one found
    return _rewritten(subject, built, options)


def _rewritten(subject: _Subject, rewrite: Rewrite, options: RewriteOptions) -> Decision:
    """The decision for a selected call the rule rewrites: its mode, causality and limits."""
    rank = len(rewrite.pads)
    try:
        if rewrite.mode is not None:
            mode = normalize_layer_mode(rewrite.mode, rank)
        else:
            mode = _choice_for(subject.layer.name, subject.path, options).for_rank(rank)
    except InputError as error:
        raise RewriteError(
            f"Layer '{subject.path}' ({type(subject.layer).__name__}): {error}"
        ) from None
    reason = rewrite.reason or _describe(subject.rule, rewrite)
    if subject.computed is not None and rewrite.mode is None:
        reason += f"; now {format_mode(mode)}, the per-layer mode given for it"
    causal = None
    if rewrite.causal:
        if options.causal_mode in ("replicate", "constant"):
            mode = options.causal_mode
        future = [m for m in axis_modes(mode, rank) if m in FUTURE_READING_MODES]
        causal = not future
        if future and options.causal_mode != "as-mode":
            return Decision(
                subject.record(
                    REFUSED,
                    f"causal convolution: {future[0]} padding on the time axis copies "
                    "future samples into its left pad; causal_mode 'replicate' or "
                    "'constant' keeps it causal, 'as-mode' accepts it",
                    pads=rewrite.pads, mode=mode, causal=False,
                ),
                refusal=ReadsFuture(subject.path, future[0]),
            )
        if future:
            reason += (
                f"; NOT causal: {future[0]} padding copies future samples into the "
                "left pad (causal_mode 'as-mode')"
            )
    problems = _limit_problems(mode, subject.site.input_shape, rewrite)
    if not problems:
        record = subject.record(REWRITTEN, reason, pads=rewrite.pads, mode=mode, causal=causal)
        return Decision(record, rewrite, mode)
    return _beyond_limits(subject, rewrite, mode, causal, problems, options.fallback_mode)


def _beyond_limits(subject, rewrite, mode, causal, problems, fallback_mode) -> Decision:
    """The decision for a call needing pads its mode cannot give on some axes (`problems`):
    refused without a fallback mode, skipped with 'skip', else those axes in the fallback."""
    rank = len(rewrite.pads)
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
    pads = rewrite.pads
    if fallback_mode is None:
        index, pair, size, axis_mode = problems[0]
        refusal = ExceedsLimit(
            subject.path, type(subject.layer).__name__, index, pair, size, axis_mode
        )
        record = subject.record(REFUSED, f"{why}; no fallback mode", pads, mode, causal)
        return Decision(record, refusal=refusal)
    if fallback_mode == "skip":
        return Decision(subject.record(
            SKIPPED, f"{why}; fallback mode 'skip' keeps the layer as it is", pads=pads
        ))
    modes = list(axis_modes(mode, rank))
    for index, *_ in problems:
        modes[index] = fallback_mode
    mode = normalize_layer_mode(tuple(modes), rank)
    axes = ", ".join(names[index] for index, *_ in problems)
    record = subject.record(
        FALLBACK, f"{why}; fallback {fallback_mode} on axis {axes}", pads, mode, causal
    )
    return Decision(record, rewrite, mode)


def _limit_problems(mode, input_shape, rewrite: Rewrite):
    """`(axis index, pair, size, mode)` for each axis whose pads its mode cannot give."""
    if input_shape is None:
        return []
    rank = len(rewrite.pads)
    sizes = spatial_sizes(input_shape, rank, rewrite.data_format)
    return [
        (index, pair, size, axis_mode)
        for index, (pair, size, axis_mode) in enumerate(
            zip(rewrite.pads, sizes, axis_modes(mode, rank))
        )
        if exceeded_limit(axis_mode, size, pair) is not None
    ]


def _describe(rule: Rule, rewrite: Rewrite) -> str:
    if rewrite.same is not None:
        return "'same' pads computed from the run-time shape (size unknown, stride > 1)"
    if rewrite.config is None:
        return "padding layer now pads in the chosen mode"
    return f"explicit pads, then padding='valid' ({rule.name})"


# -- selection by name or path -------------------------------------------------------------


def _matches(name: str, path: str, globs) -> list[str]:
    return [g for g in globs if fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(path, g)]


def _not_selected(name: str, path: str, options: RewriteOptions) -> str:
    """Why `include`/`exclude` leave the layer out, or "" when it is selected."""
    excluded = _matches(name, path, options.exclude)
    if excluded:
        return f"excluded by pattern {excluded[0]!r}"
    if options.include and not _matches(name, path, options.include):
        return "not matched by any include pattern"
    return ""


def _named_by_mode_for(name: str, path: str, options: RewriteOptions) -> bool:
    return bool(_matches(name, path, [glob for glob, _ in options.mode_for]))


def _choice_for(name: str, path: str, options: RewriteOptions):
    """The `ModeChoice` of a layer: the last matching `mode_for` glob, else `mode`."""
    for glob, choice in reversed(options.mode_for):
        if _matches(name, path, [glob]):
            return choice
    return options.mode
