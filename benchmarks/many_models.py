"""Five small models: one `padrewrite` run over all of them vs five separate runs.

    python benchmarks/many_models.py [--rounds 3] [--output benchmarks/MANY_MODELS.md]

Both sides run the command as users do (`python -m padrewrite`, a fresh
process each), with `--mode reflect --onnx --verify`; rounds alternate which
side goes first. Writes a Markdown file with the machine, the wall-clock
medians and their ratio (target: one run <= 0.6x five runs), and the raw
figures as JSON beside it. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, log
from machine import describe

TARGET = 0.6
COUNT = 5


def build_models(directory: Path) -> list[Path]:
    code = f"""
import keras
L = keras.layers
for index in range({COUNT}):
    image = keras.Input((32, 32, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="c1")(image)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.Conv2D(4 + index, 3, padding="same", name="out")(x)
    keras.Model(image, x, name=f"small{{index}}").save(rf"{directory}/small{{index}}.keras")
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=_env())
    return sorted(directory.glob("small*.keras"))


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(arguments) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "padrewrite", *map(str, arguments)], check=True,
                   env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def separate(models, out: Path) -> float:
    total = 0.0
    for model in models:
        total += _run([model, "--mode", "reflect", "-o", out / model.name, "--onnx",
                       out / f"{model.stem}.onnx", "--verify"])
    return total


def together(models, out: Path) -> float:
    return _run([*models, "--mode", "reflect", "-o", out, "--onnx", "--verify"])


def _list(values, digits=1) -> str:
    return ", ".join(f"{value:.{digits}f}" for value in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "MANY_MODELS.md")
    args = parser.parse_args()
    machine = describe()
    rounds = []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        models = build_models(work)
        for index in range(args.rounds):
            sides = [("separate", separate), ("together", together)]
            if index % 2:
                sides.reverse()
            figures = {}
            for name, function in sides:
                out = work / f"{name}{index}"
                out.mkdir()
                figures[name] = function(models, out)
                log(f"round {index + 1}: {name} {figures[name]:.1f} s")
            rounds.append(figures)
    separate_median = statistics.median(r["separate"] for r in rounds)
    together_median = statistics.median(r["together"] for r in rounds)
    ratios = [r["together"] / r["separate"] for r in rounds]
    ratio = statistics.median(ratios)
    data = {"machine": machine, "models": COUNT, "rounds": rounds, "ratio_median": ratio,
            "target": TARGET}
    args.output.with_suffix(".json").write_text(json.dumps(data, indent=2))
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        "# Many models in one run",
        "",
        f"{machine['date']}; {machine['cores']} cores ({machine['usable_cores']} usable), "
        f"{machine['cpu']}; load average at start "
        f"{_list(machine['load_average_start'], 2)}; {versions}; "
        f"{machine['git']}.",
        "",
        f"{COUNT} small models (32x32x3, four 'same' convolutions), `--mode reflect --onnx "
        f"--verify`, each side a fresh `python -m padrewrite` process as users run it; "
        f"{args.rounds} rounds, order alternating. Wall clock.",
        "",
        "| | median (s) | rounds (s) |",
        "|---|---|---|",
        f"| {COUNT} separate runs | {separate_median:.1f} | "
        f"{_list(r['separate'] for r in rounds)} |",
        f"| one run, {COUNT} models | {together_median:.1f} | "
        f"{_list(r['together'] for r in rounds)} |",
        "",
        f"Ratio one run / separate runs (median of per-round ratios): **{ratio:.2f}x** "
        f"(per round {_list(ratios, 2)}); target <= {TARGET}x: "
        f"{'met' if ratio <= TARGET else 'missed'}.",
        "",
    ]
    args.output.write_text("\n".join(lines))
    log(f"wrote {args.output}: ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
