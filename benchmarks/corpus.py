"""The real-model corpus through `padrewrite.rewrite_file`, written to benchmarks/CORPUS.md.

    python benchmarks/corpus.py            # every model of tests/corpus.py (about 5 min)
    python benchmarks/corpus.py espcn ...  # some of them

Per model: constant `--verify` (the reloaded file against the original: the
largest difference), reflect with `--onnx --verify` (opset 18) and replicate
with `--onnx --opset 19 --verify` (Keras against onnxruntime: the largest
difference), what was rewritten, skipped and noted, and the outcome of each
step: `passed`, or the one-line answer the tool gave (exit 1 or 2).
`tests/test_real_models.py` asserts the same outcomes in CI.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import machine  # noqa: E402

STEPS = {
    "constant": dict(mode="constant", verify=True),
    "reflect": dict(mode="reflect", verify=True, onnx=True, opset=18),
    "replicate": dict(mode="replicate", verify=True, onnx=True, opset=19),
}
#: As tests/test_real_models.py: MobileNetV3 and EfficientNetB0 at 64x64 fall back to
#: replicate on their 2x2 maps.
OPTIONS = {
    "mobilenet_v3_small": {"fallback_mode": "replicate"},
    "efficientnet_b0": {"fallback_mode": "replicate"},
}


def _source(entry, directory: Path) -> Path:
    if entry.kind == "h5":
        return Path(entry.build(directory))
    path = directory / f"{entry.name}.keras"
    model = entry.build()
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def _step(source, directory, name, step, settings):
    from padrewrite.errors import InputError
    from padrewrite.output.render import keras_check_lines, parity_lines, reload_lines
    from padrewrite.pipeline import rewrite_file

    settings = dict(settings)
    onnx = settings.pop("onnx", False)
    try:
        report = rewrite_file(
            source, directory / f"{step}.keras", onnx_path=directory / f"{step}.onnx" if onnx
            else None, **settings, **OPTIONS.get(name, {}),
        )
    except InputError as error:
        return None, f"exit 2: {' '.join(str(error).split())[:160]}"
    if not report:
        checks = [(report.keras_check, keras_check_lines), (report.parity, parity_lines),
                  (report.reload, reload_lines)]
        if report.parity is not None and not report.parity:
            failed = [o for o in report.parity.outputs if not o.passed]
            detail = failed[0].error or f"ONNX max_abs {failed[0].max_abs:.1e}"
        else:
            detail = next((lines(c)[0] for c, lines in checks if c is not None and not c),
                          "check")
        return report, f"exit 1: {detail[:160]}"
    return report, "passed"


def measure(name):
    import corpus

    entry = corpus.CORPUS[name]
    row = {"name": name, "source": entry.source, "kind": entry.kind}
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        source = _source(entry, directory)
        start = time.perf_counter()
        for step, settings in STEPS.items():
            report, outcome = _step(source, directory, name, step, settings)
            row[step] = outcome
            if report is None:
                continue
            if step == "constant":
                rewrite = report.rewrite
                row["rewritten"] = len(rewrite.rewritten)
                row["skipped"] = len(rewrite.skipped)
                row["records"] = len(rewrite.records)
                row["fallback"] = len(rewrite.with_action("fallback"))
                row["notes"] = [note.change for note in rewrite.notes] + (
                    ["load-note"] if report.load_notes else []) + (
                    ["save-note"] if report.save_notes else [])
                outputs = report.keras_check.outputs if report.keras_check else ()
                row["constant_max_abs"] = max(
                    (o.max_abs_vs_original for o in outputs if o.max_abs_vs_original is not None),
                    default=None,
                )
            if report.parity is not None and report:
                row[f"{step}_max_abs"] = max(o.max_abs for o in report.parity.outputs)
        row["seconds"] = time.perf_counter() - start
    return row


def _fallback(row) -> str:
    return f" (+{row['fallback']} fallback)" if row.get("fallback") else ""


def render(rows, info) -> str:
    lines = [
        "# The real-model corpus",
        "",
        "Every model of `tests/corpus.py` (public architectures: keras-io examples, "
        "keras.applications, keras-hub backbones built from constructor arguments, tf.keras 2 "
        "`.h5` files, mixed precision) through `padrewrite.rewrite_file`, as the command runs "
        "it. Written by `python benchmarks/corpus.py`; `tests/test_real_models.py` (slow) "
        "asserts the same outcomes in CI.",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['versions']}; {info['git']}.",
        f"Measured {info['date']}.",
        "",
        "Columns: rows in the report (every layer that pads 'same'/'causal', at any depth), "
        "rewritten / skipped; `constant` = `--mode constant --verify` and the largest "
        "difference between the reloaded file and the original; `reflect` = `--onnx --verify` "
        "at opset 18 and `replicate` at opset 19, with the largest Keras↔onnxruntime "
        "difference; notes: `class-changed` (a subclass saved as a plain Functional), "
        "`layer-shared`, `load-note` (tf.keras 2 legacy keys), `save-note` (build shapes "
        "repaired). Default tolerances everywhere (ill-conditioned samples judged against their "
        "error floor). Options as in the sweep: `mobilenet_v3_small` and `efficientnet_b0` `fallback_mode='replicate'` "
        "(2x2 maps at 64x64 input).",
        "",
        "| model | kind | rows | rewritten | skipped | constant | reflect | replicate | notes | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(row, step):
        outcome = row.get(step, "-")
        value = row.get(f"{step}_max_abs")
        if outcome == "passed" and value is not None:
            return f"passed, {value:.1e}"
        return outcome.replace("|", "/")

    for row in rows:
        lines.append(
            f"| {row['name']} | {row['kind']} | {row.get('records', '-')} | "
            f"{row.get('rewritten', '-')}{_fallback(row)} | {row.get('skipped', '-')} | "
            f"{cell(row, 'constant')} | {cell(row, 'reflect')} | {cell(row, 'replicate')} | "
            f"{', '.join(row.get('notes', [])) or '-'} | {row['seconds']:.0f} |"
        )
    passed = sum(all(row.get(s) == "passed" for s in STEPS) for row in rows)
    lines += ["", f"{passed} of {len(rows)} models pass every step; the others get the "
              "one-line answer shown (exit 1: a check failed, nothing written; exit 2: the "
              "input or options cannot be served as asked).", "", "Sources:", ""]
    lines += [f"- {row['name']}: {row['source']}" for row in rows]
    return "\n".join(lines) + "\n"


def main(names):
    import corpus

    names = names or list(corpus.CORPUS)
    rows = []
    for name in names:
        print(f"[corpus] {name}", file=sys.stderr, flush=True)
        rows.append(measure(name))
    described = machine.describe()
    info = {
        "cpu": described.get("cpu", "?"),
        "cores": described.get("cores", "?"),
        "versions": ", ".join(f"{k} {v}" for k, v in described.get("versions", {}).items()),
        "git": described.get("git", ""),
        "date": described.get("date", ""),
    }
    (HERE / "CORPUS.md").write_text(render(rows, info))
    print(f"wrote {HERE / 'CORPUS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
