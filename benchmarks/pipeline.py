"""Table 1 worker: the `padrewrite` command's stages against the floor, one model.

In one process (TensorFlow start-up excluded) each round runs, in a rotating
order:

- `padrewrite`: `padrewrite.rewrite_file`, which `padrewrite rewrite MODEL
  --mode reflect -o OUT.keras --onnx OUT.onnx --verify` runs, stage by stage:
  load, rewrite, save, export, verify (reload + Keras check, then ONNX parity);
- `floor`: `floor.run_stages` (load, save, tf2onnx conversion, one
  onnxruntime run);
- `cli` and `floor-cli`: the same two as fresh subprocesses, timed end to end
  (TensorFlow start-up included);
- `startup`: a subprocess that only imports TensorFlow, Keras, tf2onnx and
  onnxruntime.

Every stage and subprocess is timed by the wall clock and by CPU time (this
process's, or the subprocess's user + system). A tiny model goes through both
pipelines first, so one-time costs (imports, first tracing) are not charged
to the first round.
"""

from __future__ import annotations

import gc
import resource
import subprocess
import sys
import time
from pathlib import Path

import common
import floor
from common import log, measured, rotate, timed

PADREWRITE_STAGES = ("load", "rewrite", "save", "export", "verify")
STARTUP_CODE = "import tensorflow, keras, tf2onnx, onnx, onnxruntime"


#: Table columns for the stages `padrewrite.rewrite_file` reports.
STAGE_COLUMNS = {
    "load": "load", "rewrite": "rewrite", "save": "save", "promote": "save",
    "export": "export", "reload": "verify", "verify": "verify", "parity": "verify",
}


def padrewrite_stages(model_path, out_keras, out_onnx, mode, times, cpu):
    """`padrewrite.rewrite_file`, as the command runs it, timed per stage (wall and CPU)."""
    from padrewrite.pipeline import rewrite_file

    started = {}

    def on_stage(stage):
        if stage.seconds is None:
            started[stage.name] = time.process_time()
            return
        column = STAGE_COLUMNS[stage.name]
        times[column] = times.get(column, 0.0) + stage.seconds
        cpu[column] = cpu.get(column, 0.0) + time.process_time() - started[stage.name]

    report = rewrite_file(
        model_path, Path(out_keras), mode, onnx_path=Path(out_onnx), opset=18, hoist=True,
        verify=True, atol=1e-4, rtol=1e-3, samples=3, on_stage=on_stage,
    )
    return {
        "summary": report.rewrite.summary(),
        "layers_rewritten": len(report.rewrite.rewritten),
        "onnx_nodes": sum(report.export.node_counts.values()),
        "keras_check_passed": bool(report.keras_check),
        "parity_passed": bool(report.parity),
        "parity_max_abs": max(output.max_abs for output in report.parity.outputs),
    }


def _stage_timer(times, cpu):
    """A timer recording each stage's wall and process CPU seconds."""

    def timer(stage, function, *args, **kwargs):
        times[stage], cpu[stage], result = measured(function, *args, **kwargs)
        return result

    return timer


def _subprocess_times(command, times, cpu):
    """Run `command`; its wall seconds and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, completed = timed(
        subprocess.run, command, capture_output=True, text=True, env=_quiet_env()
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        log(f"{' '.join(map(str, command))} failed:\n{completed.stderr[-3000:]}")
        output = (completed.stderr.strip() or completed.stdout.strip()).splitlines()
        raise RuntimeError(
            f"the subprocess exited with code {completed.returncode}: "
            f"{output[-1] if output else '(no output)'}"
        )
    times["total"] = seconds
    cpu["total"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _next_stage(key, times):
    """The stage that was running when `key` failed."""
    if key == "padrewrite":
        return next((stage for stage in PADREWRITE_STAGES if stage not in times), None)
    if key == "floor":
        return next((stage for stage in floor.STAGES if stage not in times), None)
    return None


def _failure(error, stage):
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    message = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return f"failed in {stage}: {message}" if stage else message


def _quiet_env():
    import os

    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _warm_up(workdir: Path, mode):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2)(x)
    path = workdir / "warmup.keras"
    keras.Model(inputs, outputs).save(path)
    padrewrite_stages(path, workdir / "warmup-p.keras", workdir / "warmup-p.onnx", mode, {}, {})
    floor.run_stages(path, workdir / "warmup-f.keras", workdir / "warmup-f.onnx",
                     _stage_timer({}, {}))


def _diagnostics(model_path, out: Path, mode):
    """Single timings that split export and verify into their parts."""
    import keras

    from padrewrite.keras_side.io import load_model
    from padrewrite.onnx import export_onnx
    from padrewrite.rewrite import rewrite_model
    from padrewrite.verify.keras_check import check_saved_model
    from padrewrite.verify.parity import check_parity

    gc.collect()
    original = load_model(model_path)
    seconds = {}
    seconds["clone_model"], _ = timed(keras.models.clone_model, original)
    seconds["rewrite"], result = timed(rewrite_model, original, mode, 0.0)
    rewritten = result.model
    seconds["tf2onnx_original"], _ = timed(floor.convert, original, out / "diag-original.onnx")
    seconds["tf2onnx_rewritten"], _ = timed(floor.convert, rewritten, out / "diag.onnx")
    seconds["export_onnx"], _ = timed(export_onnx, rewritten, out / "diag-export.onnx")
    seconds["reload"], reloaded = timed(load_model, out / "lib.keras")
    seconds["keras_check"], _ = timed(
        check_saved_model, original, rewritten, reloaded, out / "lib.keras",
        exact=(mode == "constant"),
    )
    seconds["onnx_parity"], _ = timed(
        check_parity, reloaded, out / "lib.onnx", atol=1e-4, rtol=1e-3, samples=3
    )
    return seconds


def run(config):
    name = config["model"]
    mode = config.get("mode", "reflect")
    rounds = config["rounds"]
    workdir = Path(config["workdir"])
    model_path = common.application_file(workdir, name)
    out = workdir / "pipeline" / name
    out.mkdir(parents=True, exist_ok=True)
    log(f"[pipeline {name}] warm-up on a tiny model")
    _warm_up(out, mode)
    here = Path(__file__).resolve().parent
    cli = [sys.executable, "-m", "padrewrite", str(model_path), "--mode", mode,
           "-o", str(out / "cli.keras"), "--onnx", str(out / "cli.onnx"), "--verify"]
    floor_cli = [sys.executable, str(here / "floor.py"), str(model_path),
                 str(out / "floor-cli.keras"), str(out / "floor-cli.onnx")]
    runs = {
        "padrewrite": lambda times, cpu: padrewrite_stages(
            model_path, out / "lib.keras", out / "lib.onnx", mode, times, cpu
        ),
        "floor": lambda times, cpu: floor.run_stages(
            model_path, out / "floor.keras", out / "floor.onnx", _stage_timer(times, cpu)
        ),
        "cli": lambda times, cpu: _subprocess_times(cli, times, cpu),
        "floor-cli": lambda times, cpu: _subprocess_times(floor_cli, times, cpu),
        "startup": lambda times, cpu: _subprocess_times(
            [sys.executable, "-c", STARTUP_CODE], times, cpu
        ),
    }
    if not config.get("subprocesses", True):
        for key in ("cli", "floor-cli", "startup"):
            del runs[key]
    results, failures = [], {}
    details = {}
    for index in range(rounds):
        row = {}
        for key in rotate(runs, index):
            if key in failures:  # it failed in an earlier round: it would again
                continue
            gc.collect()
            log(f"[pipeline {name}] round {index + 1}/{rounds}: {key}")
            times, cpu = {}, {}
            try:
                info = runs[key](times, cpu)
            except Exception as error:  # reported in RESULTS.md; the others go on
                failures[key] = _failure(error, stage=_next_stage(key, times))
                log(f"[pipeline {name}] {key} FAILED: {failures[key]}")
                continue
            if key in ("padrewrite", "floor"):
                details[key] = info
            times["total"] = times.get("total", sum(times.values()))
            cpu["total"] = cpu.get("total", sum(cpu.values()))
            row[key], row[f"{key}:cpu"] = times, cpu
            log(f"[pipeline {name}] round {index + 1}/{rounds}: {key} "
                + " ".join(f"{stage}={seconds:.2f}s" for stage, seconds in times.items())
                + f" (CPU {cpu['total']:.2f}s)")
        results.append(row)
    diagnostics = None
    if "padrewrite" not in failures:
        log(f"[pipeline {name}] diagnostics: the parts of export and verify, once")
        diagnostics = _diagnostics(model_path, out, mode)
    return {
        "model": name,
        "mode": mode,
        "rounds": results,
        "failures": failures,
        "diagnostics": diagnostics,
        "details": details.get("padrewrite"),
        "floor_details": details.get("floor"),
        "padrewrite_stages": PADREWRITE_STAGES,
        "floor_stages": floor.STAGES,
    }


if __name__ == "__main__":
    common.worker_main(run)
