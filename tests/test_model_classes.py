"""Model classes the graph walk must take as they are.

- Functional graphs whose operations are called with Python constants (`1.0 - alpha`
  records a `Subtract` whose arguments hold the float): the constants pass through
  unchanged, the tensors are mapped.
- Layers without a config: a custom layer whose `get_config()` fails (a class that
  does not override it, made with an argument Keras cannot record, as keras-hub
  Whisper's `Padder` once its backbone is loaded; or one that raises). The report names
  the layer and Keras' cause; convolutions such a layer holds are rewritten when a copy
  can be made, else skipped with the reason; saving a rewritten model that still holds
  one fails on one line (exit 2).
"""

import json
import textwrap

import keras
import numpy as np
import pytest
from cli_helpers import fresh_python, run
from kernels import run_model

from padrewrite.errors import InputError
from padrewrite.keras_side.keras_internals import base_layer_config
from padrewrite.rewrite import rewrite_model
from padrewrite.rewrite.unreached import config_of

L = keras.layers
ops = keras.ops


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False):
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in weights])
    return model


def _data(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _max_abs(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(keras.tree.flatten(a), keras.tree.flatten(b))
    )


# -- Python constants among an operation's arguments ---------------------------------------


@keras.saving.register_keras_serializable(package="model_classes")
class Affine(L.Layer):
    """A layer taking nested constants as keyword arguments: a dict, a list, None."""

    def call(self, x, scale=None, shift=None, extra=()):
        y = x if scale is None else x * scale
        if shift is not None:
            y = y + shift["value"][0]
        return y + sum(extra)


def _gate(x):  # the brief's case: y = x * (1.0 - alpha)
    alpha = L.Conv2D(3, 3, padding="same", activation="sigmoid", name="alpha")(x)
    return x * (1.0 - alpha)


CONSTANT_CASES = [
    ("gate-1-minus-alpha", _gate),
    ("ops-add-right", lambda x: ops.add(L.Conv2D(3, 3, padding="same", name="c")(x), 2.0)),
    ("ops-add-left", lambda x: ops.add(2.0, L.Conv2D(3, 3, padding="same", name="c")(x))),
    ("int-left", lambda x: 3 - L.Conv2D(3, 3, padding="same", name="c")(x)),
    ("int-right", lambda x: L.Conv2D(3, 3, padding="same", name="c")(x) * 2),
    ("clip", lambda x: ops.clip(L.Conv2D(3, 3, padding="same", name="c")(x), 0.0, 1.0)),
    ("maximum-left", lambda x: ops.maximum(0.0, L.Conv2D(3, 3, padding="same", name="c")(x))),
    ("where-constant", lambda x: (lambda t: ops.where(t > 0.0, t, 0.5))(
        L.Conv2D(3, 3, padding="same", name="c")(x))),
    ("rescaling-after", lambda x: L.Rescaling(1 / 255.0, offset=-1.0, name="r")(
        1.0 - L.Conv2D(3, 3, padding="same", name="c")(x))),
    # The constant first, before the convolution: its input is the operation's output.
    ("constant-before-conv", lambda x: L.Conv2D(3, 3, padding="same", name="c")(1.0 - x)),
    ("getitem-none-slices", lambda x: L.Conv2D(3, 3, padding="same", name="c")(x)[:, 1:, None]),
    ("pad-kwarg-none", lambda x: L.Conv2D(2, 3, name="v")(
        ops.pad(L.Conv2D(3, 3, padding="same", name="c")(x), [[0, 0], [1, 1], [1, 1], [0, 0]]))),
    ("layer-nested-kwargs", lambda x: Affine(name="affine")(
        L.Conv2D(3, 3, padding="same", name="c")(x),
        scale=2.0, shift={"value": [0.5, None]}, extra=[1, 2.5])),
]


@pytest.mark.parametrize("name,make", CONSTANT_CASES, ids=[c[0] for c in CONSTANT_CASES])
def test_constants_in_operation_arguments_pass_through(name, make, tmp_path):
    inputs = keras.Input((9, 8, 3), name="x")
    model = _randomize(keras.Model(inputs, make(inputs)))
    data = _data((2, 9, 8, 3))
    exact = rewrite_model(model, "constant")
    assert exact.report.rewritten and all(
        r.action == "rewritten" for r in exact.report.records if r.name != "v"
    )
    assert _max_abs(run_model(model, data), run_model(exact.model, data)) == 0.0
    reflect = rewrite_model(model, "reflect").model
    path = tmp_path / f"{name}.keras"
    reflect.save(path)
    reloaded = keras.saving.load_model(path)
    assert _max_abs(run_model(reflect, data), run_model(reloaded, data)) == 0.0


def test_a_layer_given_its_input_by_keyword_is_padded_there():
    """`conv(inputs=x)` records no positional argument: the pad goes to the keyword."""
    inputs = keras.Input((9, 8, 3), name="x")
    y = L.Conv2D(3, 3, padding="same", name="c")(inputs=inputs)
    y = L.ZeroPadding2D(1, name="zp")(inputs=y)
    model = _randomize(keras.Model(inputs, L.Conv2D(2, 3, name="v")(inputs=y)))
    result = rewrite_model(model, "constant", rules=("zero-padding",))
    assert [(r.name, r.action) for r in result.report.records] == [
        ("c", "rewritten"), ("zp", "rewritten"), ("v", "unchanged")]
    data = _data((2, 9, 8, 3))
    assert _max_abs(run_model(model, data), run_model(result.model, data)) == 0.0


def test_cli_constants_plan_and_run_with_onnx_verify(tmp_path):
    inputs = keras.Input((16, 16, 3), name="image")
    y = _gate(inputs)
    y = ops.clip(ops.add(y, 2.0), 0.0, 2.5)
    y = L.Rescaling(0.5, name="rescale")(y)
    outputs = L.Conv2D(3, 3, padding="same", name="out")(3.0 - y)
    source = tmp_path / "gate.keras"
    _randomize(keras.Model(inputs, outputs)).save(source)

    plan = run(source, "--plan")
    assert plan.exit_code == 0, plan.output
    assert "rewrote 2 of 2 convolutions (reflect)" in plan.output
    result = run(source, "--mode", "reflect", "-o", tmp_path / "o.keras",
                 "--onnx", tmp_path / "o.onnx", "--verify", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "passed"
    assert [r["path"] for r in document["rewrite"]["layers"]] == ["alpha", "out"]


# -- layers without a config -----------------------------------------------------------------


@keras.saving.register_keras_serializable(package="model_classes")
class EdgePad(L.Layer):
    """No constructor and no get_config (keras-hub Whisper's `Padder`)."""

    def call(self, x):
        return ops.pad(x, [[0, 0], [1, 1], [0, 0]])


@keras.saving.register_keras_serializable(package="model_classes")
class Gate(L.Layer):
    """Holds a 'same' convolution; made with a function and without get_config, so
    Keras records no config for it."""

    def __init__(self, filters, fn, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.fn = fn
        self.conv = L.Conv1D(filters, 3, padding="same", name="gate_conv")

    def call(self, x):
        return x * self.fn(self.conv(x))


@keras.saving.register_keras_serializable(package="model_classes")
class Sealed(L.Conv1D):
    """A 'same' convolution whose get_config raises."""

    def get_config(self):
        raise NotImplementedError("Sealed layers have no config")


@keras.saving.register_keras_serializable(package="model_classes")
class Keeper(L.Layer):
    """Holds a 'same' convolution; its get_config raises, but its one constructor
    argument is kept as a same-named attribute."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = L.Conv1D(filters, 3, padding="same", name="keeper_conv")

    def call(self, x):
        return self.conv(x)

    def get_config(self):
        raise NotImplementedError("Keeper keeps no config")


@keras.saving.register_keras_serializable(package="model_classes")
class Stem(keras.Model):
    """A Functional subclass saved through its own config (as keras-hub backbones are):
    loading it passes its layers a `DTypePolicy` object, which Keras cannot record."""

    def __init__(self, parts=("pad",), dtype=None, **kwargs):
        dtype = None if dtype is None else keras.dtype_policies.get(dtype)
        x = keras.Input((None, 3), name="audio")
        y = L.Conv1D(4, 3, padding="same", name="conv1", dtype=dtype)(x)
        y = EdgePad(dtype=dtype, name="pad")(y)
        y = L.Conv1D(4, 3, strides=2, name="conv2", dtype=dtype)(y)
        if "gate" in parts:
            y = Gate(4, keras.activations.sigmoid, name="gate", dtype=dtype)(y)
        if "sealed" in parts:
            y = Sealed(4, 3, padding="same", name="sealed", dtype=dtype)(y)
        if "keeper" in parts:
            y = Keeper(4, name="keeper", dtype=dtype)(y)
        super().__init__(x, y, **kwargs)
        self.parts = tuple(parts)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "parts": list(self.parts),
                "dtype": keras.dtype_policies.serialize(self.dtype_policy)}


def _stem_file(tmp_path, parts):
    """A Stem saved and loaded back: its layers then have no config."""
    path = tmp_path / f"stem_{'_'.join(parts)}.keras"
    _randomize(Stem(parts)).save(path)
    return path


def test_config_of_carries_the_failure_and_keras_cause(tmp_path):
    loaded = keras.saving.load_model(_stem_file(tmp_path, ("pad", "sealed")))
    pad = config_of(loaded.get_layer("pad"))
    assert pad.failed and pad == {}
    assert pad.cause.startswith(
        "NotImplementedError: Object EdgePad was created by passing non-serializable "
        "argument values in `__init__()`")
    assert "Example" not in pad.cause and "\n" not in pad.cause
    sealed = config_of(loaded.get_layer("sealed"))
    assert sealed.cause == "NotImplementedError: Sealed layers have no config"
    conv = config_of(loaded.get_layer("conv1"))
    assert not conv.failed and conv["padding"] == "same"


def test_base_layer_config_is_what_keras_layer_get_config_gives():
    """The keys `keras.layers.Layer.get_config` sets itself, for a layer Keras can
    describe, read without calling it (`padrewrite.keras_side.keras_internals`)."""
    layer = L.Dense(3, name="d", dtype="mixed_float16", activity_regularizer="l2")
    layer.trainable = False
    config = layer.get_config()
    assert base_layer_config(layer) == {
        k: config[k] for k in ("name", "trainable", "dtype", "activity_regularizer")
    }
    assert base_layer_config(EdgePad(autocast=False))["autocast"] is False


def test_a_layer_without_a_constructor_of_its_own_gets_its_config_completed(tmp_path):
    """EdgePad's get_config fails; keras.layers.Layer's own config describes it fully."""
    original = keras.saving.load_model(_stem_file(tmp_path, ("pad",)))
    result = rewrite_model(original, "reflect")
    assert [(r.path, r.action) for r in result.report.records] == [
        ("conv1", "rewritten"), ("conv2", "unchanged")]
    completed, changed = result.report.notes
    assert (completed.path, completed.change) == ("pad", "config-completed")
    assert "its get_config() fails: NotImplementedError: Object EdgePad" in completed.reason
    assert changed.change == "class-changed"
    pad = result.model.get_layer("pad")
    assert type(pad) is EdgePad and pad is not original.get_layer("pad")
    data = _data((2, 11, 3))
    path = tmp_path / "out.keras"
    result.model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.get_layer("pad")) is EdgePad
    assert _max_abs(run_model(result.model, data), run_model(reloaded, data)) == 0.0
    exact = rewrite_model(original, "constant").model
    assert _max_abs(run_model(original, data), run_model(exact, data)) == 0.0


def test_a_layer_without_a_config_can_still_be_adopted_by_probing(tmp_path):
    """The adopt-padding rule looks at what a layer computes, not at its config."""
    original = keras.saving.load_model(_stem_file(tmp_path, ("pad",)))
    result = rewrite_model(original, "reflect", rules=("adopt-padding",))
    (pad,) = [r for r in result.report.records if r.name == "pad"]
    assert (pad.action, pad.mode, pad.computed, pad.pads) == (
        "rewritten", "constant", "constant", ((1, 1),))
    assert [n.change for n in result.report.notes] == ["class-changed"]
    data = _data((2, 11, 3))
    exact = rewrite_model(original, "constant", rules=("adopt-padding",)).model
    assert _max_abs(run_model(original, data), run_model(exact, data)) == 0.0


def test_a_holder_without_a_config_is_reported_and_cannot_be_saved(tmp_path):
    original = keras.saving.load_model(_stem_file(tmp_path, ("pad", "gate")))
    result = rewrite_model(original, "reflect")
    records = {r.path: r for r in result.report.records}
    assert records["conv1"].action == "rewritten"
    inner = records["gate/conv"]
    assert inner.action == "skipped"
    assert inner.reason.startswith(
        "held by 'gate' (Gate), which cannot be rebuilt from its config (its get_config() "
        "fails: NotImplementedError: Object Gate was created by passing non-serializable")
    (shared,) = [n for n in result.report.notes if n.change == "layer-shared"]
    assert shared.path == "gate" and "cannot be saved" in shared.reason
    assert result.model.get_layer("gate") is original.get_layer("gate")
    data = _data((2, 11, 3))
    assert run_model(result.model, data).shape == run_model(original, data).shape
    with pytest.raises(InputError, match=r"^The rewritten model cannot be saved: layer 'gate' "
                       r"\(Gate\) has no config.*Received: layer='gate'$"):
        result.model.save(tmp_path / "out.keras")


def test_a_convolution_whose_get_config_raises_is_skipped_not_hidden(tmp_path):
    original = keras.saving.load_model(_stem_file(tmp_path, ("pad", "sealed")))
    result = rewrite_model(original, "reflect")
    (sealed,) = [r for r in result.report.records if r.name == "sealed"]
    assert (sealed.action, sealed.kind) == ("skipped", "convolution")
    assert sealed.reason == (
        "padding='same', but its get_config() fails (NotImplementedError: Sealed layers have "
        "no config): no copy of it with padding='valid' can be built; left as it is")
    assert "1 skipped" in result.report.summary()


def test_a_holder_whose_arguments_are_attributes_has_its_convolution_rewritten(tmp_path):
    original = keras.saving.load_model(_stem_file(tmp_path, ("pad", "keeper")))
    result = rewrite_model(original, "constant")
    records = {r.path: r.action for r in result.report.records}
    assert records == {"conv1": "rewritten", "conv2": "unchanged", "keeper/conv": "rewritten"}
    (keeper_note,) = [n for n in result.report.notes if n.path == "keeper"]
    assert keeper_note.change == "config-completed" and "filters=4" in keeper_note.reason
    data = _data((2, 11, 3))
    assert _max_abs(run_model(original, data), run_model(result.model, data)) == 0.0
    reflect = rewrite_model(original, "reflect").model
    path = tmp_path / "out.keras"
    reflect.save(path)
    assert _max_abs(run_model(reflect, data), run_model(keras.saving.load_model(path), data)) == 0


def test_cli_layers_without_a_config(tmp_path):
    """--plan reports them (exit 0); a run writes what can be saved (exit 0) and says
    in one line which layer cannot be (exit 2)."""
    completed = _stem_file(tmp_path, ("pad", "keeper"))
    plan = run(completed, "--plan")
    assert plan.exit_code == 0, plan.output
    assert "note: 'pad' (EdgePad) cannot be rebuilt from its own config (its get_config() " \
        "fails: NotImplementedError: Object EdgePad" in plan.output
    out = tmp_path / "out.keras"
    result = run(completed, "--mode", "reflect", "-o", out, "--onnx", tmp_path / "out.onnx",
                 "--verify")
    assert result.exit_code == 0, result.output
    assert "rewrote 2 of 3 convolutions (reflect); 0 skipped" in result.output

    unsaveable = _stem_file(tmp_path, ("pad", "gate", "sealed"))
    plan = run(unsaveable, "--plan", "--json")
    assert plan.exit_code == 0, plan.output
    document = json.loads(plan.output)
    actions = {r["path"]: r["action"] for r in document["rewrite"]["layers"]}
    assert actions == {"conv1": "rewritten", "conv2": "unchanged", "gate/conv": "skipped",
                       "sealed": "skipped"}
    shared = [n["path"] for n in document["rewrite"]["notes"] if n["change"] == "layer-shared"]
    assert shared == ["gate", "sealed"]
    target = tmp_path / "never.keras"
    result = run(unsaveable, "--mode", "reflect", "-o", target)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()[-1:]
    assert line.startswith(
        "Error: The rewritten model cannot be saved: layers 'gate' (Gate), 'sealed' (Sealed) "
        "have no config")
    assert not target.exists()


# -- keras-hub's Whisper backbone ----------------------------------------------------------

#: Small enough to build in seconds, long enough for the checks' default inputs (32 frames,
#: halved by the encoder, and 32 tokens) to fit its position embeddings.
WHISPER = dict(vocabulary_size=10, num_layers=2, num_heads=2, hidden_dim=8,
               intermediate_dim=16, num_mels=4, max_encoder_sequence_length=64,
               max_decoder_sequence_length=32)


def _whisper_file(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    path = tmp_path / "whisper.keras"
    keras_hub.models.WhisperBackbone(**WHISPER).save(path)
    return path


def _whisper_inputs():
    return {
        "encoder_features": _data((1, 6, 4)),
        "decoder_token_ids": np.array([[1, 2, 3, 4, 5]], "int32"),
        "decoder_padding_mask": np.ones((1, 5), "int32"),
    }


def test_whisper_backbone_plan_and_rewrite(tmp_path):
    source = _whisper_file(tmp_path)
    plan = run(source, "--plan", "--json")
    assert plan.exit_code == 0, plan.output
    document = json.loads(plan.output)
    assert [(r["path"], r["action"]) for r in document["rewrite"]["layers"]] == [
        ("encoder_token_embedding_conv_layer_1", "rewritten"),
        ("encoder_token_embedding_conv_layer_2", "unchanged")]
    assert [(n["path"], n["change"]) for n in document["rewrite"]["notes"]] == [
        ("encoder_padder", "config-completed"), ("whisper_backbone", "class-changed")]
    adopt = json.loads(run(source, "--plan", "--json", "--rule", "adopt-padding").output)
    assert [(r["path"], r["action"], r["mode"]) for r in adopt["rewrite"]["layers"]] == [
        ("encoder_token_embedding_conv_layer_1", "rewritten", "reflect"),
        ("encoder_padder", "rewritten", "constant"),
        ("encoder_token_embedding_conv_layer_2", "unchanged", None)]
    original = keras.saving.load_model(source)
    result = rewrite_model(original, "constant")
    inputs = _whisper_inputs()
    assert _max_abs(run_model(original, inputs), run_model(result.model, inputs)) == 0.0


@pytest.mark.slow
def test_cli_whisper_backbone_reflect_onnx_verify_and_fresh_process_load(tmp_path):
    source = _whisper_file(tmp_path)
    out = tmp_path / "w.keras"
    result = run(source, "--mode", "reflect", "-o", out, "--onnx", tmp_path / "w.onnx",
                 "--verify", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["status"] == "passed"
    code = textwrap.dedent(f"""
        import keras, padrewrite
        model = keras.saving.load_model({str(out)!r})
        print(type(model.get_layer("encoder_padder")).__name__)
    """)
    process = fresh_python(code, tests_importable=False)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip() == "Padder"
