"""Table 2 worker: inference latency of rewritten models against the originals.

For each model, the original and one rewrite per variant (mode, opset, pad
hoisting) are exported with `padrewrite.onnx.export_onnx`. Every round
then times, per model, all its onnxruntime sessions round-robin (1 intra-op and
1 inter-op thread, batch 1), then all its Keras models (compiled `tf.function`,
TensorFlow limited to 1 thread each way) the same way. Each call is timed by
the wall clock and by the process CPU time; a ratio is the median, over sweeps,
of a variant's time over the original's in the same sweep.

For the explanation of the figures each ONNX variant is also run under the
onnxruntime profiler (kernel time per op type) and its optimized graph is saved
(op counts after onnxruntime's fusions and layout passes).
"""

from __future__ import annotations

import collections
import gc
import json
import os
from pathlib import Path

import common
import numpy as np
from common import log, median, paired_ratio, round_robin, timed

#: (label, mode, opset, hoist). The original is always measured too.
VARIANTS = (
    ("constant", "constant", 18, True),
    ("reflect", "reflect", 18, True),
    ("reflect, no hoist", "reflect", 18, False),
    ("replicate", "replicate", 18, True),
    ("symmetric", "symmetric", 18, True),
    ("circular", "circular", 18, True),
    ("circular, opset 19", "circular", 19, True),
)
ORIGINAL = "original"


def _file_name(label):
    return label.replace(", ", "-").replace(" ", "") + ".onnx"


def export_variants(model, out: Path, variants):
    """Export the original and every variant; returns per-label info and Keras models."""
    from padrewrite.onnx import export_onnx
    from padrewrite.rewrite import rewrite_model

    info, keras_models = {}, {ORIGINAL: model}
    seconds, report = timed(export_onnx, model, out / _file_name(ORIGINAL))
    info[ORIGINAL] = _export_info(report, seconds, None)
    rewritten = {}
    for label, mode, opset, hoist in variants:
        if mode not in rewritten:
            rewrite_seconds, rewritten[mode] = timed(rewrite_model, model, mode, 0.0)
            keras_models[mode] = rewritten[mode].model
        else:
            rewrite_seconds = None
        result = rewritten[mode]
        seconds, report = timed(
            export_onnx, result.model, out / _file_name(label), opset=opset, hoist=hoist
        )
        info[label] = _export_info(report, seconds, rewrite_seconds)
        info[label].update(mode=mode, opset=opset, hoist=hoist,
                           summary=result.report.summary())
        nodes = sum(report.node_counts.values())
        log(f"exported {out.name} {label}: {seconds:.1f} s, {nodes} nodes")
    return info, keras_models


def _export_info(report, seconds, rewrite_seconds):
    return {
        "path": report.path,
        "opset": report.opset,
        "export_seconds": seconds,
        "rewrite_seconds": rewrite_seconds,
        "node_counts": dict(report.node_counts),
        "pads_hoisted": report.pads_hoisted,
        "layout_ops_hoisted": report.layout_ops_hoisted,
        "pads_rewritten": dict(report.pads_rewritten),
        "padded_elements_before": getattr(report, "padded_elements_before", None),
        "padded_elements_after": getattr(report, "padded_elements_after", None),
    }


def analyse(paths: dict, x, runs: int):
    """Per label: op counts of the graph onnxruntime runs (after its optimizations)
    and kernel milliseconds per run by op type from its profiler (the sum over
    the nodes of each type of their median duration over `runs` runs).

    The profiled sessions run round-robin, like the timed ones, so a noisy
    moment does not land on one file only.
    """
    import onnx

    sessions = {}
    for label, path in paths.items():
        path = Path(path)
        sessions[label] = common.ort_session(
            path, optimized_path=path.with_suffix(".optimized.onnx"),
            profile_prefix=path.with_suffix(""),
        )
    feeds = {label: {s.get_inputs()[0].name: x} for label, s in sessions.items()}
    round_robin({label: (lambda s=s, f=feeds[label]: s.run(None, f))
                 for label, s in sessions.items()}, seconds=0, min_sweeps=runs)
    result = {}
    for label, session in sessions.items():
        profile = session.end_profiling()
        with open(profile) as file:
            events = json.load(file)
        os.unlink(profile)
        # Each node runs once per run: its median duration is robust to the
        # moments another process held the CPU.
        durations, op_types = collections.defaultdict(list), {}
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                durations[event["name"]].append(event["dur"])
                op_types[event["name"]] = event["args"]["op_name"]
        totals = collections.Counter()
        for node, values in durations.items():
            totals[op_types[node]] += median(values)
        graph = onnx.load(str(Path(paths[label]).with_suffix(".optimized.onnx"))).graph
        counts = collections.Counter(
            (f"{node.domain.split('.')[-1]}." if node.domain else "") + node.op_type
            for node in graph.node
        )
        result[label] = {
            "optimized_ops": dict(sorted(counts.items())),
            "profile_ms": {op: us / 1000.0 for op, us in sorted(totals.items())},
        }
    return result


def layout_check(paths: dict, x, seconds: float, min_sweeps: int):
    """The reflect rewrite against the original with onnxruntime's optimizations at
    "ALL" (its blocked NCHWc Conv layout) and at "EXTENDED" (no layout change), all
    four sessions round-robin; CPU medians (ms) and same-sweep ratios."""
    runners = {}
    for level in ("ALL", "EXTENDED"):
        for label in (ORIGINAL, "reflect"):
            session = common.ort_session(paths[label], level=level)
            feed = {session.get_inputs()[0].name: x}
            runners[(level, label)] = lambda s=session, f=feed: s.run(None, f)
            for _ in range(3):
                runners[(level, label)]()
    cpu = round_robin(runners, seconds=seconds, min_sweeps=min_sweeps)["cpu"]
    return {
        level: {
            "original_ms": median(cpu[(level, ORIGINAL)]) * 1000,
            "reflect_ms": median(cpu[(level, "reflect")]) * 1000,
            "ratio": paired_ratio(cpu[(level, "reflect")], cpu[(level, ORIGINAL)]),
            "original_vs_all": paired_ratio(cpu[(level, ORIGINAL)], cpu[("ALL", ORIGINAL)]),
        }
        for level in ("ALL", "EXTENDED")
    }


def run(config):
    import tensorflow as tf

    common.set_tensorflow_threads(1, 1)
    tf.get_logger().setLevel("ERROR")  # one trace per tf.function is intended
    from padrewrite.keras_side.io import load_model

    workdir = Path(config["workdir"])
    names = config["models"]
    variants = [tuple(v) for v in config.get("variants", VARIANTS)]
    rounds = config["rounds"]
    x = np.random.default_rng(0).standard_normal((1, *common.INPUT_SHAPE)).astype(np.float32)
    sessions, tf_functions, info, checks, errors = {}, {}, {}, {}, {}
    for name in list(names):
        out = workdir / "inference" / name
        out.mkdir(parents=True, exist_ok=True)
        model = load_model(common.application_file(workdir, name))
        log(f"[inference {name}] exporting the original and {len(variants)} variants")
        try:
            info[name], keras_models = export_variants(model, out, variants)
        except Exception as error:  # reported in RESULTS.md; the other models go on
            errors[name] = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
            log(f"[inference {name}] FAILED: {errors[name]}")
            names = [n for n in names if n != name]
            continue
        sessions[name], checks[name] = {}, {}
        for label, item in info[name].items():
            session = common.ort_session(item["path"])
            input_name = session.get_inputs()[0].name
            sessions[name][label] = (lambda s=session, n=input_name: s.run(None, {n: x}))
            keras_model = keras_models[item.get("mode", ORIGINAL)]
            expected = np.asarray(keras_model(x, training=False))
            checks[name][label] = float(np.max(np.abs(sessions[name][label]()[0] - expected)))
        tf_functions[name] = {}
        for label, keras_model in keras_models.items():
            function = tf.function(
                lambda t, m=keras_model: m(t, training=False),
                input_signature=[tf.TensorSpec(x.shape, tf.float32)],
                jit_compile=False,
            )
            tensor = tf.constant(x)
            tf_functions[name][label] = (lambda f=function, t=tensor: f(t).numpy())
        for runner in [*sessions[name].values(), *tf_functions[name].values()]:
            for _ in range(3):  # warm-up: arenas, kernels, tracing
                runner()
        gc.collect()

    ort_rounds = {name: [] for name in names}
    tf_rounds = {name: [] for name in names}
    for index in range(rounds):
        for name in names:
            ort_rounds[name].append(round_robin(
                sessions[name], seconds=config["ort_seconds"], min_sweeps=config["min_sweeps"]
            ))
            log(f"[inference {name}] round {index + 1}/{rounds} onnxruntime: "
                + _ratios_line(ort_rounds[name][-1]))
        for name in names:
            tf_rounds[name].append(round_robin(
                tf_functions[name], seconds=config["tf_seconds"],
                min_sweeps=config["min_sweeps_tf"],
            ))
            log(f"[inference {name}] round {index + 1}/{rounds} tensorflow: "
                + _ratios_line(tf_rounds[name][-1]))

    analysis, layouts = {}, {}
    for name in names:
        sessions[name].clear()
        tf_functions[name].clear()
        gc.collect()
        paths = {label: item["path"] for label, item in info[name].items()}
        analysis[name] = analyse(paths, x, config["profile_runs"])
        log(f"[inference {name}] profiled {len(paths)} ONNX files")
        if "reflect" in paths:
            layouts[name] = layout_check(paths, x, config["ort_seconds"], config["min_sweeps"])
            log(f"[inference {name}] reflect at ALL x{layouts[name]['ALL']['ratio']:.3f}, "
                f"at EXTENDED x{layouts[name]['EXTENDED']['ratio']:.3f}")
    return {
        "models": names,
        "errors": errors,
        "variants": [v[0] for v in variants],
        "exports": info,
        "max_abs_vs_keras": checks,
        "ort": {name: summarise(ort_rounds[name]) for name in names},
        "tf": {name: summarise(tf_rounds[name]) for name in names},
        "analysis": analysis,
        "layouts": layouts,
        "profile_runs": config["profile_runs"],
    }


def _ratios_line(samples):
    cpu = samples["cpu"]
    return " ".join(
        f"{label}={median(values) * 1000:.2f}ms(x{paired_ratio(values, cpu[ORIGINAL]):.3f})"
        for label, values in cpu.items()
    )


def summarise(rounds, baseline=ORIGINAL):
    """Medians (ms) and same-sweep ratios against `baseline`, CPU and wall clock."""
    summary = {}
    for label in rounds[0]["cpu"]:
        row = {}
        for clock in ("cpu", "wall"):
            values = [v for r in rounds for v in r[clock][label]]
            base = [v for r in rounds for v in r[clock][baseline]]
            row[f"{clock}_ms"] = median(values) * 1000
            row[f"{clock}_ratio"] = paired_ratio(values, base)
            row[f"{clock}_round_ratios"] = [
                paired_ratio(r[clock][label], r[clock][baseline]) for r in rounds
            ]
        row["samples"] = sum(len(r["cpu"][label]) for r in rounds)
        summary[label] = row
    return summary


if __name__ == "__main__":
    common.worker_main(run)
