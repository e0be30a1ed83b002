"""Result records of a rewrite and their text rendering (no Keras)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

REWRITTEN, SKIPPED, UNCHANGED = "rewritten", "skipped", "unchanged"


@dataclass(frozen=True)
class LayerRecord:
    """What happened to one call of one layer the rules concern.

    `path` is the layer's name prefixed by the nested models it sits in
    (`outer/backbone/conv1`); `pads` has one `[before, after]` per spatial
    axis, `None` for an amount computed at run time.
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

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.pads is not None:
            data["pads"] = [None if p is None else list(p) for p in self.pads]
        return data


#: `ModelNote.change` values.
CLASS_CHANGED, LAYER_SHARED = "class-changed", "layer-shared"


@dataclass(frozen=True)
class ModelNote:
    """A change to the model beyond its padding, which the user must know about.

    `change` is `CLASS_CHANGED` (a model subclass saved as a plain Functional
    or Sequential model; `lost` names its own methods and constructor
    arguments) or `LAYER_SHARED` (a layer that its own config cannot rebuild,
    kept as the same instance as in the input model).
    """

    path: str
    class_name: str
    change: str
    reason: str
    new_class_name: str | None = None
    lost: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "lost": list(self.lost)}

    def line(self) -> str:
        if self.change == CLASS_CHANGED:
            text = f"note: '{self.path}' ({self.class_name}) becomes a plain {self.new_class_name}"
            if self.lost:
                text += f"; not kept: {', '.join(self.lost)}"
            return f"{text} ({self.reason})"
        return f"note: '{self.path}' ({self.class_name}) {self.reason}"


@dataclass(frozen=True)
class RewriteReport:
    """Per-layer records of a rewrite, in graph order, and notes on other changes."""

    model_name: str
    mode: str
    constant_value: float
    records: tuple[LayerRecord, ...] = field(default_factory=tuple)
    notes: tuple[ModelNote, ...] = field(default_factory=tuple)

    def with_action(self, action: str) -> tuple[LayerRecord, ...]:
        return tuple(r for r in self.records if r.action == action)

    @property
    def rewritten(self) -> tuple[LayerRecord, ...]:
        return self.with_action(REWRITTEN)

    @property
    def skipped(self) -> tuple[LayerRecord, ...]:
        return self.with_action(SKIPPED)

    @property
    def unchanged(self) -> tuple[LayerRecord, ...]:
        return self.with_action(UNCHANGED)

    def summary(self) -> str:
        """One line, e.g. `rewrote 16 of 53 convolutions (reflect); 0 skipped`."""
        parts = []
        for kind, plural in (
            ("convolution", "convolutions"),
            ("padding", "padding layers"),
            ("pooling", "pooling layers"),
        ):
            records = [r for r in self.records if r.kind == kind]
            if records or kind == "convolution":
                done = sum(r.action == REWRITTEN for r in records)
                parts.append(f"{done} of {len(records)} {plural}")
        mode = self.mode
        if mode == "constant":
            mode = f"constant {self.constant_value:g}"
        return f"rewrote {', '.join(parts)} ({mode}); {len(self.skipped)} skipped"

    def to_dict(self) -> dict:
        return {
            "model": self.model_name,
            "mode": self.mode,
            "constant_value": self.constant_value,
            "summary": self.summary(),
            "counts": {
                REWRITTEN: len(self.rewritten),
                SKIPPED: len(self.skipped),
                UNCHANGED: len(self.unchanged),
            },
            "layers": [r.to_dict() for r in self.records],
            "notes": [note.to_dict() for note in self.notes],
        }


def format_pads(pads) -> str:
    if pads is None:
        return "-"
    return " ".join("runtime" if p is None else f"{p[0]},{p[1]}" for p in pads)


def render_table(report: RewriteReport) -> list[str]:
    """The per-layer table as plain text lines."""
    header = ("layer", "class", "action", "pads", "reason")
    rows = [
        (
            r.path + (f" (call {r.call_index})" if r.call_index else ""),
            r.class_name,
            r.action,
            format_pads(r.pads),
            r.reason,
        )
        for r in report.records
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows] if rows else []:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return lines + [note.line() for note in report.notes]
