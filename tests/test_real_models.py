"""Failure classes seen on public Keras models, and the real-model corpus sweep.

Each class has a test here: a Functional subclass is said to become a plain
Functional; a layer that cannot be rebuilt from its own config is kept, not
refused; every layer that pads 'same'/'causal' anywhere is in the report;
tf.keras 2 `.h5` files with legacy keys load with the tf.keras weights. The
slow sweep takes every model of `tests/corpus.py` through plan, constant
`--verify` (exact), reflect `--onnx --verify`, replicate `--opset 19
--verify` and a fresh-process load after `import padrewrite`.
"""

import json
import os
import subprocess
import sys
import textwrap

import corpus
import keras
import numpy as np
import pytest
from cli_helpers import run

import padrewrite

L = keras.layers


def _outputs(model, x):
    return [np.asarray(keras.ops.convert_to_numpy(t))
            for t in keras.tree.flatten(model(x, training=False))]


# -- a Functional subclass becomes a plain Functional, and says so ---------------------


def test_functional_subclass_class_change_is_reported(tmp_path):
    model = corpus.build_functional_subclass()
    source = tmp_path / "net.keras"
    model.save(source)
    result = run(source, "--mode", "reflect", "-o", tmp_path / "o.keras", "--verify", "--json")
    assert result.exit_code == 0, result.output
    (note,) = json.loads(result.output)["rewrite"]["notes"]
    assert note["change"] == "class-changed"
    assert note["class_name"] == f"{type(model).__module__}.{type(model).__qualname__}"
    assert note["new_class_name"] == "Functional"
    assert "train_step()" in note["lost"]
    assert "undoing the rewrite" in note["reason"]
    text = run(source, "--mode", "reflect", "--plan").output
    assert f"note: '{model.name}' ({note['class_name']}) becomes a plain Functional; not kept: " \
        in text
    assert type(keras.saving.load_model(tmp_path / "o.keras")).__name__ == "Functional"


def test_plain_models_have_no_notes():
    for build in (corpus.build_unet, corpus.build_dcgan_generator):
        assert padrewrite.rewrite_model(build(), "reflect").report.notes == ()


# -- a layer its own config cannot rebuild is kept, not refused -------------------------


class Scale(L.Layer):
    """A third-party layer whose config does not rebuild it (an array argument)."""

    def __init__(self, factors, **kwargs):
        super().__init__(**kwargs)
        self.factors = np.asarray(factors, "float32")

    def get_config(self):
        return super().get_config()  # forgets `factors`

    def call(self, x):
        return x * self.factors


def test_a_layer_that_cannot_be_rebuilt_is_kept_when_not_rewritten():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(3, 3, padding="same", name="c1")(inputs)
    x = Scale([1.0, 2.0, 3.0], name="scale")(x)
    outputs = L.Conv2D(2, 3, strides=2, padding="same", name="c2")(x)
    model = keras.Model(inputs, outputs)
    result = padrewrite.rewrite_model(model, "constant")
    (note,) = result.report.notes
    assert note.change == "layer-shared" and note.path == "scale"
    assert "missing 1 required positional argument" in note.reason
    assert result.model.get_layer("scale") is model.get_layer("scale")
    assert [r.name for r in result.report.rewritten] == ["c1", "c2"]
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(_outputs(result.model, x)[0], _outputs(model, x)[0])


# -- every layer that pads 'same'/'causal' anywhere is in the report --------------------


def _reported(report):
    # A convolution held by another layer has its attribute path (`td/layer`) and its name.
    return {record.path.rsplit("/", 1)[-1] for record in report.records} | {
        record.name for record in report.records}


COMPLETENESS = ["conv_lstm", "time_distributed", "hidden_conv", "unet_oxford_pets",
                "siamese_shared", "nested_sequential"]


@pytest.mark.parametrize("name", COMPLETENESS)
def test_every_padded_layer_is_reported(name):
    model = corpus.CORPUS[name].build()
    report = padrewrite.rewrite_model(model, "replicate").report
    reported = _reported(report)
    owners = {
        id(layer.cell): layer.name
        for layer in keras.tree.flatten([model.layers])
        if isinstance(layer, L.RNN)
    }
    for layer in corpus.padded_layers(model):
        assert layer.name in reported or owners.get(id(layer)) in reported, layer.name
    for record in report.records:
        assert record.reason and record.action in ("rewritten", "skipped", "unchanged")


def test_wrappers_and_recurrent_convolutions_are_named_for_what_they_are():
    # Convolutions in TimeDistributed wrappers are reached through the wrapper's
    # `layer` attribute (tests/test_reach_inside.py).
    report = padrewrite.rewrite_model(corpus.build_time_distributed(), "reflect").report
    wrapped = [r for r in report.records if r.path.endswith("/layer")]
    assert [r.action for r in wrapped] == ["rewritten", "rewritten"]
    report = padrewrite.rewrite_model(corpus.build_conv_lstm(), "reflect").report
    recurrent = [r for r in report.records if r.class_name == "ConvLSTM2D"]
    assert len(recurrent) == 3
    assert all("recurrent convolution inside the cell always pads 'same'" in r.reason
               for r in recurrent)


# -- tf.keras 2 .h5 files -----------------------------------------------------------------


@pytest.mark.parametrize("writer", ["write_tf_keras_functional_h5", "write_tf_keras_sequential_h5"])
def test_tf_keras_h5_loads_with_its_weights(tmp_path, writer):
    import tf_keras

    path = getattr(corpus, writer)(tmp_path)
    legacy = tf_keras.models.load_model(path, compile=False)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    expected = legacy(x, training=False).numpy()
    from padrewrite.keras_side.io import load_model

    notes = []
    model = load_model(path, notes=notes)
    np.testing.assert_allclose(_outputs(model, x)[0], expected, rtol=1e-5, atol=1e-5)
    if writer == "write_tf_keras_functional_h5":
        (note,) = notes
        assert "(DepthwiseConv2D): dropped groups" in note
        assert "(SeparableConv2D): dropped groups, kernel_initializer" in note
    else:
        assert notes == []
    out = tmp_path / "out.keras"
    result = run(path, "--mode", "zero", "-o", out, "--verify")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(
        _outputs(keras.saving.load_model(out), x)[0], expected, rtol=1e-5, atol=1e-5)


def test_a_legacy_key_with_a_meaningful_value_is_not_dropped():
    from padrewrite.keras_side.legacy_h5 import translate_config

    config = {"class_name": "Functional", "config": {"layers": [
        {"class_name": "DepthwiseConv2D", "config": {"name": "dw", "groups": 1}},
        {"class_name": "Conv2DTranspose", "config": {"name": "up", "groups": 2}},
    ]}}
    translated, changes = translate_config(config)
    assert changes == ["'dw' (DepthwiseConv2D): dropped groups"]
    assert translated["config"]["layers"][1]["config"]["groups"] == 2
    assert config["config"]["layers"][0]["config"]["groups"] == 1  # the input is untouched


# -- the corpus sweep ---------------------------------------------------------------------

#: Steps of the sweep that a corpus model is expected not to pass, with the reason
#: the tool must give (a substring of its one-line message).
_NO_BFLOAT16 = (2, "bfloat16")
#: tf2onnx's export of keras-hub's MiT does not run in onnxruntime (a Reshape
#: bakes a batch of 1 into the attention), with or without a rewrite.
_MIT_EXPORT = (1, "FAILED | output 'output_level_1' | onnxruntime failed to run the ONNX file")
EXPECTED_REFUSALS = {
    # ONNX Conv has no bfloat16 type: the export is refused before converting.
    ("mixed_bfloat16_layers", "reflect"): _NO_BFLOAT16,
    ("mixed_bfloat16_layers", "replicate"): _NO_BFLOAT16,
    ("hub_mit", "reflect"): _MIT_EXPORT,
    ("hub_mit", "replicate"): _MIT_EXPORT,
    # Causal-safe by default: reflect would copy future samples into the left pads.
    ("wavenet_tcn", "reflect"): (2, "would read future samples"),
}
#: Extra options per model (the SD3 VAE needs none: its ill-conditioned all-zeros and
#: all-ones samples are judged against their error floor).
#: MobileNetV3 and EfficientNetB0 at 64x64 end in 2x2 maps that a 5x5 depthwise
#: kernel cannot reflect-pad: those layers fall back to replicate.
SWEEP_OPTIONS = {
    "mobilenet_v3_small": ["--fallback-mode", "replicate"],
    "efficientnet_b0": ["--fallback-mode", "replicate"],
}


def _models():
    return list(corpus.CORPUS)


def _source(name, directory):
    entry = corpus.CORPUS[name]
    if entry.kind == "h5":
        return entry.build(directory)
    path = directory / f"{name}.keras"
    entry.build().save(path)
    return path


def _step(name, label, args):
    result = run(*args)
    refusal = EXPECTED_REFUSALS.get((name, label))
    if refusal is not None:
        exit_code, message = refusal
        assert result.exit_code == exit_code and message in result.output, result.output
        return None
    assert result.exit_code == 0, f"{name} {label}: {result.output[-3000:]}"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", _models())
def test_corpus_model(tmp_path, name):
    source = _source(name, tmp_path)
    plan = run(source, "--plan", "--json", "--mode", "constant")
    assert plan.exit_code == 0, plan.output
    records = json.loads(plan.output)["rewrite"]["layers"]
    _step(name, "constant", [source, "--mode", "constant", "-o", tmp_path / "c.keras", "--verify"])
    options = SWEEP_OPTIONS.get(name, [])
    _step(name, "reflect", [source, "--mode", "reflect", "-o", tmp_path / "r.keras",
                            "--onnx", tmp_path / "r.onnx", "--verify", *options])
    replicate = _step(name, "replicate", [
        source, "--mode", "replicate", "-o", tmp_path / "e.keras", "--onnx", tmp_path / "e.onnx",
        "--opset", "19", "--verify", *options])
    if replicate is None:
        return
    code = textwrap.dedent(
        f"""
        import numpy as np
        import padrewrite, keras
        import corpus  # the user's own registered layers
        model = keras.saving.load_model({str(tmp_path / "e.keras")!r})
        layers = model._flatten_layers(include_self=False)
        # Padding layers in graphs; padded convolutions where a layer holds the conv.
        modes = [layer.mode for layer in layers if type(layer).__module__ == "padrewrite.layers"]
        modes += [layer.padding_mode for layer in layers
                  if type(layer).__module__ == "padrewrite.padded"
                  and hasattr(layer, "padding_mode")]
        print("padding layers:", len(modes), sorted(set(modes)))
        """
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
             "PYTHONPATH": os.path.dirname(corpus.__file__)},
    )
    assert process.returncode == 0, process.stderr[-2000:]
    # Layer names may differ (a subclass rebuilt from its constructor names them anew).
    rewritten = [r for r in records if r["action"] in ("rewritten", "fallback")]
    modes = "['replicate']" if rewritten else "[]"
    assert process.stdout.strip() == f"padding layers: {len(rewritten)} {modes}"


# -- models written as loaded, and a saved config Keras cannot load as saved ---------------


@keras.saving.register_keras_serializable(package="realmodels")
class TupleShapeOnly(L.Layer):
    """Builds only from a tuple shape, like keras-hub's SpatialPyramidPooling."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=input_shape[-1:] + (1,), initializer="ones")

    def call(self, x):
        return x * keras.ops.squeeze(self.scale, -1)


@keras.saving.register_keras_serializable(package="realmodels")
class Backbone(keras.Model):
    """A keras-hub style backbone: a Functional subclass rebuilt from its arguments."""

    def __init__(self, filters=4, padding="same", **kwargs):
        inputs = keras.Input((8, 8, 3), name="pixels")
        x = L.Conv2D(filters, 3, padding=padding, name="stem")(inputs)
        outputs = TupleShapeOnly(name="scaled")(x)
        super().__init__(inputs, outputs, **kwargs)
        self.filters, self.padding = filters, padding

    def get_config(self):
        return {"filters": self.filters, "padding": self.padding, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_a_file_keras_cannot_load_as_saved_is_repaired_and_said(tmp_path):
    source = tmp_path / "backbone.keras"
    Backbone(name="backbone").save(source)
    out = tmp_path / "o.keras"
    result = run(source, "--mode", "reflect", "-o", out, "--verify", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (note,) = document["save_notes"]
    assert "can only concatenate list" in note
    assert "build shapes of 3 graph layer(s) were dropped" in note  # pad, conv, scaled
    assert document["rewrite"]["notes"][0]["change"] == "class-changed"
    assert document["verify"]["keras"]["passed"]
    reloaded = keras.saving.load_model(out)
    assert type(reloaded).__name__ == "Functional"
    assert reloaded.get_layer("stem").padding == "valid"


def test_a_model_with_nothing_to_rewrite_is_written_as_loaded(tmp_path):
    source = tmp_path / "backbone.keras"
    Backbone(padding="valid", name="valid_backbone").save(source)
    out = tmp_path / "o.keras"
    result = run(source, "-o", out, "--verify", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["rewrite"]["notes"] == [] and document["save_notes"] == []
    assert isinstance(keras.saving.load_model(out), Backbone)


# -- mixed precision: parity judged against the compute dtype ------------------------------


def test_mixed_float16_parity_follows_the_compute_dtype(tmp_path):
    from padrewrite.verify.parity import check_parity, compute_dtype

    model = corpus.build_unet_mixed_float16()
    rewritten = padrewrite.rewrite_model(model, "reflect").model
    padrewrite.export_onnx(rewritten, tmp_path / "m.onnx")
    report = check_parity(rewritten, tmp_path / "m.onnx", samples=1)
    assert report.compute_dtype == "float16"
    assert (report.atol, report.rtol) == (1e-2, 1e-2)
    assert report, report.to_dict()
    worst = max(output.max_abs for output in report.outputs)
    assert 1e-5 < worst < 1e-2  # float16 arithmetic: above float32 noise, within its own
    tight = check_parity(rewritten, tmp_path / "m.onnx", samples=1, atol=1e-6, rtol=1e-6)
    assert not tight
    assert tight.hint.startswith("the model computes in float16; tolerances below atol=1e-02")
    assert tight.to_dict()["hint"] == tight.hint
    assert compute_dtype(corpus.build_unet()) == "float32"
