"""Result records of a rewrite (no Keras); `padrewrite.output.render` turns them into text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

REWRITTEN, SKIPPED, UNCHANGED = "rewritten", "skipped", "unchanged"
#: Rewritten, but some axis in the fallback mode (the chosen one cannot pad it).
FALLBACK = "fallback"
#: Not rewritten because the choices given do not allow it (a pad too large
#: for the mode with no fallback, a causal convolution that would read the
#: future); `rewrite_model` raises, and a plan shows these records.
REFUSED = "refused"


@dataclass(frozen=True)
class LayerRecord:
    """What happened to one call of one layer the rules concern.

    `path` is the layer's name prefixed by the nested models it sits in
    (`outer/backbone/conv1`); `pads` has one `[before, after]` per spatial
    axis, `None` for an amount computed at run time. `mode` is the mode the
    layer pads (or would pad) in: "reflect", or per axis
    "H=constant,W=circular". `causal` is set for causal convolutions only:
    whether the rewrite still reads no future sample. `computed` is set for
    adopted padding layers only: the mode the layer was found to compute
    (`mode` differs from it when a per-layer mode names the layer).
    """

    path: str
    name: str
    class_name: str
    kind: str
    action: str
    rule: str | None
    reason: str
    pads: tuple | None = None
    mode: str | None = None
    pad_layer: str | None = None
    call_index: int = 0
    causal: bool | None = None
    computed: str | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.pads is not None:
            data["pads"] = [None if p is None else list(p) for p in self.pads]
        return data


#: `ModelNote.change` values.
CLASS_CHANGED, LAYER_SHARED = "class-changed", "layer-shared"
CONFIG_COMPLETED = "config-completed"


@dataclass(frozen=True)
class ModelNote:
    """A change to the model beyond its padding, which the user must know about.

    `change` is `CLASS_CHANGED` (a model subclass saved as a plain Functional
    or Sequential model; `lost` names its own methods and constructor
    arguments), `LAYER_SHARED` (a layer that its own config cannot rebuild,
    kept as the same instance as in the input model) or `CONFIG_COMPLETED`
    (such a layer rebuilt once its config got the constructor arguments it
    left out, read from its attributes).
    """

    path: str
    class_name: str
    change: str
    reason: str
    new_class_name: str | None = None
    lost: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "lost": list(self.lost)}


@dataclass(frozen=True)
class RewriteReport:
    """Per-layer records of a rewrite, in graph order, and notes on other changes."""

    model_name: str
    mode: str
    constant_value: float
    records: tuple[LayerRecord, ...] = field(default_factory=tuple)
    notes: tuple[ModelNote, ...] = field(default_factory=tuple)
    mode_for: tuple[tuple[str, str], ...] = ()
    causal_mode: str | None = None
    fallback_mode: str | None = None
    #: The error a rewrite with these choices raises (refused layers), else None.
    refusal: str | None = None

    def with_action(self, action: str) -> tuple[LayerRecord, ...]:
        return tuple(r for r in self.records if r.action == action)

    @property
    def rewritten(self) -> tuple[LayerRecord, ...]:
        """Every rewritten layer call, those using the fallback mode included."""
        return tuple(r for r in self.records if r.action in (REWRITTEN, FALLBACK))

    @property
    def fallback(self) -> tuple[LayerRecord, ...]:
        return self.with_action(FALLBACK)

    @property
    def refused(self) -> tuple[LayerRecord, ...]:
        return self.with_action(REFUSED)

    @property
    def not_causal(self) -> tuple[LayerRecord, ...]:
        """Rewritten causal convolutions that read future samples (causal_mode 'as-mode')."""
        return tuple(r for r in self.rewritten if r.causal is False)

    @property
    def skipped(self) -> tuple[LayerRecord, ...]:
        return self.with_action(SKIPPED)

    @property
    def unchanged(self) -> tuple[LayerRecord, ...]:
        return self.with_action(UNCHANGED)

    def summary(self) -> str:
        """One line, e.g. `rewrote 16 of 53 convolutions (reflect); 0 skipped`."""
        from padrewrite.output.render import rewrite_summary

        return rewrite_summary(self)

    def to_dict(self) -> dict:
        return {
            "model": self.model_name,
            "mode": self.mode,
            "constant_value": self.constant_value,
            "mode_for": [[glob, choice] for glob, choice in self.mode_for],
            "causal_mode": self.causal_mode,
            "fallback_mode": self.fallback_mode,
            "summary": self.summary(),
            "refusal": self.refusal,
            "counts": {
                REWRITTEN: len(self.with_action(REWRITTEN)),
                FALLBACK: len(self.fallback),
                SKIPPED: len(self.skipped),
                UNCHANGED: len(self.unchanged),
                REFUSED: len(self.refused),
            },
            "layers": [r.to_dict() for r in self.records],
            "notes": [note.to_dict() for note in self.notes],
        }
