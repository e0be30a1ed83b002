"""Layer-by-layer comparison: a perturbed convolution in the ONNX file is named."""

import json
import pathlib

import keras
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from cli_helpers import run
from padrewrite.pipeline import rewrite_file, verify_file

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
