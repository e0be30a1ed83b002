"""--runtime openvino: export for OpenVINO (no Pad wrap) and check parity on its CPU runtime."""

import json

import keras
import onnx
import pytest
from cli_helpers import run

L = keras.layers


@pytest.fixture(scope="module")
def circular(tmp_path_factory):
    path = tmp_path_factory.mktemp("openvino") / "c.keras"
    image = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="c1")(image)
    x = L.Conv2D(2, 5, padding="same", name="c2")(x)
    keras.Model(image, x, name="c").save(path)
    return path


def _wrap_pads(path):
    return [node for node in onnx.load(path).graph.node if node.op_type == "Pad"
            and any(a.name == "mode" and a.s == b"wrap" for a in node.attribute)]


def test_circular_at_opset_19_is_sliced_for_openvino_and_passes(circular, tmp_path):
    out = tmp_path / "o.onnx"
    result = run(circular, "--mode", "circular", "--opset", "19", "-o", tmp_path / "o.keras",
                 "--onnx", out, "--verify", "--runtime", "openvino", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["export"]["runtime"] == "openvino"
    assert [lowering["lowered_to"] for lowering in report["export"]["lowerings"]] == [
        "Slice+Concat", "Slice+Concat"]
    assert report["verify"]["onnx"]["runtime"] == "openvino"
    assert report["verify"]["onnx"]["passed"]
    assert _wrap_pads(out) == []
    text = run("verify", tmp_path / "o.keras", out, "--runtime", "openvino", "--bisect")
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[-2].endswith("| inputs: image (2, 12, 12, 3) | on openvino")
    assert lines[-1].startswith("bisect | no layer diverges (")


def test_a_wrap_pad_is_refused_by_openvino_with_the_way_out(circular, tmp_path):
    out = tmp_path / "wrap.onnx"
    result = run(circular, "--mode", "circular", "--opset", "19", "-o", tmp_path / "w.keras",
                 "--onnx", out)
    assert result.exit_code == 0, result.output
    assert len(_wrap_pads(out)) == 2  # onnxruntime runs Pad(wrap)
    result = run("verify", tmp_path / "w.keras", out, "--runtime", "openvino")
    assert result.exit_code == 2
    assert "OpenVINO cannot load this ONNX file" in result.output
    assert "export with --runtime openvino" in result.output
