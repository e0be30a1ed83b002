"""export_onnx: names, validity, opsets, atomic writes, and op-optimal padding."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx_models import MODES, exported, padded_conv_model, sequential_model

from padrewrite.errors import InputError
from padrewrite.layers import Padding2D, placeholder_op_name
from padrewrite.onnx import ExportError, export_onnx
from padrewrite.onnx.pads import placeholder_mode

FORBIDDEN = {"Gather", "GatherElements", "GatherND", "Compress", "ScatterElements", "ScatterND"}
PADDED_KINDS = {
    # kind: number of padded spatial axes per padded conv
    "conv1d": 1,
    "conv2d": 2,
    "conv3d": 3,
    "depthwise1d": 1,
    "depthwise2d": 2,
    "conv2d_channels_first": 2,
    "conv1d_channels_first": 1,
}
PADDED_CONVS = 2  # see onnx_models.padded_conv_model


def load(report):
    return onnx.load(report.path)


def consumers(model):
    result = {}
    for node in model.graph.node:
        for name in node.input:
            result.setdefault(name, []).append(node)
    return result


def mode_of(node):
    for attribute in node.attribute:
        if attribute.name == "mode":
            return helper.get_attribute_value(attribute).decode()
    return "constant"


def feeds_a_conv(model, node):
    return [n.op_type for n in consumers(model).get(node.output[0], [])] == ["Conv"]


# -- op optimality ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PADDED_KINDS))
@pytest.mark.parametrize("mode,opset", [(m, 18) for m in MODES] + [("circular", 19)])
def test_padding_is_op_optimal(kind, mode, opset):
    _, report = exported(kind, mode, opset)
    model = load(report)
    counts = report.node_counts
    assert not FORBIDDEN & set(counts)
    pads = [node for node in model.graph.node if node.op_type == "Pad"]
    axes = PADDED_KINDS[kind]
    if mode == "constant":
        assert len(pads) <= PADDED_CONVS
        assert all(feeds_a_conv(model, pad) and mode_of(pad) == "constant" for pad in pads)
    elif mode in ("reflect", "replicate") or opset >= 19:
        native = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        assert [mode_of(pad) for pad in pads] == [native] * PADDED_CONVS
        assert all(feeds_a_conv(model, pad) for pad in pads)
    else:
        assert pads == []
        assert counts["Slice"] <= 2 * axes * PADDED_CONVS
        assert counts["Concat"] == axes * PADDED_CONVS
        last_concats = [
            node for node in model.graph.node
            if node.op_type == "Concat" and feeds_a_conv(model, node)
        ]
        assert len(last_concats) == PADDED_CONVS
    lowered = sum(report.pads_rewritten.values())
    assert lowered == (PADDED_CONVS if mode in report.pads_rewritten else 0)


@pytest.mark.parametrize("mode", MODES)
def test_run_time_pads_are_lowered_without_gathers(mode):
    _, report = exported("dynamic", mode)
    counts = report.node_counts
    assert not FORBIDDEN & set(counts)
    if mode in ("symmetric", "circular"):
        (record,) = report.lowerings
        assert record.pads is None and record.axes == (1, 2)  # NHWC spatial axes
        model = load(report)
        data_slices = [
            node for node in model.graph.node
            if node.op_type == "Slice" and "padrewrite" in node.name and "/pads_" not in node.name
        ]
        assert len(data_slices) == 4
    else:
        assert counts["Pad"] == 1


def test_circular_at_opset_19_is_a_wrap_pad_with_run_time_pads():
    _, report = exported("dynamic", "circular", 19)
    assert [record.lowered_to for record in report.lowerings] == ["Pad(wrap)"]
    assert report.opset == 19


@pytest.mark.parametrize("mode", MODES)
def test_pads_are_hoisted_above_a_widening_1x1_conv(mode, tmp_path):
    _, report = exported("expand", mode)
    model = load(report)
    ops = [node.op_type for node in model.graph.node]
    if mode == "constant":
        assert report.pads_hoisted == 0 and report.hoists == ()
        assert report.padded_elements_before == report.padded_elements_after == 0
    else:
        (record,) = report.hoists
        assert report.pads_hoisted == 1
        assert record.mode == mode and record.passed_ops == ("Conv", "Clip")  # 1x1, ReLU6
        # 10x10 padded by (1, 2) and (2, 1): 13x13 positions, 12 channels before, 4 after.
        assert (record.elements_before, record.elements_after) == (13 * 13 * 12, 13 * 13 * 4)
        assert report.padded_elements_before == 13 * 13 * 12
        assert report.padded_elements_after == 13 * 13 * 4
        assert ops.index("Conv") > max(i for i, op in enumerate(ops) if op in ("Pad", "Concat"))
    unhoisted = export_onnx(exported("expand", mode)[0], tmp_path / "m.onnx", hoist=False)
    assert unhoisted.pads_hoisted == 0 and unhoisted.hoists == ()
    assert unhoisted.node_counts == report.node_counts


def test_hoisting_reports_unknown_element_counts_for_dynamic_sizes(tmp_path):
    inputs = keras.Input((None, None, 4), name="image")
    x = keras.layers.Conv2D(16, 1, activation="relu", name="expand")(inputs)
    x = Padding2D(1, mode="reflect", name="pad")(x)
    model = keras.Model(inputs, keras.layers.DepthwiseConv2D(3, name="depthwise")(x))
    report = export_onnx(model, tmp_path / "m.onnx")
    assert report.pads_hoisted == 1
    assert report.padded_elements_before is None and report.padded_elements_after is None
    data = json.loads(json.dumps(report.to_dict()))
    assert data["hoists"][0]["elements_before"] is None


# -- convolutions Keras runs through XLA --------------------------------------------


def grouped_or_channels_first_model(kind):
    """`(model, ONNX Conv group)`: convs Keras' TF backend compiles with XLA."""
    if kind == "conv2d_groups2":
        inputs = keras.Input((8, 8, 4), name="image")
        conv, group = keras.layers.Conv2D(6, 3, groups=2, padding="same", name="conv"), 2
    elif kind == "conv2d_depthwise_groups":  # depthwise written as Conv2D(groups=C)
        inputs = keras.Input((8, 8, 4), name="image")
        conv, group = keras.layers.Conv2D(4, 3, strides=2, groups=4, padding="same", name="conv"), 4
    elif kind == "conv1d_groups3":
        inputs = keras.Input((12, 6), name="signal")
        conv, group = keras.layers.Conv1D(3, 4, groups=3, padding="same", name="conv"), 3
    else:
        inputs = keras.Input((3, 6, 5, 7), name="volume")
        conv = keras.layers.Conv3D(4, 3, padding="same", data_format="channels_first", name="conv")
        group = 1
    conv.bias_initializer = keras.initializers.RandomNormal(seed=1)
    return keras.Model(inputs, conv(inputs)), group


@pytest.mark.parametrize("rewrite", [False, True], ids=["original", "reflect"])
@pytest.mark.parametrize(
    "kind", ["conv2d_groups2", "conv2d_depthwise_groups", "conv1d_groups3", "conv3d_channels_first"]
)
def test_convolutions_keras_compiles_with_xla_export_as_one_conv(kind, rewrite, tmp_path):
    from padrewrite.rewrite import rewrite_model
    from padrewrite.verify.parity import check_parity, render_parity

    model, group = grouped_or_channels_first_model(kind)
    if rewrite:
        model = rewrite_model(model, "reflect").model
    report = export_onnx(model, tmp_path / "m.onnx")
    proto = load(report)
    assert all(node.domain in ("", "ai.onnx") for node in proto.graph.node)
    assert "StatefulPartitionedCall" not in report.node_counts
    (conv,) = [node for node in proto.graph.node if node.op_type == "Conv"]
    assert {a.name: helper.get_attribute_value(a) for a in conv.attribute}.get("group", 1) == group
    if rewrite:
        (pad,) = [node for node in proto.graph.node if node.op_type == "Pad"]
        assert mode_of(pad) == "reflect" and feeds_a_conv(proto, pad)
    parity = check_parity(model, report.path, samples=2)
    assert parity, "\n".join(render_parity(parity))


def test_tracing_restores_keras_convolutions(tmp_path):
    from padrewrite.keras_side.keras_internals import backend_nn

    conv = backend_nn().conv
    model, _ = grouped_or_channels_first_model("conv2d_groups2")
    export_onnx(model, tmp_path / "m.onnx")
    assert backend_nn().conv is conv
    x = np.ones((1, 8, 8, 4), "float32")
    np.testing.assert_allclose(model(x).numpy(), model.predict(x, verbose=0), atol=1e-6)


def test_backend_nn_fails_loudly_without_conv(monkeypatch):
    from padrewrite.keras_side.keras_internals import KerasInternalsError, backend_nn

    monkeypatch.delattr(backend_nn(), "conv")
    with pytest.raises(KerasInternalsError, match=r"has no `keras\.src\.backend\.nn\.conv`"):
        backend_nn()


# -- mixed precision ---------------------------------------------------------------


@pytest.fixture
def dtype_policy():
    """Set the global Keras dtype policy for one test; float32 again afterwards."""
    try:
        yield keras.mixed_precision.set_dtype_policy
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def mixed_precision_model():
    """Padded convs on the float32 input and mid-graph; float32 output."""
    inputs = keras.Input((10, 10, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="conv_b")(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("mode,opset", [(m, 18) for m in MODES] + [(m, 19) for m in MODES])
def test_mixed_float16_exports_and_runs_in_every_mode(mode, opset, dtype_policy, tmp_path):
    from padrewrite.rewrite import rewrite_model
    from padrewrite.verify.parity import check_parity, render_parity

    dtype_policy("mixed_float16")
    model = rewrite_model(mixed_precision_model(), mode).model
    report = export_onnx(model, tmp_path / "m.onnx", opset=opset)
    onnx.checker.check_model(report.path, full_check=True)
    ort.InferenceSession(report.path, providers=["CPUExecutionProvider"])
    casts = {entry["name"]: entry["record"] for entry in report.to_dict()["passes"]}
    casts = casts["match-pad-value-types"]["casts"]
    if mode == "constant":  # the mid-graph pads: float16 values on float32 data
        assert [(c["value_type"], c["data_type"]) for c in casts] == [("float16", "float")] * 2
    else:
        assert not casts
    parity = check_parity(model, report.path, samples=2, atol=1e-2, rtol=1e-2)
    assert parity, "\n".join(render_parity(parity))


def test_a_mixed_float16_layer_in_a_float32_model_exports(tmp_path):
    from padrewrite.rewrite import rewrite_model

    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", dtype="mixed_float16", name="conv_b")(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    model = rewrite_model(keras.Model(inputs, outputs), "constant").model
    report = export_onnx(model, tmp_path / "m.onnx")
    onnx.checker.check_model(report.path, full_check=True)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype(np.float32)
    (got,) = ort.InferenceSession(report.path, providers=["CPUExecutionProvider"]).run(
        None, {"image": x}
    )
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("rewrite", [False, True], ids=["original", "reflect"])
def test_bfloat16_models_are_refused_clearly(rewrite, dtype_policy, tmp_path):
    from padrewrite.rewrite import rewrite_model

    dtype_policy("mixed_bfloat16")
    model = mixed_precision_model()
    if rewrite:
        model = rewrite_model(model, "reflect").model
    with pytest.raises(
        ExportError,
        match=r"in bfloat16: layer '\w+' computes in bfloat16 \(dtype policy 'mixed_bfloat16'\)\. "
        r"ONNX `Conv` has no bfloat16 type .* 'float32' or 'mixed_float16' dtype policy",
    ):
        export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


# -- names, validity ------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,inputs,outputs",
    [
        ("conv2d", ("image",), ("logits",)),
        ("sequential", ("pixels",), ("scores",)),
        ("multi_io", ("image", "signal"), ("logits", "features")),
        ("nested", ("image",), ("head",)),
    ],
)
def test_names_are_the_keras_names(kind, inputs, outputs):
    _, report = exported(kind)
    model = load(report)
    assert report.input_names == inputs and report.output_names == outputs
    assert tuple(value.name for value in model.graph.input) == inputs
    assert sorted(value.name for value in model.graph.output) == sorted(outputs)


@pytest.mark.parametrize("kind", ["conv1d", "conv3d", "multi_io", "nested", "sequential", "dynamic"])
def test_exported_files_pass_the_full_checker(kind):
    _, report = exported(kind, "symmetric")
    onnx.checker.check_model(report.path, full_check=True)


def test_batch_and_unknown_sizes_stay_dynamic():
    _, report = exported("dynamic", "reflect")
    (value,) = load(report).graph.input
    dims = value.type.tensor_type.shape.dim
    assert [d.HasField("dim_value") for d in dims] == [False, False, False, True]
    assert dims[3].dim_value == 3


REPORT_KEYS = [
    "path", "opset", "input_names", "output_names", "node_counts", "pads_rewritten",
    "lowerings", "layout_ops_hoisted", "pads_hoisted", "hoists", "padded_elements_before",
    "padded_elements_after", "passes", "runtime",
]


def test_report_keys_are_stable_and_json():
    _, report = exported("expand", "symmetric")
    data = json.loads(json.dumps(report.to_dict()))
    assert list(data) == REPORT_KEYS
    assert data["runtime"] == "onnxruntime"
    assert data["pads_hoisted"] == 1
    (hoist,) = data["hoists"]
    assert list(hoist) == [
        "node", "mode", "passed", "passed_ops", "elements_before", "elements_after",
    ]
    assert hoist["mode"] == "symmetric" and hoist["passed_ops"] == ["Conv", "Clip"]
    assert hoist["node"] == data["lowerings"][0]["node"]  # hoisted, then lowered
    assert data["padded_elements_before"] == 3 * data["padded_elements_after"]
    assert [entry["name"] for entry in data["passes"]] == [
        "match-pad-value-types", "sink-pads-below-layout-ops", "hoist-pads-above-pointwise-ops", "lower-placeholder-pads",
    ]
    hoisting = data["passes"][2]["record"]
    assert hoisting["hoists"] == data["hoists"]
    assert hoisting["padded_elements_after"] == data["padded_elements_after"]


def test_importing_the_onnx_package_does_not_import_tensorflow():
    code = (
        "import sys, onnx, padrewrite.onnx, padrewrite.onnx.graph as graph; "
        "assert graph.onnx is onnx and onnx.__name__ == 'onnx'; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_report_to_dict_is_json():
    _, report = exported("nested")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["opset"] == 18
    assert data["pads_rewritten"] == {"replicate": 1, "symmetric": 0, "circular": 1}
    assert data["output_names"] == ["head"]
    assert data["node_counts"]["Conv"] == 2
    assert [record["mode"] for record in data["lowerings"]] == ["circular", "replicate"]


def test_placeholder_names_from_the_layers_are_recognised():
    for mode in ("replicate", "symmetric", "circular"):
        node = helper.make_node(
            "Pad", ["x", "p"], ["y"], mode="reflect", name=f"m/layer_1/{placeholder_op_name(mode)}"
        )
        assert placeholder_mode(node) == mode


@pytest.mark.parametrize("opset", [13, 21])
def test_other_opsets(opset, tmp_path):
    model = sequential_model("circular")
    report = export_onnx(model, tmp_path / "model.onnx", opset=opset)
    proto = onnx.load(report.path)
    assert report.opset == opset
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    expected = "Pad(wrap)" if opset >= 19 else "Slice+Concat"
    assert [record.lowered_to for record in report.lowerings] == [expected]
    x = np.random.default_rng(0).standard_normal((2, 12, 12, 3)).astype(np.float32)
    session = ort.InferenceSession(report.path, providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"pixels": x})
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5, rtol=1e-4)


# -- writing and errors -------------------------------------------------------------


def test_export_replaces_an_existing_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    export_onnx(padded_conv_model(1, "replicate"), path)
    onnx.checker.check_model(str(path), full_check=True)
    assert os.listdir(tmp_path) == ["model.onnx"]


@pytest.mark.parametrize(
    "opset,message",
    [
        (12, r"`opset` must be an int from 13 to \d+ .* Received: opset=12"),
        (99, r"Received: opset=99"),
        (True, r"Received: opset=True"),
        ("18", r"Received: opset='18'"),
    ],
)
def test_bad_opsets_are_refused_before_writing(opset, message, tmp_path):
    with pytest.raises(ExportError, match=message):
        export_onnx(padded_conv_model(1, "reflect"), tmp_path / "m.onnx", opset=opset)
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_refused(tmp_path):
    path = tmp_path / "missing" / "m.onnx"
    with pytest.raises(ExportError, match=r"directory of `path` does not exist\. Received: path="):
        export_onnx(padded_conv_model(1, "reflect"), path)


def test_subclassed_and_non_keras_models_are_refused(tmp_path):
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ExportError, match=r"built Functional or Sequential .* Received: model=Subclassed"):
        export_onnx(Subclassed(), tmp_path / "m.onnx")
    with pytest.raises(ExportError, match=r"must be a Keras model\. Received: model=str"):
        export_onnx("model.keras", tmp_path / "m.onnx")
    assert issubclass(ExportError, InputError) and issubclass(ExportError, ValueError)


def test_an_export_for_openvino_has_no_wrap_pad_at_opset_19(tmp_path):
    """OpenVINO rejects Pad(wrap): circular pads become Slice+Concat, same values."""
    import keras
    import numpy as np
    import onnxruntime

    from padrewrite import export_onnx, rewrite_model

    image = keras.Input((9, 9, 2), name="image")
    model = keras.Model(image, keras.layers.Conv2D(3, 3, padding="same", name="conv")(image))
    rewritten = rewrite_model(model, "circular").model
    arrays = {}
    for runtime in ("onnxruntime", "openvino"):
        path = tmp_path / f"{runtime}.onnx"
        report = export_onnx(rewritten, path, opset=19, runtime=runtime)
        assert report.runtime == runtime
        lowered = [lowering.lowered_to for lowering in report.lowerings]
        assert lowered == (["Pad(wrap)"] if runtime == "onnxruntime" else ["Slice+Concat"])
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        sample = np.random.default_rng(0).standard_normal((1, 9, 9, 2)).astype("float32")
        arrays[runtime] = session.run(None, {"image": sample})[0]
    np.testing.assert_array_equal(arrays["onnxruntime"], arrays["openvino"])
