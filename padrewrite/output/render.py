"""Every text the command prints, rendered from the records the library returns.

The library modules return records (`RewriteReport`, `FileReport`,
`ParityReport`, ...); this module alone turns them into lines: the rewrite
table and its summary, the reload and Keras check lines, the PASSED/FAILED
parity lines, the first divergence, the drift, stages and progress, the
summary of several models and the JSON documents. No Keras, no TensorFlow:
records are read by their fields only.
"""

from __future__ import annotations

import decimal
import json
import math

import numpy as np

from padrewrite.errors import one_line
from padrewrite.output.report import CLASS_CHANGED, FALLBACK, REWRITTEN
from padrewrite.verify.conditioning import FLOOR_FACTOR

__all__ = [
    "batch_json",
    "batch_lines",
    "divergence_lines",
    "drift_lines",
    "export_note",
    "failed_models_line",
    "file_report_lines",
    "keras_check_lines",
    "model_progress_line",
    "note_line",
    "parity_json",
    "parity_lines",
    "progress_line",
    "reload_lines",
    "report_json",
    "rewrite_summary",
    "rewrite_table",
    "short_number",
    "stage_lines",
]


# --- the rewrite ---------------------------------------------------------------


def format_pads(pads) -> str:
    if pads is None:
        return "-"
    return " ".join("runtime" if p is None else f"{p[0]},{p[1]}" for p in pads)


def rewrite_table(report) -> list[str]:
    """The per-layer table of a `RewriteReport`, then its notes."""
    header = ("layer", "class", "action", "mode", "pads", "reason")
    rows = [
        (
            r.path + (f" (call {r.call_index})" if r.call_index else ""),
            r.class_name,
            r.action,
            r.mode or "-",
            format_pads(r.pads),
            r.reason,
        )
        for r in report.records
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    lines = []
    for row in [header, *rows] if rows else []:
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    return lines + [note_line(note) for note in report.notes]


def note_line(note) -> str:
    """A `ModelNote`: a change to the model beyond its padding."""
    if note.change == CLASS_CHANGED:
        text = f"note: '{note.path}' ({note.class_name}) becomes a plain {note.new_class_name}"
        if note.lost:
            text += f"; not kept: {', '.join(note.lost)}"
        return f"{text} ({note.reason})"
    return f"note: '{note.path}' ({note.class_name}) {note.reason}"


def rewrite_summary(report) -> str:
    """One line, e.g. `rewrote 16 of 53 convolutions (reflect); 0 skipped`."""
    parts = []
    for kind, plural in (
        ("convolution", "convolutions"),
        ("padding", "padding layers"),
        ("pooling", "pooling layers"),
    ):
        records = [r for r in report.records if r.kind == kind]
        if records or kind == "convolution":
            done = sum(r.action in (REWRITTEN, FALLBACK) for r in records)
            parts.append(f"{done} of {len(records)} {plural}")
    mode = report.mode
    if mode == "constant":
        mode = f"constant {report.constant_value:g}"
    choices = [mode, *(f"{glob}={choice}" for glob, choice in report.mode_for)]
    if report.causal_mode is not None:
        choices.append(f"causal {report.causal_mode}")
    text = f"rewrote {', '.join(parts)} ({'; '.join(choices)}); {len(report.skipped)} skipped"
    if report.fallback:
        text += f"; {len(report.fallback)} with fallback {report.fallback_mode}"
    if report.not_causal:
        text += f"; {len(report.not_causal)} causal convolution(s) no longer causal"
    adopted = [r for r in report.rewritten if r.computed is not None]
    if adopted:
        text += f"; {len(adopted)} hand-written padding layer(s) adopted"
    if report.refused:
        text += f"; {len(report.refused)} refused"
    return text


# --- the checks ----------------------------------------------------------------


def reload_lines(reload) -> list[str]:
    """A `ReloadCheck`: nothing when the written file loaded back."""
    if reload.passed:
        return []
    return [f"FAILED | reload {reload.path} | {reload.error}; nothing was written"]


def keras_check_lines(report) -> list[str]:
    """A `KerasCheckReport`: one line per output of the reloaded file."""
    return [_output_check_line(report.path, output) for output in report.outputs]


def _output_check_line(path, output) -> str:
    status = "PASSED" if output.passed else "FAILED"
    shape = ["None" if d is None else str(d) for d in output.shape]
    detail = [f"shape=({', '.join(shape)}) dtype={output.dtype}"]
    if (
        output.shape != output.expected_shape
        or output.dtype != output.expected_dtype
        or output.name != output.expected_name
    ):
        detail.append(
            f"expected '{output.expected_name}' shape={output.expected_shape} "
            f"dtype={output.expected_dtype}"
        )
    for label, value in (
        ("max_abs vs rewritten", output.max_abs_vs_rewritten),
        ("max_abs vs original", output.max_abs_vs_original),
    ):
        if value is not None:
            detail.append(f"{label}={value:.1e}")
    if output.tolerance is not None:
        detail.append(f"(tolerance {output.tolerance:.1e})")
    if output.ill_conditioned:
        detail.append("(ill-conditioned, judged against the error floor: "
                      + "; ".join(output.ill_conditioned) + ")")
    if output.declared_shape is not None:
        detail.append(
            f"(the original model declares shape={output.declared_shape} but "
            f"returns {output.expected_shape})"
        )
    return f"{status} | keras {path} | output '{output.name}' | " + " ".join(detail)


def parity_lines(report) -> list[str]:
    """A `ParityReport`: one line per output, a summary line, then the divergence."""
    tolerances = f"(atol={short_number(report.atol)}, rtol={short_number(report.rtol)})"
    lines = []
    for output in report.outputs:
        lines.extend(_output_parity_lines(output, tolerances))
    shapes = ", ".join(f"{name} {shape}" for name, shape in report.input_shapes.items())
    status = "PASSED" if report.passed else "FAILED"
    dtype = "" if report.compute_dtype == "float32" else f" | computes in {report.compute_dtype}"
    if report.runtime != "onnxruntime":
        dtype += f" | on {report.runtime}"
    lines.append(
        f"{status} | {len(report.outputs)} output(s), {report.samples} samples "
        f"(random, zeros, ones) | inputs: {shapes}{dtype}"
    )
    if report.hint:
        lines.append(f"hint: {report.hint}")
    if report.divergence is not None:
        lines.extend(divergence_lines(report.divergence))
    return lines


def _output_parity_lines(output, tolerances: str) -> list[str]:
    status = "PASSED" if output.passed else "FAILED"
    if output.error:
        return [f"{status} | output {output.name!r} | {output.error}"]
    line = (
        f"{status} | output {output.name!r} | max_abs={output.max_abs:.1e} "
        f"max_rel={output.max_rel:.1e} {tolerances}"
    )
    if not output.passed:
        line += f" | would pass with atol>={_round_up(output.min_atol_to_pass)}"
    lines = [line]
    if output.ill_conditioned:
        lines.append(
            f"  ill-conditioned samples, judged within {FLOOR_FACTOR:g}x their error "
            f"floor (Keras' own output with the inputs moved by 8 float32 ulps): "
            + "; ".join(output.ill_conditioned)
        )
    elif not output.passed and output.floor is not None:
        lines.append(
            f"  error floor of the failing samples {output.floor:.1e} (Keras' own "
            "output with the inputs moved by 8 float32 ulps): they are "
            "well-conditioned, so the difference is the export's"
        )
    return lines


def divergence_lines(report) -> list[str]:
    """A `DivergenceReport`: the first divergence and the layer before it, or that
    none diverges."""
    compared = f"{report.compared} of {len(report.layers)} layer calls compared"
    if report.first is None:
        return [f"bisect | no layer diverges ({compared})"]
    first = report.first
    line = (
        f"FIRST DIVERGENCE | layer '{first.layer}' ({first.class_name}) | "
        f"max_abs={first.max_abs:.1e} max_rel={first.max_rel:.1e} | ONNX tensor "
        f"'{first.onnx_tensor}'"
    )
    lines = [line]
    if report.previous is not None:
        before = report.previous
        lines.append(
            f"  previous layer '{before.layer}' ({before.class_name}) | "
            f"max_abs={before.max_abs:.1e} | within tolerance"
        )
    else:
        lines.append("  previous layer: none compared (it is the first)")
    lines.append(f"  ({compared})")
    return lines


def drift_lines(report) -> list[str]:
    """A `DriftReport`: one line per output, and the heat maps written."""
    lines = []
    for output in report.outputs:
        line = (
            f"drift | output '{output.name}' | max_abs={output.max_abs:.1e} "
            f"mean_abs={output.mean_abs:.1e} | relative to its scale {output.scale:.1e}: "
            f"max {output.max_rel:.1%}, mean {output.mean_rel:.1%}"
        )
        if output.band is not None:
            band = " ".join(f"{b},{a}" for b, a in output.band)
            line += (
                f" | border band {band} px: {output.border_diff_share:.0%} of the difference "
                f"in {output.border_pixel_share:.0%} of the pixels (mean_abs border "
                f"{output.border_mean_abs:.1e}, interior {output.interior_mean_abs:.1e})"
            )
        elif output.band_reason:
            line += f" | {output.band_reason}"
        lines.append(line)
        if output.heatmap:
            lines.append(f"wrote heat map {output.heatmap}")
    return lines


def short_number(value) -> str:
    """A tolerance in its shortest scientific form: `1e-04`, `2.5e-04`."""
    return np.format_float_scientific(value, trim="-", exp_digits=2)


def _round_up(value) -> str:
    """`value` in 2 significant digits, rounded up (so that it passes)."""
    if value <= 0 or not math.isfinite(value):
        return f"{max(value, 0.0):.1e}"
    exact = decimal.Decimal(value)
    exponent = exact.adjusted()
    mantissa = exact.scaleb(-exponent).quantize(
        decimal.Decimal("0.1"), rounding=decimal.ROUND_CEILING
    )
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.1f}e{exponent:+03d}"


# --- the file job --------------------------------------------------------------


def file_report_lines(report, *, verbose: bool = False) -> list[str]:
    """A `FileReport`: the table, the checks, the files written (and the stages)."""
    rewrite = report.rewrite
    lines = [f"note: {note}" for note in report.load_notes]
    lines += [*rewrite_table(rewrite), rewrite_summary(rewrite)]
    if not rewrite.rewritten and not rewrite.refused:
        note = "nothing to rewrite: no layer needs explicit padding"
        if report.status != "planned":
            note += "; the model is written unchanged"
        lines.append(note)
    if report.drift is not None:
        lines.extend(drift_lines(report.drift))
    if report.status == "planned":
        if rewrite.refusal:
            lines.append(f"would fail without --plan (exit 2): {rewrite.refusal}")
        lines.append("plan only: nothing written")
    else:
        lines.extend(_written_lines(report))
    if verbose:
        lines.extend(stage_lines(report.stages))
    return lines


def _written_lines(report) -> list[str]:
    """The checks of a run that wrote (or failed to write), then the files written."""
    lines = []
    if report.reload is not None:
        lines.extend(reload_lines(report.reload))
    lines.extend(f"note: {note}" for note in report.save_notes)
    if report.keras_check is not None:
        lines.extend(keras_check_lines(report.keras_check))
    if report.parity is not None:
        lines.extend(parity_lines(report.parity))
    if report.output:
        lines.append(f"wrote {report.output}")
    if report.onnx:
        export = report.export.to_dict()
        lines.append(f"wrote {report.onnx}" + export_note(export))
        if export.get("pads_hoisted"):
            before = export["padded_elements_before"]
            after = export["padded_elements_after"]
            line = (
                f"hoisted {export['pads_hoisted']} pad(s) above per-position ops "
                "(1x1 convs, activations)"
            )
            if before is not None:
                line += f": padded elements {before:,} -> {after:,} per sample"
            lines.append(line)
    return lines


def export_note(export: dict) -> str:
    """` (opset 18; 7 Pad; 1 pads as Slice+Concat)`: what an `ExportReport` wrote."""
    parts = [f"opset {export.get('opset')}"]
    pads = export.get("node_counts", {}).get("Pad", 0)
    if pads:
        parts.append(f"{pads} Pad")
    sliced = sum(
        lowering.get("lowered_to") == "Slice+Concat" for lowering in export.get("lowerings", [])
    )
    if sliced:
        parts.append(f"{sliced} pads as Slice+Concat")
    return " (" + "; ".join(parts) + ")"


def stage_lines(stages) -> list[str]:
    """`--verbose`: one line per stage with its seconds, then the total."""
    if not stages:
        return []
    width = max(len(stage.name) for stage in stages)
    lines = [f"stage {stage.name.ljust(width)}  {stage.seconds:7.3f} s" for stage in stages]
    total = sum(stage.seconds for stage in stages)
    lines.append(f"stage {'total'.ljust(width)}  {total:7.3f} s")
    return lines


def progress_line(stage) -> str:
    """A `Stage` starting (`seconds` None) or done."""
    if stage.seconds is None:
        return f"{stage.detail} ..."
    return f"{stage.detail}: done in {stage.seconds:.1f} s"


# --- several models --------------------------------------------------------------


def model_progress_line(index: int, count: int, outcome, path) -> str:
    """Model `index` of `count` starting (`outcome` None) or done."""
    if outcome is None:
        return f"[{index + 1}/{count}] {path} ..."
    status = outcome.report.status if outcome.report is not None else "error"
    return (f"[{index + 1}/{count}] {path}: {status} in {outcome.seconds:.1f} s "
            f"(exit {outcome.exit_code})")


def batch_lines(outcomes, *, verbose: bool = False) -> list[str]:
    """A section per `FileOutcome`, a blank line, then one summary table."""
    lines = []
    for outcome in outcomes:
        lines.append(f"== {outcome.input} ==")
        if outcome.report is None:
            lines.append(f"error (exit {outcome.exit_code}): {one_line(outcome.error, 2000)}")
        else:
            lines.extend(file_report_lines(outcome.report, verbose=verbose))
    return [*lines, "", *_batch_table(outcomes)]


def _batch_table(outcomes) -> list[str]:
    """One row per model: status, layers rewritten, checks, seconds, exit code."""
    header = ("model", "status", "rewritten", "keras", "onnx", "seconds", "exit")
    rows = [_batch_row(outcome) for outcome in outcomes]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [header, *rows]]


def _batch_row(outcome) -> tuple[str, ...]:
    report = outcome.report
    if report is None:
        return (outcome.input, "error", "-", "-", "-", f"{outcome.seconds:.1f}",
                str(outcome.exit_code))
    records = report.rewrite.records
    keras_check = "-" if report.keras_check is None else (
        "PASSED" if report.keras_check else "FAILED")
    onnx = "-"
    if report.parity is not None:
        worst = max((o.max_abs for o in report.parity.outputs), default=0.0)
        onnx = f"{'PASSED' if report.parity else 'FAILED'} max_abs={worst:.1e}"
    elif report.onnx:
        onnx = "written"
    return (outcome.input, report.status, f"{len(report.rewrite.rewritten)}/{len(records)}",
            keras_check, onnx, f"{outcome.seconds:.1f}", str(outcome.exit_code))


def failed_models_line(outcomes, worst: int) -> str:
    failed = sum(outcome.exit_code != 0 for outcome in outcomes)
    return (f"Error: {failed} of {len(outcomes)} models failed "
            f"(exit code {worst}, the worst).")


# --- JSON ----------------------------------------------------------------------


def report_json(report) -> str:
    """`--json` of one model: its `FileReport`."""
    return json.dumps(report.to_dict(), indent=2, default=str)


def batch_json(outcomes, worst: int) -> str:
    """`--json` of several models: the worst exit code and each `FileOutcome`."""
    return json.dumps(
        {"exit_code": worst, "models": [outcome.to_dict() for outcome in outcomes]},
        indent=2, default=str,
    )


def parity_json(parity) -> str:
    """`padrewrite verify --json`: the status and the `ParityReport`."""
    return json.dumps({"status": "passed" if parity else "failed", "onnx": parity.to_dict()},
                      indent=2)
