"""The file job (`rewrite_file`) and the command on every kind of graph model.

Sequential, Functional, a Sequential nested in a Functional and a subclass of
Functional each go through `padrewrite M --mode reflect -o O --verify` (with
and without `--onnx`); the checks catch a save that alters a weight; an
unanticipated exception exits 3; a written model loads in a fresh process
after a plain `import padrewrite`.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from cli_helpers import run

import padrewrite
from padrewrite.errors import InternalError
from padrewrite.pipeline import rewrite_file

L = keras.layers


@keras.saving.register_keras_serializable(package="pipelinetests")
class TrainedNet(keras.Model):
    """A Functional subclass, as keras-hub backbones and many training scripts write them."""

    def train_step(self, data):
        return super().train_step(data)


def _sequential():
    return keras.Sequential(
        [
            keras.Input((12, 12, 3), name="pixels"),
            L.Conv2D(4, 3, padding="same", name="s_c1"),
            L.DepthwiseConv2D(3, strides=2, padding="same", name="s_dw"),
            L.Conv2D(2, 4, padding="same", name="s_c2"),
        ],
        name="plain_sequential",
    )


def _nested():
    inner = keras.Sequential(
        [keras.Input((12, 12, 4)), L.Conv2D(4, 3, padding="same", name="inner_conv"),
         L.ReLU(name="inner_relu")],
        name="inner",
    )
    inputs = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = inner(x)
    outputs = L.Conv2D(2, 5, strides=2, padding="same", name="head")(x)
    return keras.Model(inputs, outputs, name="nested")


def _subclass():
    inputs = keras.Input((12, 12, 3), name="image")
    x = L.Conv2D(4, 3, dilation_rate=2, padding="same", name="dilated")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    outputs = L.Conv2D(2, 2, padding="same", name="even")(x)
    return TrainedNet(inputs, outputs, name="trained_net")


def _randomize(model):
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


MODELS = {"sequential": _sequential, "nested": _nested, "functional-subclass": _subclass}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pipeline_models")
    paths = {}
    for name, build in MODELS.items():
        paths[name] = directory / f"{name}.keras"
        _randomize(build()).save(paths[name])
    return paths


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


def _outputs(model, x):
    return [np.asarray(t) for t in keras.tree.flatten(model(x, training=False))]


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("with_onnx", [False, True], ids=["keras", "onnx"])
def test_reflect_verify_through_the_command(saved, tmp_path, kind, with_onnx):
    out, onnx_out = tmp_path / "out.keras", tmp_path / "out.onnx"
    args = [saved[kind], "--mode", "reflect", "-o", out, "--verify", "--json"]
    if with_onnx:
        args += ["--onnx", onnx_out]
    result = run(*args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "passed"
    keras_check = document["verify"]["keras"]
    assert keras_check["passed"] and keras_check["samples"] == 1
    for output in keras_check["outputs"]:
        assert output["name"] == output["expected_name"]
        assert output["max_abs_vs_rewritten"] <= output["tolerance"]
    if with_onnx:
        assert document["verify"]["onnx"]["passed"] is True
    # The file on disk computes the reflect model, not the original.
    original = keras.saving.load_model(saved[kind])
    written = keras.saving.load_model(out)
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 3)).astype("float32")
    expected = padrewrite.rewrite_model(original, "reflect").model
    for want, have in zip(_outputs(expected, x), _outputs(written, x)):
        np.testing.assert_allclose(have, want, rtol=1e-6, atol=1e-6)
    assert any(
        not np.allclose(a, b) for a, b in zip(_outputs(original, x), _outputs(written, x))
    )
    assert _files(tmp_path) == (["out.keras", "out.onnx"] if with_onnx else ["out.keras"])


def test_a_save_that_alters_a_weight_fails_verification(saved, tmp_path, monkeypatch):
    import padrewrite.keras_side.io

    real_save = padrewrite.keras_side.io.save_model

    def save_with_a_changed_weight(model, path):
        clone = keras.models.clone_model(model)
        weights = model.get_weights()
        weights[0] = weights[0].copy()
        weights[0].flat[0] += 0.25
        clone.set_weights(weights)
        real_save(clone, path)

    monkeypatch.setattr(padrewrite.keras_side.io, "save_model", save_with_a_changed_weight)
    result = run(saved["nested"], "--mode", "reflect", "-o", tmp_path / "out.keras", "--verify")
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED | keras")]
    assert len(failed) == 1 and "max_abs vs rewritten=" in failed[0]
    assert result.output.rstrip().endswith("Error: verification FAILED; nothing was written.")
    assert _files(tmp_path) == []


def test_an_unanticipated_error_exits_3_naming_the_users_file(saved, tmp_path, monkeypatch):
    import padrewrite.onnx.export

    def broken_export(model, path, **kwargs):
        raise ZeroDivisionError(f"while writing {path}")

    monkeypatch.setattr(padrewrite.onnx.export, "export_onnx", broken_export)
    onnx_out = tmp_path / "out.onnx"
    result = run(saved["sequential"], "-o", tmp_path / "out.keras", "--onnx", onnx_out)
    assert result.exit_code == 3
    assert result.output == (
        f"padrewrite failed unexpectedly: ZeroDivisionError: while writing {onnx_out} "
        "— this is a bug; --debug shows the traceback.\n"
    )
    assert _files(tmp_path) == []
    result = run(saved["sequential"], "-o", tmp_path / "out.keras", "--onnx", onnx_out, "--debug")
    assert result.exit_code == 3 and "Traceback" in result.output


def test_the_library_raises_internal_error_for_bugs(saved, tmp_path, monkeypatch):
    import padrewrite.rewrite

    def failing_rewrite(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(padrewrite.rewrite, "rewrite_with_options", failing_rewrite)
    with pytest.raises(InternalError, match="this is a bug") as raised:
        rewrite_file(saved["sequential"], tmp_path / "out.keras")
    assert isinstance(raised.value.error, ZeroDivisionError)
    assert _files(tmp_path) == []


@keras.saving.register_keras_serializable(package="pipelinetests")
class FailsToReload(L.Layer):
    """Deserializes while `FailsToReload.broken` is false (a stand-in for a config bug)."""

    broken = False

    @classmethod
    def from_config(cls, config):
        if cls.broken:
            raise TypeError("__init__() missing 1 required positional argument: 'units'")
        return cls(**config)

    def call(self, x):
        return x * 2.0


def test_a_file_that_does_not_load_back_is_not_written(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = FailsToReload(name="doubler")(L.Conv2D(2, 3, padding="same", name="c")(inputs))
    source = tmp_path / "in.keras"
    keras.Model(inputs, x).save(source)
    stages = []

    def on_stage(stage):
        stages.append(stage)
        FailsToReload.broken = stage.name == "reload"

    try:
        report = rewrite_file(source, tmp_path / "out.keras", "reflect", on_stage=on_stage)
    finally:
        FailsToReload.broken = False
    assert not report and report.status == "failed" and report.output is None
    assert report.reload.method == "config" and not report.reload.passed
    assert report.reload.error.startswith("the written model does not load back: ")
    assert "missing 1 required positional argument: 'units'" in report.reload.error
    assert str(tmp_path / "out.keras") in report.reload.path
    assert [s.name for s in stages if s.seconds is None] == ["load", "rewrite", "save", "reload"]
    assert _files(tmp_path) == ["in.keras"]


def test_report_records_every_stage(saved, tmp_path):
    report = rewrite_file(
        saved["nested"], tmp_path / "o.keras", "circular", onnx_path=tmp_path / "o.onnx",
        opset=19, verify=True, samples=1,
    )
    assert report and report.status == "passed"
    assert [s.name for s in report.stages] == [
        "load", "rewrite", "save", "reload", "export", "verify", "parity", "promote"]
    assert all(s.seconds >= 0 for s in report.stages)
    assert report.export.path == str(tmp_path / "o.onnx")
    assert report.parity.onnx_path == str(tmp_path / "o.onnx")
    assert report.reload.method == "full"
    assert json.loads(json.dumps(report.to_dict(), default=str))["status"] == "passed"


def test_plan_loads_and_rewrites_only(saved, tmp_path):
    report = rewrite_file(saved["sequential"], plan=True, mode="edge")
    assert report.status == "planned" and report.output is None
    assert [r.name for r in report.rewrite.rewritten] == ["s_c1", "s_dw", "s_c2"]
    assert report.rewrite.mode == "replicate"
    assert _files(tmp_path) == []


def test_import_padrewrite_is_enough_to_load_a_rewrite(saved, tmp_path):
    out = tmp_path / "out.keras"
    assert rewrite_file(saved["nested"], out, "symmetric")
    code = textwrap.dedent(
        f"""
        import padrewrite
        import keras
        model = keras.saving.load_model({str(out)!r})
        classes = sorted({{type(layer).__name__ for layer in model.get_layer("inner").layers}})
        print(classes)
        """
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip() == "['Conv2D', 'Padding2D', 'ReLU']"
