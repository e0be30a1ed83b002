"""A file padrewrite wrote is never blamed on the input.

- The engine cannot load the ONNX file the job just exported: a failed check (exit 1,
  the engine's reason), nothing written.
- The exporter fails on a rewritten model: exit 3 (a bug, padrewrite's or the
  exporter's), never exit 2.
- A file the user brings that the engine cannot load stays the user's (exit 2).
"""

import keras
import numpy as np
from cli_helpers import run
from keras import layers as L
from keras import ops

from padrewrite.pipeline import rewrite_file


def _model(path):
    inputs = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, L.Conv2D(2, 3, padding="same", name="head")(x))
    model.save(path)
    return path


def test_an_engine_that_cannot_load_the_written_file_fails_the_check(tmp_path):
    source = _model(tmp_path / "m.keras")
    out = tmp_path / "out"
    out.mkdir()
    broken = []

    def corrupt_before_parity(stage):
        if stage.name == "parity" and stage.seconds is None:
            staged = [p for p in out.iterdir() if p.name != "o.onnx" and "onnx" in p.name]
            assert len(staged) == 1, list(out.iterdir())
            staged[0].write_bytes(b"not an onnx model")
            broken.append(staged[0])

    report = rewrite_file(source, out / "o.keras", "reflect", onnx_path=out / "o.onnx",
                          verify=True, on_stage=corrupt_before_parity)
    assert broken
    assert report.status == "failed" and not report
    (output,) = report.parity.outputs
    assert not output.passed
    assert output.error.startswith("onnxruntime cannot load the ONNX file padrewrite wrote: ")
    assert not (out / "o.keras").exists() and not (out / "o.onnx").exists()


def test_an_exporter_failure_on_a_rewritten_model_is_a_bug_not_the_input(tmp_path):
    inputs = keras.Input((8, 8, 3), name="image")
    x = L.Conv2D(3, 3, padding="same", name="conv")(inputs)
    # tf2onnx 1.17 leaves Erfinv, which no ONNX opset has.
    keras.Model(inputs, ops.erfinv(ops.sigmoid(x) * 0.5)).save(tmp_path / "m.keras")
    result = run(tmp_path / "m.keras", "--mode", "reflect", "-o", tmp_path / "o.keras",
                 "--onnx", tmp_path / "o.onnx")
    assert result.exit_code == 3, result.output
    assert "padrewrite failed unexpectedly: ExportError: exporting the rewritten model failed: " \
           "The exported model fails onnx.checker: No Op registered for Erfinv" in result.output
    assert not (tmp_path / "o.keras").exists() and not (tmp_path / "o.onnx").exists()


def test_a_file_the_user_brings_that_the_engine_cannot_load_is_the_input(tmp_path):
    source = _model(tmp_path / "m.keras")
    theirs = tmp_path / "theirs.onnx"
    theirs.write_bytes(np.arange(16, dtype=np.uint8).tobytes())
    result = run("verify", source, theirs)
    assert result.exit_code == 2, result.output
    assert "onnxruntime cannot load this ONNX file" in result.output
