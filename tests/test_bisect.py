"""Layer-by-layer comparison: a perturbed convolution in the ONNX file is named."""

import json
import pathlib

import keras
import numpy as np
import onnx
import pytest
from cli_helpers import run
from keras import ops
from onnx import numpy_helper

from padrewrite.pipeline import rewrite_file, verify_file
from padrewrite.verify.bisect import _LayerStats

L = keras.layers
DEMO = pathlib.Path(__file__).parent.parent / "examples" / "demo_unet.keras"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A rewritten three-conv model, its ONNX file and a copy with c2's kernel perturbed."""
    directory = tmp_path_factory.mktemp("bisect")
    inputs = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
    x = L.Conv2D(4, 3, padding="same", name="c2")(x)
    x = L.ReLU(name="act")(x)
    x = L.Conv2D(2, 3, padding="same", name="c3")(x)
    keras.Model(inputs, x, name="three").save(directory / "three.keras")
    rewrite_file(directory / "three.keras", directory / "out.keras", "reflect",
                 onnx_path=directory / "out.onnx")
    model = onnx.load(directory / "out.onnx")
    kernels = {node.input[1] for node in model.graph.node if node.op_type == "Conv"}
    perturbed = [init for init in model.graph.initializer
                 if init.name in kernels and "/c2_1/" in init.name]
    assert len(perturbed) == 1, [init.name for init in model.graph.initializer]
    array = numpy_helper.to_array(perturbed[0]).copy()
    array.flat[0] += 0.5
    perturbed[0].CopyFrom(numpy_helper.from_array(array, perturbed[0].name))
    onnx.save(model, directory / "bad.onnx")
    return directory


def test_a_perturbed_convolution_is_the_first_divergence(pair):
    result = run("verify", pair / "out.keras", pair / "bad.onnx")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("FIRST DIVERGENCE"))
    assert lines[first].startswith("FIRST DIVERGENCE | layer 'c2' (Conv2D) | max_abs=")
    assert lines[first + 1].startswith("  previous layer 'c2_pad' (Padding2D) | max_abs=")
    assert lines[first + 1].endswith("| within tolerance")


def test_the_json_report_has_every_layer_and_the_numbers(pair):
    result = run("verify", pair / "out.keras", pair / "bad.onnx", "--json")
    assert result.exit_code == 1, result.output
    divergence = json.loads(result.stdout)["onnx"]["divergence"]
    first = divergence["first_divergence"]
    assert first["layer"] == "c2" and first["status"] == "diverged"
    assert first["max_abs"] > divergence["atol"]
    assert divergence["previous"]["layer"] == "c2_pad"
    assert divergence["previous"]["max_abs"] <= divergence["atol"]
    statuses = {layer["layer"]: layer["status"] for layer in divergence["layers"]}
    assert statuses["c1"] == "passed"
    assert statuses["c3"] == "diverged"  # downstream of c2
    assert list(statuses) == ["c1_pad", "c1", "c2_pad", "c2", "act", "c3_pad", "c3"]


def test_a_passing_pair_compares_layers_only_with_bisect(pair):
    plain = verify_file(pair / "out.keras", pair / "out.onnx")
    assert plain and plain.divergence is None
    report = verify_file(pair / "out.keras", pair / "out.onnx", bisect=True)
    assert report and report.divergence.first is None
    assert report.divergence.compared == 7


def test_folded_batch_normalizations_are_not_divergences(tmp_path):
    """tf2onnx folds each BatchNormalization into its convolution's node."""
    report = rewrite_file(DEMO, tmp_path / "u.keras", "reflect", onnx_path=tmp_path / "u.onnx",
                          verify=True, bisect=True)
    divergence = report.parity.divergence
    assert report and divergence.first is None
    by_name = {layer.layer: layer for layer in divergence.layers}
    assert by_name["dec2_conv"].compared_with == "dec2_bn"
    assert by_name["dec2_bn"].status == "not-compared"
    assert divergence.compared >= 20
    assert [stage.name for stage in report.stages][-2:] == ["bisect", "promote"]
    assert np.isfinite(by_name["out_conv"].max_abs)


def test_bisect_runs_inside_the_file_job_when_parity_fails(pair, tmp_path):
    result = run(pair / "three.keras", "-o", tmp_path / "o.keras", "--onnx", tmp_path / "o.onnx",
                 "--verify", "--atol", "0", "--rtol", "0", "--json")
    document = json.loads(result.stdout)
    # Zero tolerance: onnxruntime's sums differ from Keras' in the last bits.
    assert not document["verify"]["onnx"]["passed"]
    assert result.exit_code == 1
    assert "divergence" in document["verify"]["onnx"]
    assert "bisect" in document["stages"]


def _bisected(tmp_path, outputs_of, name):
    """`(report, {layer: record})`: a model rewritten, exported, verified and bisected."""
    inputs = keras.Input((12, 12, 3), name="image")
    keras.Model(inputs, outputs_of(inputs), name=name).save(tmp_path / "m.keras")
    report = rewrite_file(tmp_path / "m.keras", tmp_path / "o.keras", "reflect",
                          onnx_path=tmp_path / "o.onnx", verify=True, bisect=True)
    return report, {layer.layer: layer for layer in report.parity.divergence.layers}


@pytest.mark.parametrize("operation", ["greater", "subtract"])
def test_an_operation_reading_a_layer_s_merged_constant_is_not_that_layer(tmp_path, operation):
    """tf2onnx merges equal constants into one, named after whichever user its graph
    order puts first (it varies from process to process): here the Rescaling(2.0)'s
    scale `gate_1/scale_1/Cast/x`, which the operations `x > 2.0` (bool) or `2.0 - m`
    then read after the Rescaling's own node. Neither is the Rescaling's output."""
    inputs = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
    if operation == "greater":
        gate = ops.where(x > 2.0, 1.0, 0.25)
    else:
        gate = 2.0 - ops.cast(x > 1.5, "float32")
    scaled = L.Rescaling(2.0, name="scale")(x)
    outputs = L.Conv2D(2, 3, padding="same", name="head")(scaled * gate)
    keras.Model(inputs, outputs, name="gate").save(tmp_path / "m.keras")
    rewrite_file(tmp_path / "m.keras", tmp_path / "o.keras", "reflect",
                 onnx_path=tmp_path / "o.onnx")
    model = onnx.load(tmp_path / "o.onnx")
    twos = [init for init in model.graph.initializer
            if init.dims == [] and numpy_helper.to_array(init).item() == 2.0]
    names = {init.name for init in twos}
    readers = [node for node in model.graph.node if names & set(node.input)]
    (scale,) = [node for node in readers if node.op_type == "Mul"]  # gate_1/scale_1/mul
    (op,) = [node for node in readers
             if node.op_type == {"greater": "Greater", "subtract": "Sub"}[operation]]
    nodes = list(model.graph.node)
    assert nodes.index(op) > nodes.index(scale)  # the operation is the scope's last node
    # The merge as tf2onnx does it when the Rescaling's constant comes first.
    merged = scale.name.rsplit("/", 1)[0] + "/Cast/x:0"
    for init in twos[1:]:
        model.graph.initializer.remove(init)
    twos[0].name = merged
    for node in readers:
        node.input[:] = [merged if name in names else name for name in node.input]
    onnx.save(model, tmp_path / "merged.onnx")

    report = verify_file(tmp_path / "o.keras", tmp_path / "merged.onnx", bisect=True)
    assert report and report.divergence.first is None, report.divergence
    layers = {layer.layer: layer for layer in report.divergence.layers}
    assert (layers["scale"].status, layers["scale"].onnx_tensor) == ("passed", scale.output[0])
    assert layers["head"].status == "passed"


def test_a_tensor_of_another_dtype_is_not_compared():
    stats = _LayerStats(1e-4, 1e-3)
    stats.add(np.ones((2, 3), "float32"), np.ones((2, 3), bool))
    record = stats.result("scale", "Rescaling", "gate_1/Greater:0")
    assert record.status == "not-compared" and record.max_abs is None
    assert record.reason == "ONNX dtype bool cannot be the layer's float32 output"
    same_family = _LayerStats(1e-4, 1e-3)
    same_family.add(np.arange(6).reshape(2, 3).astype("int32"),
                    np.arange(6).reshape(2, 3).astype("int64"))
    assert same_family.result("n", "Argmax", "t").status == "passed"


def test_scalar_and_vector_outputs_are_compared(tmp_path):
    """A model output with no dimensions (`3.0 - ops.max(y)`) or only the batch's."""

    def reduced(inputs):
        x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
        y = L.Conv2D(2, 3, padding="same", name="head")(x)
        return [3.0 - ops.max(y), ops.mean(x, axis=(1, 2, 3))]

    report, layers = _bisected(tmp_path, reduced, "reduced")
    assert report and report.parity.divergence.first is None
    # The operations' layers, named after the outputs ("subtract", "mean" in a new session).
    scalar, vector = (output.name for output in report.parity.outputs)
    for name in (scalar, vector):
        assert (layers[name].status, layers[name].onnx_tensor, layers[name].layout) == (
            "passed", name, "same")
    assert layers["head"].status == "passed"
