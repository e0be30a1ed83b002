"""Shared helpers of the benchmark workers: progress, timing, medians, models.

Every worker is a separate process started by `run.py` with a JSON config
file and writes a JSON result file; nothing here asserts a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: keras.applications models measured (weights=None, 224x224x3).
APPLICATIONS = ("MobileNetV2", "EfficientNetB0", "ResNet50")
INPUT_SHAPE = (224, 224, 3)

_START = time.perf_counter()


def log(message: str) -> None:
    """A progress line on stderr, with the seconds since the process started."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def timed(function, *args, **kwargs):
    """`(seconds, result)` of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def measured(function, *args, **kwargs):
    """`(wall seconds, CPU seconds of this process, result)` of one call.

    On a shared, oversubscribed machine the wall clock also counts the time
    other processes held the CPU; the process CPU time does not (both still
    drift with what else runs, through shared caches: compare paired ratios).
    For work done on one thread (onnxruntime with 1 intra-op thread runs in the
    caller's thread) it is close to the latency on an idle machine.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def median(values):
    return statistics.median(values) if values else float("nan")


def rotate(items, by):
    """`items` rotated left by `by`: alternates who goes first between rounds."""
    items = list(items)
    if not items:
        return items
    by %= len(items)
    return items[by:] + items[:by]


def round_robin(runners: dict, *, seconds: float, min_sweeps: int, max_sweeps: int = 100000):
    """Call every runner once per sweep, in a rotating order, until the budget is spent.

    Returns `{"wall": {name: [seconds per call, ...]}, "cpu": {...}}`, the
    i-th entries of every list from the same sweep (so ratios can be paired).
    Rotating the order each sweep keeps any one runner from always following
    the same neighbour (caches, frequency changes); spreading the sweeps over
    the budget means a noisy moment hits every runner alike.
    """
    names = list(runners)
    samples = {"wall": {name: [] for name in names}, "cpu": {name: [] for name in names}}
    deadline = time.perf_counter() + seconds
    sweep = 0
    while sweep < max_sweeps and (sweep < min_sweeps or time.perf_counter() < deadline):
        for name in rotate(names, sweep):
            wall, cpu, _ = measured(runners[name])
            samples["wall"][name].append(wall)
            samples["cpu"][name].append(cpu)
        sweep += 1
    return samples


def paired_ratio(values, baseline):
    """Median over sweeps of `values[i] / baseline[i]` (same-sweep pairs)."""
    return median([v / b for v, b in zip(values, baseline) if b > 0])


def build_application(name: str):
    """A keras.applications model with random weights (no download), seeded."""
    import keras

    keras.utils.set_random_seed(0)
    constructor = getattr(keras.applications, name)
    return constructor(weights=None, input_shape=INPUT_SHAPE)


def application_file(workdir: Path, name: str) -> Path:
    """`name` saved as .keras in `workdir` (built and saved on first use)."""
    path = Path(workdir) / f"{name}.keras"
    if not path.exists():
        log(f"building {name} (weights=None) and saving {path}")
        model = build_application(name)
        temporary = path.with_name(f".{path.name}.tmp.keras")
        model.save(temporary)
        os.replace(temporary, path)
    return path


def worker_main(run):
    """Entry point of a worker script: `worker.py CONFIG.json RESULT.json`."""
    config_path, result_path = sys.argv[1:3]
    with open(config_path) as file:
        config = json.load(file)
    try:
        result = run(config)
    except Exception as error:
        # The message goes into RESULTS.md; the traceback to stderr.
        message = str(error).strip().splitlines()
        with open(result_path, "w") as file:
            json.dump({"error": f"{type(error).__name__}: {message[0] if message else ''}"}, file)
        raise
    with open(result_path, "w") as file:
        json.dump(result, file, indent=1, default=str)


def set_tensorflow_threads(intra: int, inter: int) -> None:
    """Limit TensorFlow's thread pools (must run before TensorFlow does any work)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def ort_session(path, *, threads: int = 1, optimized_path=None, profile_prefix=None,
                level: str = "ALL"):
    """An onnxruntime CPU session: `threads` intra-op threads, 1 inter-op, sequential,
    graph optimizations up to `level` ("BASIC", "EXTENDED", "ALL")."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_ENABLE_{level}")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def quiet_tf2onnx():
    """tf2onnx logs every conversion at INFO on stderr; keep errors only."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
