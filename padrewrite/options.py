"""The file job's options as values, built once and passed unchanged to every stage.

`padrewrite rewrite` builds one `JobOptions` from its command line and
`rewrite_file` from its keyword arguments (`JobOptions.from_keywords`); the
job reads it stage by stage: `rewrite` is what `rewrite_model` is asked,
`export` what `export_onnx` is, `checks` what the checks are. Each value is
frozen and holds its canonical form (tuples, paths); checking the values
against models and files is the job's, so that an error names the file it
concerns. No Keras.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from padrewrite.onnx.opsets import DEFAULT_OPSET

__all__ = ["ExportOptions", "JobOptions", "RewriteChoices", "VerifyOptions"]


@dataclasses.dataclass(frozen=True)
class RewriteChoices:
    """The rewrite choices as the user gave them (`padrewrite.rewrite_model` says what
    each means).

    Kept as given: each model's job turns them into the engine's normalised
    `padrewrite.rewrite.RewriteOptions`, so that a wrong one is that model's
    input error, and importing this module needs no Keras.
    """

    mode: object = "reflect"
    constant_value: float | None = 0.0
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    skip_rules: tuple[str, ...] = ()
    mode_for: object = ()
    causal_mode: str | None = None
    fallback_mode: str | None = None

    def __post_init__(self):
        for name in ("include", "exclude", "rules", "skip_rules"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def selection(self) -> dict:
        """`rewrite_model`'s keyword arguments: every choice but `mode` and `constant_value`."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("mode", "constant_value")
        }


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How the ONNX file is exported (`padrewrite.export_onnx`), and for which engine.

    `runtime` ("onnxruntime" or "openvino", `padrewrite.verify.engines`) is also the
    engine the ONNX file is checked on. The ONNX path is the job's, one per model.
    """

    opset: int = DEFAULT_OPSET
    hoist: bool = True
    runtime: str = "onnxruntime"


@dataclasses.dataclass(frozen=True)
class VerifyOptions:
    """What the job checks and measures.

    `verify`: reload the written file and compare it (and the ONNX file) with
    the rewritten model; `atol`, `rtol`, `samples`, `input_shapes`: the
    comparisons' tolerances (None: the compute dtype's default), random
    samples and shapes for unknown dimensions, as `padrewrite.check_parity`;
    `bisect`: compare layer by layer even when the ONNX check passes; `drift`:
    measure how much the rewrite changed the outputs; `drift_png`: draw that
    change to this PNG file (sets `drift`).

    `input_shapes` is held as `(name, shape)` pairs; `shapes` is the mapping
    the checks take (None when empty).
    """

    verify: bool = False
    atol: float | None = None
    rtol: float | None = None
    samples: int = 3
    input_shapes: tuple[tuple[str, object], ...] = ()
    bisect: bool = False
    drift: bool = False
    drift_png: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "input_shapes", tuple(dict(self.input_shapes or {}).items()))
        if self.drift_png is not None:
            object.__setattr__(self, "drift_png", Path(self.drift_png))
            object.__setattr__(self, "drift", True)

    @property
    def shapes(self) -> dict | None:
        return dict(self.input_shapes) or None


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """Everything one model's job is asked, but its paths and progress callback.

    `imports`: modules imported first (they register custom layers);
    `safe_mode`: Keras safe mode for loading (False allows Lambda layers);
    `plan`: load and rewrite only, write nothing.
    """

    rewrite: RewriteChoices = RewriteChoices()
    export: ExportOptions = ExportOptions()
    checks: VerifyOptions = VerifyOptions()
    imports: tuple[str, ...] = ()
    safe_mode: bool = True
    plan: bool = False

    def __post_init__(self):
        object.__setattr__(self, "imports", tuple(self.imports))

    @classmethod
    def from_keywords(cls, caller: str = "rewrite_file", **keywords) -> JobOptions:
        """The value of `rewrite_file`'s keyword arguments: each goes to the
        option value with a field of its name. An unknown name is a `TypeError`
        naming `caller`, as Python raises it for a function's keyword."""
        kinds = (RewriteChoices, ExportOptions, VerifyOptions)
        groups: dict = {kind: {} for kind in (*kinds, cls)}
        own = {"imports", "safe_mode", "plan"}
        for name, value in keywords.items():
            kind = next((kind for kind in kinds if name in _field_names(kind)), None)
            if kind is None and name not in own:
                raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
            groups[kind or cls][name] = value
        return cls(
            rewrite=RewriteChoices(**groups[RewriteChoices]),
            export=ExportOptions(**groups[ExportOptions]),
            checks=VerifyOptions(**groups[VerifyOptions]),
            **groups[cls],
        )


def _field_names(kind) -> set[str]:
    return {field.name for field in dataclasses.fields(kind)}
