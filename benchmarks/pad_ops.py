"""Table 3 worker: one padding op in ONNX, padrewrite's export against a native Pad.

The input is 1x64x112x112 (channels_first; 1x112x112x64 for channels_last),
padded by 1 on H and W. For each mode a Keras model that is only
`Input + Padding2D(1, mode)` is exported with `export_onnx`; the reference is
a hand-built ONNX `Pad` (constant, reflect, edge; wrap at opset 19), and, for
symmetric (which ONNX has no mode for), what tf2onnx makes of `tf.pad(...,
"SYMMETRIC")`. Every output is checked against numpy.pad; all sessions of a
layout are timed round-robin (1 thread), by wall clock and process CPU time.
"""

from __future__ import annotations

from pathlib import Path

import common
import numpy as np
from common import log, median, paired_ratio, round_robin

LAYOUTS = {
    "channels_first": ((1, 64, 112, 112), (2, 3)),
    "channels_last": ((1, 112, 112, 64), (1, 2)),
}
#: (label, padrewrite mode, opset) exported through padrewrite.
PADREWRITE = (
    ("constant", "constant", 18),
    ("reflect", "reflect", 18),
    ("replicate", "replicate", 18),
    ("symmetric", "symmetric", 18),
    ("circular", "circular", 18),
    ("circular, opset 19", "circular", 19),
)
#: Native ONNX Pad modes and their opsets.
NATIVE = (("constant", 18), ("reflect", 18), ("edge", 18), ("wrap", 19))
#: The native Pad each padrewrite row is compared with (symmetric: none exists).
COMPARE_WITH = {
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "symmetric": "reflect",
    "circular": "wrap",
    "circular, opset 19": "wrap",
}
#: ONNX IR version stamped on hand-built models (onnxruntime 1.31 reads at most 13).
IR_VERSION = 10


def native_pad_model(shape, axes, mode, opset):
    """An ONNX model that is one `Pad` of 1 on each of `axes`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    pads = [0] * (2 * len(shape))
    out_shape = list(shape)
    for axis in axes:
        pads[axis] = pads[len(shape) + axis] = 1
        out_shape[axis] += 2
    initializers = [numpy_helper.from_array(np.array(pads, np.int64), "pads")]
    inputs = ["x", "pads"]
    if mode == "constant":
        initializers.append(numpy_helper.from_array(np.array(0.0, np.float32), "value"))
        inputs.append("value")
    graph = helper.make_graph(
        [helper.make_node("Pad", inputs, ["y"], mode=mode)],
        f"pad_{mode}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def padrewrite_pad_model(shape, layout, mode):
    import keras

    from padrewrite.layers import Padding2D

    inputs = keras.Input(shape[1:], name="x")
    outputs = Padding2D(1, mode=mode, data_format=layout, name="pad")(inputs)
    return keras.Model(inputs, outputs, name=f"pad_{mode}")


def tf2onnx_symmetric(shape, axes, path):
    """tf2onnx's conversion of `tf.pad(x, ..., "SYMMETRIC")`."""
    import tensorflow as tf
    import tf2onnx

    paddings = [[1, 1] if axis in axes else [0, 0] for axis in range(len(shape))]
    spec = [tf.TensorSpec(shape, tf.float32, name="x")]

    @tf.function(input_signature=spec)
    def forward(x):
        return tf.pad(x, paddings, mode="SYMMETRIC")

    with common.quiet_tf2onnx():
        tf2onnx.convert.from_function(
            forward, input_signature=spec, opset=18, output_path=str(path)
        )


def _node_types(path):
    import onnx

    counts = {}
    for node in onnx.load(str(path)).graph.node:
        key = node.op_type
        mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), None)
        if node.op_type == "Pad":
            key = f"Pad({mode or 'constant'})"
        counts[key] = counts.get(key, 0) + 1
    return counts


def run(config):
    import onnx

    from padrewrite.modes import NUMPY_NAMES
    from padrewrite.onnx import export_onnx

    out = Path(config["workdir"]) / "pad_ops"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    results = {}
    for layout, (shape, axes) in LAYOUTS.items():
        x = rng.standard_normal(shape).astype(np.float32)
        width = [(1, 1) if axis in axes else (0, 0) for axis in range(len(shape))]
        files, expected, kinds = {}, {}, {}
        for label, mode, opset in PADREWRITE:
            path = out / f"{layout}-padrewrite-{mode}-{opset}.onnx"
            export_onnx(padrewrite_pad_model(shape, layout, mode), path, opset=opset)
            key = f"padrewrite {label}"
            files[key], kinds[key] = path, "padrewrite"
            expected[key] = np.pad(x, width, mode=NUMPY_NAMES[mode])
        for mode, opset in NATIVE:
            path = out / f"{layout}-native-{mode}.onnx"
            onnx.save(native_pad_model(shape, axes, mode, opset), path)
            key = f"native Pad({mode})"
            files[key], kinds[key] = path, "native"
            expected[key] = np.pad(x, width, mode=mode)
        path = out / f"{layout}-tf2onnx-symmetric.onnx"
        tf2onnx_symmetric(shape, axes, path)
        files["tf2onnx tf.pad SYMMETRIC"], kinds["tf2onnx tf.pad SYMMETRIC"] = path, "tf2onnx"
        expected["tf2onnx tf.pad SYMMETRIC"] = np.pad(x, width, mode="symmetric")

        runners, rows, rounds = {}, {}, []
        for key, path in files.items():
            session = common.ort_session(path)
            name = session.get_inputs()[0].name
            got = session.run(None, {name: x})[0]
            rows[key] = {
                "kind": kinds[key],
                "node_types": _node_types(path),
                "exact": bool(got.shape == expected[key].shape
                              and np.array_equal(got, expected[key])),
            }
            runners[key] = lambda s=session, n=name: s.run(None, {n: x})
            for _ in range(5):
                runners[key]()
        for index in range(config["rounds"]):
            rounds.append(round_robin(runners, seconds=config["pad_seconds"],
                                      min_sweeps=config["min_sweeps"]))
            log(f"[pad ops {layout}] round {index + 1}/{config['rounds']}: "
                + " ".join(f"{key}={median(v) * 1000:.3f}ms"
                           for key, v in rounds[-1]["cpu"].items()))
        for key, row in rows.items():
            for clock in ("cpu", "wall"):
                row[f"{clock}_ms"] = median([v for r in rounds for v in r[clock][key]]) * 1000
            row["runs"] = sum(len(r["cpu"][key]) for r in rounds)
        for label, _, _ in PADREWRITE:
            row = rows[f"padrewrite {label}"]
            native = f"native Pad({COMPARE_WITH[label]})"
            row["compared_with"] = native
            for clock in ("cpu", "wall"):
                row[f"{clock}_ratio"] = paired_ratio(
                    [v for r in rounds for v in r[clock][f"padrewrite {label}"]],
                    [v for r in rounds for v in r[clock][native]],
                )
        results[layout] = {"shape": list(shape), "rows": rows}
    return results


if __name__ == "__main__":
    common.worker_main(run)
