"""Run padrewrite's benchmarks and write benchmarks/RESULTS.md.

    python benchmarks/run.py             # everything, 3 rounds (about 20-30 min)
    python benchmarks/run.py --quick     # smoke run: MobileNetV2, 1 round (about 4 min)

Each table is measured by a worker script in its own process (pipeline.py,
inference.py, pad_ops.py, scaling.py); this script chooses the settings,
starts the workers, keeps their raw results (results.json in the work
directory) and renders the Markdown (results.py). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine
import results
from common import APPLICATIONS, log

HERE = Path(__file__).resolve().parent
SECTIONS = ("pipeline", "inference", "pad_ops", "scaling")

FULL = {
    "models": list(APPLICATIONS),
    "rounds": 3,
    "subprocesses": True,
    "ort_seconds": 10.0,
    "tf_seconds": 8.0,
    "min_sweeps": 20,
    "min_sweeps_tf": 5,
    "profile_runs": 20,
    "pad_seconds": 4.0,
    "sizes": [400, 4000],
    "resnet": True,
}
QUICK = {
    **FULL,
    "models": ["MobileNetV2"],
    "rounds": 1,
    "ort_seconds": 2.0,
    "tf_seconds": 2.0,
    "min_sweeps": 3,
    "min_sweeps_tf": 2,
    "profile_runs": 3,
    "pad_seconds": 1.0,
    "sizes": [100, 1000],
    "resnet": False,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="short smoke run: MobileNetV2 only, 1 round, small graphs; "
                             "writes RESULTS.md into the work directory unless --out is given")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per table "
                        "(default 3, 1 with --quick)")
    parser.add_argument("--models", nargs="+", choices=APPLICATIONS,
                        help="keras.applications models for tables 1 and 2")
    parser.add_argument("--only", nargs="+", choices=SECTIONS,
                        help="run only these tables (pipeline=1, inference=2, pad_ops=3, "
                             "scaling=4)")
    parser.add_argument("--no-subprocess", action="store_true",
                        help="table 1: skip the end-to-end subprocess columns")
    parser.add_argument("--workdir", type=Path,
                        help="where models, ONNX files and results.json go "
                             "(default: a new temporary directory); reused models are kept")
    parser.add_argument("--out", type=Path, help="the Markdown file to write "
                        "(default benchmarks/RESULTS.md; <workdir>/RESULTS.md with --quick)")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                        help="only render an earlier run's results.json")
    parser.add_argument("--merge", type=Path, metavar="RESULTS_JSON",
                        help="start from an earlier run's results.json and replace only the "
                             "tables run now (e.g. to redo one that failed, with --only)")
    return parser.parse_args(argv)


def run_worker(section, config, workdir: Path):
    """Run `<section>.py` in a fresh process; its JSON result, or the error."""
    config_path = workdir / f"{section}.config.json"
    result_path = workdir / f"{section}.result.json"
    config_path.write_text(json.dumps(config))
    result_path.unlink(missing_ok=True)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(HERE / f"{section}.py"), str(config_path), str(result_path)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0 or not result_path.exists():
        log(f"{section} FAILED (exit {completed.returncode}) after {seconds:.0f} s")
        error = f"worker {section}.py exited with code {completed.returncode}"
        if result_path.exists():
            error = json.loads(result_path.read_text()).get("error", error)
        return {"error": error, "seconds": seconds}
    log(f"{section} done in {seconds:.0f} s")
    return {**json.loads(result_path.read_text()), "seconds": seconds}


def merge_pipeline(old, new):
    """Table 1 entries of `new` replace those of the same model in `old`."""
    by_model = {entry["model"]: entry for entry in old}
    by_model.update({entry["model"]: entry for entry in new})
    return [by_model[name] for name in APPLICATIONS if name in by_model]


def merge_inference(old, new):
    """Table 2 results of the models in `new` replace theirs in `old`."""
    if not old or "error" in old or "error" in new:
        return new
    measured = set(new["models"]) | set(new.get("errors", {}))
    merged = {**old, **{k: v for k, v in new.items() if not isinstance(v, dict)}}
    for key in ("exports", "max_abs_vs_keras", "ort", "tf", "analysis", "layouts"):
        merged[key] = {
            **{m: v for m, v in old.get(key, {}).items() if m not in measured},
            **new.get(key, {}),
        }
    merged["errors"] = {
        **{m: e for m, e in old.get("errors", {}).items() if m not in measured},
        **new.get("errors", {}),
    }
    models = (set(old["models"]) - measured) | set(new["models"])
    merged["models"] = [name for name in APPLICATIONS if name in models]
    return merged


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        out = args.out or HERE / "RESULTS.md"
        out.write_text(results.render(data))
        log(f"wrote {out}")
        return 0
    settings = dict(QUICK if args.quick else FULL)
    if args.rounds:
        settings["rounds"] = args.rounds
    if args.models:
        settings["models"] = list(args.models)
    if args.no_subprocess:
        settings["subprocesses"] = False
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="padrewrite-bench-"))
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out = args.out or (workdir / "RESULTS.md" if args.quick else HERE / "RESULTS.md")
    sections = args.only or SECTIONS
    log(f"work directory {workdir}; tables: {', '.join(sections)}; "
        f"rounds: {settings['rounds']}; models: {', '.join(settings['models'])}")

    command = " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])])
    if args.merge:  # the first run's machine record stays; this run is noted beside it
        data = json.loads(args.merge.read_text())
        data["reruns"] = [  # earlier re-runs of only these tables no longer describe them
            rerun for rerun in data.get("reruns", [])
            if not set(rerun["sections"]) <= set(sections)
        ] + [{"command": command, "sections": list(sections), **machine.describe()}]
    else:
        data = {"command": command, "settings": settings, "machine": machine.describe()}
    data["quick"] = args.quick or data.get("quick", False)
    start = time.perf_counter()
    # The model files are built once, by one process, before any timing.
    needed = list(settings["models"]) if {"pipeline", "inference"} & set(sections) else []
    if "scaling" in sections and settings["resnet"] and "ResNet50" not in needed:
        needed.append("ResNet50")
    if needed:
        prepared = run_worker("prepare", {"workdir": str(workdir), "models": needed}, workdir)
        if "error" in prepared:
            log("could not build the models; stopping")
            return 1
    base = {**settings, "workdir": str(workdir)}
    if "pipeline" in sections:
        data["pipeline"] = merge_pipeline(data.get("pipeline", []), [
            {"model": name, **run_worker("pipeline", {**base, "model": name}, workdir)}
            for name in settings["models"]
        ])
    if "inference" in sections:
        data["inference"] = merge_inference(
            data.get("inference"), run_worker("inference", base, workdir)
        )
    if "pad_ops" in sections:
        data["pad_ops"] = run_worker("pad_ops", base, workdir)
    if "scaling" in sections:
        data["scaling"] = run_worker("scaling", base, workdir)
    data["seconds"] = time.perf_counter() - start + (data.get("seconds", 0) if args.merge else 0)
    record = data["reruns"][-1] if args.merge else data["machine"]
    record["load_average_end"] = os.getloadavg()

    raw = workdir / "results.json"
    raw.write_text(json.dumps(data, indent=1, default=str))
    out.write_text(results.render(data))
    log(f"wrote {out} (raw results: {raw}) in {data['seconds'] / 60:.1f} min")
    failed = [s for s in sections if isinstance(data.get(s), dict) and "error" in data[s]]
    failed += [f"pipeline {p.get('model', '?')}" for p in data.get("pipeline", [])
               if "error" in p]
    if failed:
        log(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
