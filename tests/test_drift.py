"""--drift: how much the rewrite changed the outputs, in the border band and the interior."""

import importlib.util
import json
import pathlib

import keras
import numpy as np
import onnxruntime
import pytest
from cli_helpers import run
from keras import ops

from padrewrite.pipeline import rewrite_file

L = keras.layers
EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def one_conv(tmp_path_factory):
    """One 3x3 'same' convolution: a rewrite changes exactly the outer pixel ring."""
    path = tmp_path_factory.mktemp("drift") / "one.keras"
    image = keras.Input((12, 10, 3), name="image")
    keras.Model(image, L.Conv2D(4, 3, padding="same", name="conv")(image)).save(path)
    return path


def test_a_single_conv_changes_only_the_border_band(one_conv, tmp_path):
    result = run(one_conv, "--mode", "reflect", "-o", tmp_path / "o.keras", "--drift", "--json")
    assert result.exit_code == 0, result.output
    drift = json.loads(result.stdout)["drift"]
    (output,) = drift["outputs"]
    assert output["name"] == "conv" and drift["mode"] == "reflect" and drift["samples"] == 3
    assert output["band"] == [[1, 1], [1, 1]]
    assert output["max_abs"] > 0.01
    assert output["interior_mean_abs"] == 0.0
    assert output["border_diff_share"] == 1.0
    assert output["border_pixel_share"] == pytest.approx(1 - (10 * 8) / (12 * 10))
    assert output["max_rel"] == pytest.approx(output["max_abs"] / output["scale"])
    assert output["border_mean_abs"] > output["mean_abs"]


def test_constant_zero_does_not_drift(one_conv, tmp_path):
    report = rewrite_file(one_conv, tmp_path / "o.keras", "constant", drift=True)
    (output,) = report.drift.outputs
    assert output.max_abs <= 1e-6 and output.scale > 0


def test_the_text_line_and_the_heat_map(one_conv, tmp_path):
    png = tmp_path / "drift.png"
    result = run(one_conv, "--mode", "replicate", "-o", tmp_path / "o.keras", "--drift-png", png)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("drift |"))
    assert line.startswith("drift | output 'conv' | max_abs=")
    assert "| border band 1,1 1,1 px: 100% of the difference in 33% of the pixels" in line
    assert f"wrote heat map {png}" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib import image

    assert image.imread(png).shape[:2] == (500, 600)


def test_drift_png_is_refused_with_plan(one_conv, tmp_path):
    result = run(one_conv, "--plan", "--drift-png", tmp_path / "d.png")
    assert result.exit_code == 2
    assert "not with plan" in result.output
    assert not (tmp_path / "d.png").exists()
    plan = run(one_conv, "--plan", "--drift")
    assert plan.exit_code == 0 and "drift | output 'conv'" in plan.output


def test_outputs_without_spatial_axes_drift_without_a_band(tmp_path):
    """A scalar output (`3.0 - ops.max(y)`, no axis at all) and a vector (the batch's only)."""
    image = keras.Input((12, 10, 3), name="image")
    y = L.Conv2D(4, 3, padding="same", name="conv")(image)
    keras.Model(image, [y, 3.0 - ops.max(y), ops.mean(y, axis=(1, 2, 3))]).save(
        tmp_path / "reduced.keras")
    result = run(tmp_path / "reduced.keras", "--mode", "reflect", "--plan", "--drift", "--json")
    assert result.exit_code == 0, result.output
    image_output, scalar, vector = json.loads(result.stdout)["drift"]["outputs"]
    assert image_output["band"] == [[1, 1], [1, 1]] and image_output["band_reason"] is None
    assert scalar["band"] is None and scalar["border_pixel_share"] is None
    assert scalar["band_reason"] == "no border band: the output has no spatial axes (shape ())"
    assert vector["band_reason"] == "no border band: the output has no spatial axes (shape (2,))"
    # The maximum may sit in the interior (no drift); the mean always reaches the border.
    assert 0 <= scalar["max_abs"] < np.inf and 0 < vector["max_abs"]
    for output in (scalar, vector):
        assert output["scale"] > 0 and output["mean_abs"] <= output["max_abs"]
        assert output["max_rel"] == pytest.approx(output["max_abs"] / output["scale"])
    text = run(tmp_path / "reduced.keras", "--mode", "reflect", "--plan", "--drift")
    assert text.exit_code == 0, text.output
    line = next(line for line in text.output.splitlines()
                if line.startswith(f"drift | output '{scalar['name']}'"))
    assert line.endswith("| no border band: the output has no spatial axes (shape ())")


def test_the_fine_tuning_example_trains_and_exports(tmp_path):
    spec = importlib.util.spec_from_file_location("fine_tune", EXAMPLES / "fine_tune.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.fine_tune(tmp_path, steps=4, batch_size=2)
    assert np.isfinite(result["loss_before"]) and result["loss_after"] < result["loss_before"]
    loaded = keras.saving.load_model(result["model"])
    modes = [layer.get_config().get("mode") for layer in loaded.layers
             if type(layer).__name__ == "Padding2D"]
    assert modes and set(modes) == {"reflect"}
    session = onnxruntime.InferenceSession(str(result["onnx"]),
                                           providers=["CPUExecutionProvider"])
    sample = np.random.default_rng(1).random((1, 64, 64, 3), dtype=np.float32)
    (got,) = session.run(None, {session.get_inputs()[0].name: sample})
    want = keras.ops.convert_to_numpy(loaded(sample, training=False))
    assert np.max(np.abs(got - want)) < 1e-4
