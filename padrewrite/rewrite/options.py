"""The choices of one rewrite, as one value: `RewriteOptions`, normalised and checked once.

Every accepted form of an argument (a mode name or per-axis text, a dict of
per-layer modes, aliases) becomes one canonical form when the value is made;
the engine reads only that form. A wrong argument is an `InputError` in
Keras' style, naming it (`Received: causal_mode='future'`).
"""

from __future__ import annotations

from dataclasses import dataclass

from padrewrite.errors import InputError
from padrewrite.modes import (
    CAUSAL_MODES,
    FALLBACK_MODES,
    ModeChoice,
    check_choice,
    check_constant_value,
    parse_mode,
    parse_mode_for,
)
from padrewrite.rules import RULE_NAMES, RULES, Rule

__all__ = ["RewriteOptions"]


@dataclass(frozen=True)
class RewriteOptions:
    """How a model is rewritten; see `rewrite_model` for the meaning of each field.

    Made from the forms `rewrite_model` accepts, a value holds: `mode`, a
    `ModeChoice`; `constant_value`, a float (0.0 unless a constant mode is
    chosen somewhere); `include`, `exclude`, `rules` and `skip_rules`,
    tuples of strings; `mode_for`, `(glob, ModeChoice)` pairs, later pairs
    winning; `causal_mode` and `fallback_mode`, one of their choices or None.
    """

    mode: ModeChoice | str = "reflect"
    constant_value: float = 0.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    skip_rules: tuple[str, ...] = ()
    mode_for: tuple[tuple[str, ModeChoice], ...] = ()
    causal_mode: str | None = None
    fallback_mode: str | None = None

    def __post_init__(self):
        mode = parse_mode(self.mode)
        mode_for = parse_mode_for(self.mode_for)
        causal_mode = check_choice(self.causal_mode, CAUSAL_MODES, "causal_mode")
        fallback_mode = check_choice(self.fallback_mode, FALLBACK_MODES, "fallback_mode")
        used = set(mode.modes).union(*(c.modes for _, c in mode_for), {causal_mode, fallback_mode})
        constant_value = check_constant_value(
            "constant" if "constant" in used else str(mode), self.constant_value
        )
        for argument in ("rules", "skip_rules"):
            names = tuple(getattr(self, argument))
            unknown = [name for name in names if name not in RULE_NAMES]
            if unknown:
                raise InputError(
                    f"`{argument}` must name known rules ({', '.join(RULE_NAMES)}). "
                    f"Received: {argument}={list(names)!r}"
                )
            object.__setattr__(self, argument, names)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "mode_for", mode_for)
        object.__setattr__(self, "causal_mode", causal_mode)
        object.__setattr__(self, "fallback_mode", fallback_mode)
        object.__setattr__(self, "constant_value", constant_value)
        object.__setattr__(self, "include", tuple(self.include))
        object.__setattr__(self, "exclude", tuple(self.exclude))

    @property
    def probing_rules(self) -> tuple[Rule, ...]:
        """The enabled rules that recognise layers by calling them (they run layer code)."""
        return tuple(
            r for r in RULES
            if r.calls_layer and r.name in self.rules and r.name not in self.skip_rules
        )
