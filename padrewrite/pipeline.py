"""The file job: load → rewrite → save → reload check → export → verify → promote.

`rewrite_file` is what the `padrewrite` command runs; the command only parses
options and renders the `FileReport`. The options travel as one value
(`padrewrite.options.JobOptions`), and the job has one method per stage, each
returning its record. Files are written beside their targets under temporary
names (`padrewrite.atomic`) and renamed into place only when every stage
passed, so a failure never leaves a half-written file and never touches the
input. Errors name the user's paths, never a temporary file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

from padrewrite.errors import (
    EXIT_BUG,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    InternalError,
    bug_message,
)
from padrewrite.keras_side.lambdas import lambda_globals_scope
from padrewrite.options import ExportOptions, JobOptions, VerifyOptions

__all__ = [
    "FileOutcome",
    "FileReport",
    "JobOptions",
    "ReloadCheck",
    "Stage",
    "batch_targets",
    "rewrite_file",
    "rewrite_files",
    "run_file",
    "run_files",
    "verify_file",
    "verify_pair",
]


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of the file job: `seconds` is None when it starts, its duration when done."""

    name: str
    detail: str
    seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class ReloadCheck:
    """Whether the written model file deserializes again.

    `method` is "config" (the architecture rebuilt from the file's config,
    weights not read: the cheap check made without `verify`) or "full"
    (`keras.saving.load_model`, weights included).
    """

    path: str
    method: str
    passed: bool
    error: str | None = None

    def __bool__(self) -> bool:
        return self.passed


@dataclasses.dataclass(frozen=True)
class FileReport:
    """What `rewrite_file` did; its truth value is "nothing failed".

    `status` is "planned" (plan only), "written", "passed" (written and
    verified) or "failed" (a check failed; nothing was written).
    """

    status: str
    input: str
    output: str | None
    onnx: str | None
    rewrite: object
    export: object | None = None
    reload: ReloadCheck | None = None
    keras_check: object | None = None
    parity: object | None = None
    load_notes: tuple[str, ...] = ()
    save_notes: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    drift: object | None = None

    @property
    def passed(self) -> bool:
        return self.status != "failed"

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        document = {
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "onnx": self.onnx,
            "load_notes": list(self.load_notes),
            "save_notes": list(self.save_notes),
            "rewrite": self.rewrite.to_dict(),
        }
        if self.export is not None:
            document["export"] = self.export.to_dict()
        if self.reload is not None:
            document["reload"] = dataclasses.asdict(self.reload)
        if self.keras_check is not None or self.parity is not None:
            document["verify"] = {}
            if self.keras_check is not None:
                document["verify"]["keras"] = self.keras_check.to_dict()
            if self.parity is not None:
                document["verify"]["onnx"] = self.parity.to_dict()
        if self.drift is not None:
            document["drift"] = self.drift.to_dict()
        document["stages"] = {stage.name: round(stage.seconds, 3) for stage in self.stages}
        return document


def rewrite_file(
    model_path,
    output_path=None,
    mode="reflect",
    *,
    onnx_path=None,
    on_stage: Callable[[Stage], None] | None = None,
    **keywords,
) -> FileReport:
    """Rewrite the model file `model_path` and write it to `output_path`.

    Args:
        model_path: a `.keras` or `.h5` model file; never modified.
        output_path: the rewritten model (`.keras` or `.h5`, from its suffix);
            not needed with `plan`.
        mode: as `padrewrite.rewrite_model`.
        onnx_path: also export the rewritten model to this ONNX file.
        on_stage: called with a `Stage` when each stage starts and ends.

    The other keyword arguments are the options, gathered once into a
    `padrewrite.options.JobOptions` (`JobOptions.from_keywords`; `run_file`
    takes that value):

        constant_value, include, exclude, rules, skip_rules, mode_for,
            causal_mode, fallback_mode: as `padrewrite.rewrite_model`.
        opset, hoist: as `padrewrite.export_onnx`.
        verify: reload the written file and check that it computes what the
            rewritten model computes, with the original's output names,
            shapes and dtypes (and, in constant mode with value 0, the
            original's outputs); with `onnx_path`, check the ONNX file
            against the rewritten model with onnxruntime (`atol`, `rtol`,
            `samples`, `input_shapes` as `padrewrite.check_parity`). Without
            it the written file is still deserialized before it is kept.
        plan: load and rewrite in memory only; write nothing. Layers the
            choices refuse (pads too large for their mode without a
            fallback, causal convolutions that would read the future) do not
            raise then: the planned report lists them with action "refused"
            and `rewrite.refusal` holds the error a real run would raise.
        imports: modules to import first (they register custom layers).
        safe_mode: Keras safe mode for loading (False allows Lambda layers).
        bisect: compare the layers with the ONNX tensors even when the ONNX
            parity check passes (it always does when it fails): the report's
            `parity.divergence` (`padrewrite.verify.bisect`).
        drift: measure how much the rewritten model's outputs differ from the
            original's on the same random inputs (`padrewrite.verify.drift`):
            the report's `drift`.
        drift_png: also draw a heat map of that difference for each 4D output
            to this PNG file (`<stem>-<output>.png` for several); implies
            `drift`; needs matplotlib; written with the other files only.
        runtime: the engine the ONNX file is exported for and checked on:
            "onnxruntime" or "openvino" (`padrewrite.verify.engines`; OpenVINO gets
            circular pads as Slice+Concat at every opset).

    Returns:
        A `FileReport`; false (status "failed") when a check failed, in which
        case nothing was written.

    Raises:
        InputError: the input or the options are wrong (the message says
            what to do); nothing was written.
        InternalError: an unanticipated failure (a bug); nothing was written.
    """
    options = JobOptions.from_keywords(mode=mode, **keywords)
    return run_file(model_path, output_path, options, onnx_path=onnx_path, on_stage=on_stage)


def run_file(
    model_path,
    output_path,
    options: JobOptions,
    *,
    onnx_path=None,
    on_stage: Callable[[Stage], None] | None = None,
) -> FileReport:
    """`rewrite_file` with its options as one value: what the command calls."""
    job = _Job(options, on_stage)
    with _classified_errors(job.relabel):
        return job.run(model_path, output_path, onnx_path)


@contextlib.contextmanager
def _classified_errors(relabel=lambda text: text):
    """`InputError`s pass (their paths relabeled); any other exception is a bug:
    `InternalError`, its message naming the user's files."""
    try:
        yield
    except InputError as error:
        error.args = (relabel(str(error)),)
        raise
    except InternalError:
        raise
    except Exception as error:
        raise InternalError(error, bug_message(error, relabel(str(error)))) from error


@dataclasses.dataclass(frozen=True)
class FileOutcome:
    """One model of `rewrite_files`: its `report`, or the `error` that stopped it.

    `exit_code` is what `padrewrite` alone would have exited with: 0 done, 1 a
    check failed, 2 the input or the options are wrong (`InputError`), 3 a bug
    (`InternalError`).
    """

    input: str
    output: str | None
    onnx: str | None
    seconds: float
    report: FileReport | None = None
    error: str | None = None
    exit_code: int = 0

    def to_dict(self) -> dict:
        document = {"input": self.input, "exit_code": self.exit_code,
                    "seconds": round(self.seconds, 3)}
        if self.report is not None:
            return {**document, **self.report.to_dict()}
        return {**document, "status": "error", "output": None, "onnx": None,
                "error": self.error}


def batch_targets(model_paths, output_dir, onnx: bool = False) -> list[tuple]:
    """`[(input, output, onnx or None)]`: each model's files in `output_dir`.

    The output keeps the input's name (`OUTDIR/<stem>.keras`, `.h5` stays
    `.h5`); the ONNX file is `OUTDIR/<stem>.onnx`. Raises `InputError` when two
    inputs share a stem (their outputs would collide) or `output_dir` is a file.
    With `output_dir` None (a plan) no file is named.
    """
    if output_dir is None:
        return [(Path(path), None, None) for path in model_paths]
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(
            f"with several models, `-o/--output` is a directory; {output_dir} is a file. "
            f"Received: output={output_dir}"
        )
    seen = {}
    targets = []
    for path in map(Path, model_paths):
        stem = path.stem
        if stem in seen:
            raise InputError(
                f"{seen[stem]} and {path} would both be written as {output_dir / stem}.*; "
                "rename one, or run them separately."
            )
        seen[stem] = path
        targets.append((
            path, output_dir / path.name, output_dir / f"{stem}.onnx" if onnx else None,
        ))
    return targets


def rewrite_files(
    model_paths,
    output_dir,
    mode="reflect",
    *,
    onnx: bool = False,
    on_model: Callable[[int, FileOutcome | None, Path], None] | None = None,
    on_stage: Callable[[Stage], None] | None = None,
    **keywords,
) -> tuple[FileOutcome, ...]:
    """`rewrite_file` for each model in one process, continuing past failures.

    Outputs go to `output_dir` (created if missing) as `batch_targets` says.
    `keywords` are `rewrite_file`'s. `on_model(index, None, path)` is called when
    a model starts and `on_model(index, outcome, path)` when it is done. An
    `InputError` or `InternalError` of one model is recorded in its outcome
    (exit code 2 or 3) and the next model runs; nothing is written for it.
    Keras' global state (layer name counters) is cleared between models.
    """
    options = JobOptions.from_keywords("rewrite_files", mode=mode, **keywords)
    return run_files(model_paths, output_dir, options, onnx=onnx, on_model=on_model,
                     on_stage=on_stage)


def run_files(
    model_paths,
    output_dir,
    options: JobOptions,
    *,
    onnx: bool = False,
    on_model: Callable[[int, FileOutcome | None, Path], None] | None = None,
    on_stage: Callable[[Stage], None] | None = None,
) -> tuple[FileOutcome, ...]:
    """`rewrite_files` with its options as one value: what the command calls."""
    import keras

    targets = batch_targets(model_paths, output_dir, onnx)
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    outcomes = []
    for index, (model_path, output_path, onnx_path) in enumerate(targets):
        if on_model is not None:
            on_model(index, None, model_path)
        if index:
            keras.backend.clear_session()
        outcome = _run_one(model_path, output_path, onnx_path, options, on_stage)
        outcomes.append(outcome)
        if on_model is not None:
            on_model(index, outcome, model_path)
    return tuple(outcomes)


def _run_one(model_path, output_path, onnx_path, options, on_stage) -> FileOutcome:
    """One model of `run_files`: its report, or the error that stopped it."""
    start = time.perf_counter()
    outcome = FileOutcome(str(model_path), None if output_path is None else str(output_path),
                          None if onnx_path is None else str(onnx_path), 0.0)
    try:
        report = run_file(model_path, output_path, options, onnx_path=onnx_path,
                          on_stage=on_stage)
        outcome = dataclasses.replace(
            outcome, report=report, exit_code=EXIT_OK if report else EXIT_FAILED
        )
    except InputError as error:
        outcome = dataclasses.replace(outcome, error=str(error), exit_code=EXIT_USAGE)
    except InternalError as error:
        outcome = dataclasses.replace(outcome, error=str(error), exit_code=EXIT_BUG)
    return dataclasses.replace(outcome, seconds=time.perf_counter() - start)


def verify_file(
    model_path,
    onnx_path,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    samples: int = 3,
    input_shapes: dict | None = None,
    imports: tuple[str, ...] = (),
    safe_mode: bool = True,
    bisect: bool = False,
    runtime: str = "onnxruntime",
):
    """Check that the ONNX file computes what the Keras model file computes.

    The parity check of `rewrite_file` on an existing pair (a CI job gating on
    files written earlier). Returns a `padrewrite.verify.parity.ParityReport` (false
    when an output differs); when it fails, or with `bisect`, its `divergence`
    names the first layer whose ONNX tensor departs from Keras
    (`padrewrite.verify.bisect`). `runtime` is the engine ("onnxruntime" or
    "openvino"). Raises `InputError` for a missing or unreadable file (or one
    the engine cannot load) and `InternalError` for a bug.
    """
    options = JobOptions(
        export=ExportOptions(runtime=runtime),
        checks=VerifyOptions(atol=atol, rtol=rtol, samples=samples, input_shapes=input_shapes,
                             bisect=bisect),
        imports=imports, safe_mode=safe_mode,
    )
    return verify_pair(model_path, onnx_path, options)


def verify_pair(model_path, onnx_path, options: JobOptions):
    """`verify_file` with its options as one value (`checks`, `export.runtime`,
    `imports`, `safe_mode` are read): what `padrewrite verify` calls."""
    with _classified_errors():
        from padrewrite.keras_side.io import (
            check_model_path,
            import_modules,
            load_model,
        )
        from padrewrite.verify.parity import bisect_parity, check_parity

        checks, runtime = options.checks, options.export.runtime
        model_path = check_model_path(model_path)
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise InputError(f"{onnx_path}: no such file; give the ONNX file to check.")
        import_modules(options.imports)
        model = load_model(model_path, safe_mode=options.safe_mode)
        report = check_parity(
            model, onnx_path, atol=checks.atol, rtol=checks.rtol, samples=checks.samples,
            input_shapes=checks.shapes, runtime=runtime,
        )
        if checks.bisect or not report:
            report = bisect_parity(model, onnx_path, report, checks.samples)
        return report


class _Paths(NamedTuple):
    """One job's checked paths; `output` and `onnx` are None in a plan."""

    input: Path
    output: Path | None
    onnx: Path | None


class _Job:
    """One `run_file`: its options, staged paths, stage timings and notes.

    One method per stage, each returning its record; `run` calls them in order.
    """

    def __init__(self, options: JobOptions, on_stage):
        self.options = options
        self.on_stage = on_stage
        self.stages: list[Stage] = []
        self.staged: dict[str, str] = {}
        self.load_notes: list[str] = []
        self.save_notes: list[str] = []
        self.drift = None

    def relabel(self, text: str) -> str:
        """`text` with every temporary path replaced by the path it stands for."""
        for temporary, target in self.staged.items():
            text = text.replace(temporary, target)
        return text

    @contextlib.contextmanager
    def stage(self, name: str, detail: str):
        if self.on_stage is not None:
            self.on_stage(Stage(name, detail))
        start = time.perf_counter()
        yield
        done = Stage(name, detail, time.perf_counter() - start)
        self.stages.append(done)
        if self.on_stage is not None:
            self.on_stage(done)

    def run(self, model_path, output_path, onnx_path) -> FileReport:
        from padrewrite.keras_side.io import import_modules
        from padrewrite.modes import parse_mode

        mode = parse_mode(self.options.rewrite.mode)
        paths = self.check_paths(model_path, output_path, onnx_path)
        import_modules(self.options.imports)
        original = self.load(paths.input)
        rewritten, rewrite = self.rewrite(original, mode)
        if rewritten is not None and self.options.checks.drift:
            self.drift = self.measure_drift(original, rewritten, rewrite)
        if rewritten is None or self.options.plan:
            return self.report("planned", paths.input, rewrite)
        return self.write(original, rewritten, rewrite, paths)

    def check_paths(self, model_path, output_path, onnx_path) -> _Paths:
        """The paths, checked before anything loads (no file in a plan)."""
        from padrewrite.keras_side.io import (
            MODEL_SUFFIXES,
            check_model_path,
            check_output_path,
        )

        model_path = check_model_path(model_path)
        self.check_drift_png()
        if self.options.plan:
            return _Paths(model_path, None, None)
        if output_path is None:
            raise InputError(
                "`output_path` is required (-o/--output); use plan=True (--plan) "
                "to write nothing."
            )
        output_path = check_output_path(output_path, (model_path,), MODEL_SUFFIXES, "model")
        if onnx_path is not None:
            onnx_path = check_output_path(
                onnx_path, (model_path, output_path), (".onnx",), "ONNX"
            )
        return _Paths(model_path, output_path, onnx_path)

    def check_drift_png(self) -> None:
        path = self.options.checks.drift_png
        if path is None:
            return
        from padrewrite.verify.drift import check_plotting

        if self.options.plan:
            raise InputError("`drift_png` (--drift-png) writes a file: not with plan (--plan).")
        if not path.parent.is_dir():
            raise InputError(f"{path.parent} is not a directory. Received: drift_png={path}")
        check_plotting()

    def load(self, path: Path):
        from padrewrite.keras_side.io import load_model

        with self.stage("load", f"loading {path}"):
            return load_model(path, safe_mode=self.options.safe_mode, notes=self.load_notes)

    def rewrite(self, original, mode):
        """`(rewritten model, RewriteReport)`; the model is None when the choices
        refuse layers in a plan (the report lists them, action "refused")."""
        from padrewrite.rewrite import (
            RewriteError,
            RewriteOptions,
            rewrite_with_options,
        )

        choices = self.options.rewrite
        with self.stage("rewrite", f"rewriting ({mode})"):
            try:
                # The engine's own value, normalised once (a wrong choice: this model's error).
                options = RewriteOptions(mode, choices.constant_value, **choices.selection())
                result = rewrite_with_options(original, options)
            except RewriteError as error:
                if not self.options.plan or error.report is None:
                    raise
                return None, error.report
        report = result.report
        if not report.rewritten and report.notes:
            # The input model itself is written: no class change, no shared layer.
            report = dataclasses.replace(report, notes=())
        return result.model, report

    def measure_drift(self, original, rewritten, rewrite):
        from padrewrite.verify.drift import measure_drift

        checks = self.options.checks
        with self.stage("drift", "comparing the rewritten model with the original"):
            return measure_drift(original, rewritten, rewrite, samples=checks.samples,
                                 input_shapes=checks.shapes)

    def write(self, original, rewritten, rewrite, paths: _Paths) -> FileReport:
        """Save, reload, export and check staged files; promote them if all passed."""
        verify = self.options.checks.verify
        # Nothing rewritten: write the model as loaded, class and all.
        model = rewritten if rewrite.rewritten else original
        with contextlib.ExitStack() as stack:
            staged_model = self.staged_path(stack, paths.output)
            self.save(model, staged_model, paths.output)
            reloaded, reload = self.reload(staged_model, paths.output)
            if not reload:
                return self.report("failed", paths.input, rewrite, reload=reload)
            staged_onnx = export = keras_check = parity = None
            if paths.onnx is not None:
                staged_onnx = self.staged_path(stack, paths.onnx)
                export = self.export(model, staged_onnx, paths.onnx)
            if verify:
                keras_check = self.verify_keras(original, model, reloaded, paths.output,
                                                rewrite)
            if verify and staged_onnx is not None:
                parity = self.verify_onnx(original, model, staged_onnx, paths.onnx)
            checks = dict(export=export, reload=reload, keras_check=keras_check, parity=parity)
            if any(check is not None and not check for check in (keras_check, parity)):
                return self.report("failed", paths.input, rewrite, **checks)
            self.draw_heatmaps()
            self.promote((staged_model, paths.output), (staged_onnx, paths.onnx))
        return self.report("passed" if verify else "written", paths.input, rewrite,
                           output=paths.output, onnx=paths.onnx, **checks)

    def staged_path(self, stack: contextlib.ExitStack, target: Path) -> Path:
        """A temporary path beside `target`, removed with `stack` unless promoted."""
        from padrewrite.atomic import staged_path

        staged = stack.enter_context(staged_path(target))
        self.staged[str(staged)] = str(target)
        return staged

    def save(self, model, staged: Path, target: Path) -> None:
        from padrewrite.keras_side.io import save_model

        with self.stage("save", f"saving {target}"):
            save_model(model, staged)

    def reload(self, staged: Path, target: Path):
        """`(model or None, ReloadCheck)`: the written file deserialized again (the
        architecture only, unless `verify`)."""
        full = self.options.checks.verify
        with self.stage("reload", f"reloading {target}"):
            reloaded, check = _reload(staged, target, self.options.safe_mode, full=full)
            if not check and staged.suffix.lower() == ".keras":
                reloaded, check = self._repair(staged, target, full, check)
        return reloaded, check

    def _repair(self, staged, target, full, failed):
        """Retry a reload that failed once graph layers build from their calls (see
        `padrewrite.keras_side.saved_config`); keep the first failure if that does not help."""
        from padrewrite.keras_side.saved_config import drop_graph_build_configs

        changed = drop_graph_build_configs(staged)
        if not changed:
            return None, failed
        reloaded, reload = _reload(staged, target, self.options.safe_mode, full=full)
        if not reload:
            return None, failed
        self.save_notes.append(
            f"{target}: Keras could not load the file back as saved ({failed.error}); the "
            f"saved build shapes of {len(changed)} graph layer(s) were dropped so that each "
            "builds from its call in the graph, and then it loaded"
        )
        return reloaded, reload

    def export(self, model, staged: Path, target: Path):
        """The `ExportReport` of the ONNX file written at `staged`, naming `target`."""
        with self.stage("export", f"exporting {target}"):
            export = _export_rewritten(model, staged, self.options.export)
        return dataclasses.replace(export, path=str(target))

    def verify_keras(self, original, model, reloaded, target: Path, rewrite):
        """The `KerasCheckReport` of the reloaded file against `model` (and the original)."""
        from padrewrite.verify.keras_check import check_saved_model

        with self.stage("verify", f"checking {target}"):
            return check_saved_model(
                original, model, reloaded, target, exact=_computes_the_original(rewrite),
                input_shapes=self.options.checks.shapes,
            )

    def verify_onnx(self, original, model, staged: Path, target: Path):
        """The `ParityReport` of the ONNX file against `model`, bisected on failure
        (or with `bisect`)."""
        runtime = self.options.export.runtime
        with self.stage("parity", f"checking {target} with {runtime}"):
            # The Keras check proved the file computes what `model` does.
            parity = _check_written_onnx(model, staged, self.options.checks, runtime, original)
        if self.options.checks.bisect or not parity:
            parity = self.bisect(model, staged, parity)
        return dataclasses.replace(parity, onnx_path=str(target))

    def bisect(self, model, staged: Path, parity):
        """`parity` with its `divergence`: the first layer departing from Keras."""
        from padrewrite.verify.parity import bisect_parity

        with self.stage("bisect", "comparing layer by layer"):
            return bisect_parity(model, staged, parity, self.options.checks.samples)

    def draw_heatmaps(self) -> None:
        """With `drift_png`, draw the drift's heat maps (once every check passed)."""
        path = self.options.checks.drift_png
        if path is None or self.drift is None:
            return
        with self.stage("heatmap", f"drawing {path}"):
            self.drift = _draw_heatmaps(self.drift, path)

    def promote(self, *pairs) -> None:
        """Rename each staged file (`(staged, target)`; None: none staged) into place."""
        from padrewrite.atomic import promote

        with self.stage("promote", "renaming the files into place"):
            for staged, target in pairs:
                if staged is not None:
                    promote(staged, target)

    def report(self, status, model_path, rewrite, *, output=None, onnx=None, **checks):
        return FileReport(
            status=status,
            input=str(model_path),
            output=None if output is None else str(output),
            onnx=None if onnx is None else str(onnx),
            rewrite=rewrite,
            load_notes=tuple(self.load_notes),
            save_notes=tuple(self.save_notes),
            stages=tuple(self.stages),
            drift=self.drift,
            **checks,
        )


def _export_rewritten(model, path, options: ExportOptions):
    """`export_onnx` of a model padrewrite rewrote: a refusal (the options, the
    model's dtype policy) is the user's to change; any other export failure is
    padrewrite's or the exporter's, never the input's (exit 3)."""
    from padrewrite.onnx.export import export_onnx
    from padrewrite.onnx.graph import ExportError, ExportRefused

    try:
        return export_onnx(model, path, opset=options.opset, hoist=options.hoist,
                           runtime=options.runtime)
    except ExportRefused:
        raise
    except ExportError as error:
        raise InternalError(
            error, bug_message(error, f"exporting the rewritten model failed: {error}")
        ) from error


def _check_written_onnx(model, path, checks: VerifyOptions, runtime: str, original):
    """`check_parity` on the file padrewrite just wrote: an engine that cannot load
    it fails the check (exit 1, the engine's reason), it does not blame the input.
    `original` is the model `model` was rewritten from (a `model` failing where it
    runs is a bug)."""
    from padrewrite.verify.engines import EngineLoadError
    from padrewrite.verify.parity import check_parity, unloadable_report

    try:
        return check_parity(
            model, path, atol=checks.atol, rtol=checks.rtol, samples=checks.samples,
            input_shapes=checks.shapes, runtime=runtime, original=original,
        )
    except EngineLoadError as error:
        return unloadable_report(
            model, path, error.reason, atol=checks.atol, rtol=checks.rtol, runtime=runtime,
        )


def _draw_heatmaps(drift, path):
    """`drift` with the heat map of each 4D output drawn, their paths recorded."""
    from padrewrite.verify.drift import heatmap_paths, save_heatmap

    paths = heatmap_paths(path, list(drift.maps))
    outputs = []
    for output in drift.outputs:
        if output.name in paths:
            save_heatmap(
                drift.maps[output.name], paths[output.name],
                title=f"|rewritten - original| of '{output.name}' ({drift.mode}), "
                      f"mean over channels and {drift.samples} samples",
            )
            output = dataclasses.replace(output, heatmap=str(paths[output.name]))
        outputs.append(output)
    return dataclasses.replace(drift, outputs=tuple(outputs))


def _computes_the_original(report) -> bool:
    """Whether every rewritten layer pads as the original did.

    Layers that padded 'same'/'causal' did so with zeros; an adopted padding
    layer pads as it was found to, unless a per-layer mode changed that.
    """
    return (
        report.constant_value == 0.0
        and (bool(report.rewritten) or report.mode == "constant")
        and all(
            record.mode == (record.computed or "constant") for record in report.rewritten
        )
    )


def _reload(staged: Path, target: Path, safe_mode: bool, *, full: bool):
    """`(model or None, ReloadCheck)` for the file written at `staged`.

    A `.keras` file is rebuilt from its config alone unless `full`; `.h5`
    files are always loaded whole.
    """
    from padrewrite.keras_side.io import load_error_cause

    method = "full" if full or staged.suffix.lower() != ".keras" else "config"
    scope = contextlib.nullcontext() if safe_mode else lambda_globals_scope()
    try:
        with scope:
            model = _load_staged(staged, method, safe_mode)
    except Exception as error:  # any failure to deserialize is the finding
        cause = load_error_cause(error).replace(str(staged), str(target))
        return None, ReloadCheck(
            path=str(target),
            method=method,
            passed=False,
            error=f"the written model does not load back: {cause}",
        )
    return model, ReloadCheck(path=str(target), method=method, passed=True)


def _load_staged(staged: Path, method: str, safe_mode: bool):
    import keras

    from padrewrite.keras_side import keras_internals

    if method == "full":
        return keras.saving.load_model(staged, compile=False, safe_mode=safe_mode)
    with zipfile.ZipFile(staged) as archive:
        config_json = archive.read("config.json").decode()
    return keras_internals.model_from_config_json(config_json, safe_mode)
