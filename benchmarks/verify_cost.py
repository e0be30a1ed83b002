"""The cost of `--verify` before and after the error floor, per model.

`python benchmarks/verify_cost.py --before COMMIT [--rounds 3]` checks out
`COMMIT` into a temporary git worktree and, round after round in rotating order,
times in a fresh process for each (version, model) the two checks `--verify`
runs after the export: `check_saved_model` (the reloaded file against the
rewritten model; constant mode also against the original) and `check_parity`
(the rewritten model against onnxruntime on 3 random batches + zeros + ones,
batch 2). Both versions check the same saved files. Models: table 1's
keras.applications models (weights=None, 224x224x3, reflect) and an
instance-norm CycleGAN generator (the keras-io architecture, 64x64, trained-looking
random weights, constant mode), whose all-zeros and all-ones samples are
ill-conditioned: only it pays for error floors. Writes its section of
`benchmarks/RESULTS.md` (between the markers below; replaced on each run, the
rest of the file untouched) and raw figures to `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PREPARE = textwrap.dedent("""
    import sys, numpy as np, keras
    sys.path.insert(0, {tests!r})
    from padrewrite import rewrite_model, export_onnx
    name, directory = sys.argv[1], sys.argv[2]
    if name == "CycleGAN-instance-norm":
        import corpus
        corpus._instance_norm = lambda: keras.layers.GroupNormalization(groups=-1)
        model = corpus.build_cyclegan_generator()
        rng = np.random.default_rng(0)
        for layer in model.layers:
            weights = layer.get_weights()
            if not weights:
                continue
            if isinstance(layer, keras.layers.GroupNormalization):
                new = [rng.uniform(0.5, 1.5, weights[0].shape), rng.normal(0, 0.2, weights[1].shape)]
            else:
                new = [rng.normal(0, 1 / np.sqrt(np.prod(w.shape[:-1])), w.shape) if w.ndim > 1
                       else rng.normal(0, 0.1, w.shape) for w in weights]
            layer.set_weights([n.astype(w.dtype) for n, w in zip(new, weights)])
        mode = "constant"
    else:
        model = getattr(keras.applications, name)(weights=None, input_shape=(224, 224, 3))
        mode = "reflect"
    model.save(f"{{directory}}/original.keras")
    rewritten = rewrite_model(model, mode).model
    rewritten.save(f"{{directory}}/rewritten.keras")
    export_onnx(rewritten, f"{{directory}}/rewritten.onnx")
    print(mode)
""")

MEASURE = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, {tests!r})
    import keras, padrewrite
    from padrewrite.verify.keras_check import check_saved_model
    from padrewrite.verify.parity import check_parity
    directory, exact = sys.argv[2], sys.argv[3] == "constant"
    if "cyclegan" in directory.lower():
        import corpus  # registers its layers
    original = keras.saving.load_model(f"{{directory}}/original.keras", compile=False)
    rewritten = keras.saving.load_model(f"{{directory}}/rewritten.keras", compile=False)
    reloaded = keras.saving.load_model(f"{{directory}}/rewritten.keras", compile=False)
    onnx_path = f"{{directory}}/rewritten.onnx"
    check_parity(rewritten, onnx_path, samples=0)  # first traces and sessions
    start = time.perf_counter()
    keras_report = check_saved_model(original, rewritten, reloaded, "x.keras", exact=exact)
    middle = time.perf_counter()
    parity = check_parity(rewritten, onnx_path)
    end = time.perf_counter()
    print(json.dumps({{"keras": middle - start, "parity": end - middle,
                      "passed": [bool(keras_report), bool(parity)]}}))
""")

MODELS = ("MobileNetV2", "EfficientNetB0", "ResNet50", "CycleGAN-instance-norm")
BEGIN, END = "<!-- verify_cost.py: begin -->", "<!-- verify_cost.py: end -->"
RESULTS = REPO / "benchmarks" / "RESULTS.md"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--render", type=Path,
                        help="write the section from an earlier --json file, measuring nothing")
    args = parser.parse_args()
    if args.render:
        raw = json.loads(args.render.read_text())
        times = {tuple(key.split("/", 1)): runs for key, runs in raw.items()}
        _write_section(args, times, {"before": None, "after": None}, _modes())
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "1"}
    tests = str(REPO / "tests")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        old = work / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old),
                        args.before], check=True, capture_output=True)
        try:
            versions = {"before": str(old), "after": str(REPO)}
            modes = _modes()
            for name in MODELS:
                directory = work / name
                directory.mkdir()
                subprocess.run(
                    [sys.executable, "-c", PREPARE.format(tests=tests), name, str(directory)],
                    check=True, capture_output=True, text=True, env=env)
            times = {(v, m): [] for v in versions for m in MODELS}
            order = list(versions)
            for round_ in range(args.rounds):
                for name in MODELS:
                    for version in order[round_ % 2:] + order[: round_ % 2]:
                        done = subprocess.run(
                            [sys.executable, "-c", MEASURE.format(tests=tests),
                             versions[version], str(work / name), modes[name]],
                            check=True, capture_output=True, text=True, env=env)
                        times[version, name].append(json.loads(done.stdout.splitlines()[-1]))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)],
                           capture_output=True)
    if args.json:
        args.json.write_text(json.dumps({f"{v}/{m}": t for (v, m), t in times.items()}, indent=1))
    _write_section(args, times, versions, modes)


def _modes():
    return {name: "constant" if name.startswith("CycleGAN") else "reflect" for name in MODELS}


def _write_section(args, times, versions, modes):
    rows = []
    for name in MODELS:
        for version in versions:
            runs = times[version, name]
            keras_s = statistics.median(r["keras"] for r in runs)
            parity_s = statistics.median(r["parity"] for r in runs)
            total = statistics.median(r["keras"] + r["parity"] for r in runs)
            passed = ", ".join(f"{sum(r['passed'][i] for r in runs)}/{len(runs)}" for i in (0, 1))
            rows.append(f"| {name} | {modes[name]} | {version} | {keras_s:.2f} | "
                        f"{parity_s:.2f} | {total:.2f} | {passed} |")
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    section = "\n".join([
        BEGIN,
        "## 5. The cost of `--verify`: before and after the error floor",
        "",
        f"`python benchmarks/verify_cost.py --before {args.before} --rounds {args.rounds}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}. `before` is commit "
        f"{args.before} (fixed tolerances, one comparison per check); `after` the error "
        "floor and the shared comparison. Each figure is the median over rounds of one fresh "
        "process per (version, model), the two versions interleaved in rotating order, both "
        "checking the same saved files: `check_saved_model` (reload check) and `check_parity` "
        "(5 samples, batch 2), first traces excluded. Seconds, wall clock; the last column "
        "counts the rounds in which each check passed.",
        "",
        "| model | mode | version | Keras check (s) | ONNX parity (s) | verify total (s) | "
        "rounds passed (keras, onnx) |",
        "|---|---|---|---:|---:|---:|---|",
        *rows,
        "",
        "A sample that passes its tolerance costs nothing more: table 1's models measure no "
        "floor, so their differences are run-to-run noise. A sample of the instance-norm "
        "generator that fails its tolerance costs one more Keras run per perturbation (2).",
        END,
    ])
    text = RESULTS.read_text()
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(section)

if __name__ == "__main__":
    main()
