"""The opt-in `adopt-padding` rule: hand-written padding layers found by what they compute.

Checked: the blog layers, keras-io CycleGAN's layer, a `Lambda(tf.pad)` and
keras-cv's `PaddedConv2D` are recognised with the mode and amounts they
really compute (SYMMETRIC for the blog's "replication", height and width as
`call` uses them); outputs stay bit-identical; the adopted model loads in a
fresh process without the layers' code and exports with native Pads; layers
that only look like padding are left alone with the reason; hypothesis
generates hand-written layers in every mode, amount, rank and data format.
"""

import json
import textwrap

import corpus
import handwritten as hw
import keras
import numpy as np
import onnx
import pytest
import tensorflow as tf
from cli_helpers import fresh_python, run
from hypothesis import example, given, settings
from hypothesis import strategies as st
from keras import ops as keras_ops

from padrewrite import rewrite_model
from padrewrite.keras_side.probe import NotPadding, identify_padding, probe_inputs

L = keras.layers
ADOPT = ("adopt-padding",)


def _run(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") for w in model.get_weights()])


def _single(pad_layer, shape=(12, 10, 3)):
    """A model: input, the hand-written layer, a 'valid' conv (the layer's usual consumer)."""
    inputs = keras.Input(shape, name="image")
    x = pad_layer(inputs)
    return keras.Model(inputs, L.Conv2D(4, 3, name="conv")(x))


def _record(report, name):
    (record,) = [r for r in report.records if r.name == name]
    return record


def _reflect_lambda():
    return L.Lambda(lambda t: tf.pad(t, [[0, 0], [2, 2], [1, 1], [0, 0]], "REFLECT"), name="pad")


# (layer, expected mode found, expected pads ((top, bottom), (left, right)))
HAND_WRITTEN = {
    # call() reads padding as (width, height): (2, 1) pads H by 1 and W by 2.
    "blog_reflection": (lambda: hw.BlogReflectionPadding2D((2, 1), name="pad"), "reflect",
                        ((1, 1), (2, 2))),
    # The blog's "replication" passes SYMMETRIC to tf.pad.
    "blog_replication": (lambda: hw.BlogReplicationPadding2D((2, 3), name="pad"), "symmetric",
                         ((3, 3), (2, 2))),
    # With pads of 1, symmetric and replicate are one function: the ONNX-native name is kept.
    "blog_replication_by_one": (lambda: hw.BlogReplicationPadding2D((1, 1), name="pad"),
                                "replicate", ((1, 1), (1, 1))),
    "cyclegan": (lambda: corpus.ReflectionPadding2D((3, 2), name="pad"), "reflect",
                 ((2, 2), (3, 3))),
    "lambda_tf_pad": (_reflect_lambda, "reflect", ((2, 2), (1, 1))),
    "constant_minus_one": (
        lambda: hw.AnyPadding([(0, 2), (1, 0)], ["constant", "constant"], value=-1.0, name="pad"),
        "constant", ((0, 2), (1, 0))),
    "per_axis": (lambda: hw.AnyPadding([(1, 2), (2, 1)], ["reflect", "wrap"], name="pad"),
                 "H=reflect,W=circular", ((1, 2), (2, 1))),
}


@pytest.mark.parametrize("case", sorted(HAND_WRITTEN))
def test_hand_written_layers_are_adopted_with_the_mode_they_compute(case):
    build, mode, pads = HAND_WRITTEN[case]
    model = _single(build())
    result = rewrite_model(model, mode="constant", rules=ADOPT)
    record = _record(result.report, "pad")
    assert (record.action, record.rule, record.computed, record.mode) == (
        "rewritten", "adopt-padding", mode, mode)
    assert record.pads == pads
    adopted = result.model.get_layer("pad")
    assert type(adopted).__module__ == "padrewrite.layers"
    x = _x((2, 12, 10, 3))
    assert np.array_equal(_run(result.model, x), _run(model, x))
    assert "adopted" in result.report.summary()


def test_the_report_says_when_the_probes_cannot_tell_modes_apart():
    model = _single(hw.BlogReplicationPadding2D((1, 1), name="pad"))
    record = _record(rewrite_model(model, rules=ADOPT).report, "pad")
    assert "the same function as symmetric" in record.reason


def test_a_wrong_declared_shape_is_reported_and_the_true_one_kept():
    # The blog layer declares (H + 2*2, W + 2*1) but returns (H + 2*1, W + 2*2).
    inputs = keras.Input((12, 10, 3))
    model = keras.Model(inputs, hw.BlogReflectionPadding2D((2, 1), name="pad")(inputs))
    assert model.output.shape == (None, 16, 12, 3)
    result = rewrite_model(model, rules=ADOPT)
    assert result.model.output.shape == (None, 14, 14, 3)
    assert _run(model, _x((1, 12, 10, 3))).shape == (1, 14, 14, 3)
    assert "compute_output_shape declares (None, 16, 12, 3)" in _record(
        result.report, "pad").reason


def test_without_the_rule_hand_written_layers_are_not_called_nor_reported():
    calls = []

    class Counting(L.Layer):
        def call(self, x):
            calls.append(self)
            return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "REFLECT")

    layer = Counting(name="pad")
    model = _single(layer)
    calls.clear()
    report = rewrite_model(model, mode="reflect").report
    assert layer not in calls  # its copy is called on symbolic tensors, the layer itself not
    assert [r.name for r in report.records if r.name == "pad"] == []
    report = rewrite_model(model, mode="reflect", rules=ADOPT).report
    assert layer in calls
    assert _record(report, "pad").computed == "reflect"


def test_a_per_layer_mode_switches_an_adopted_layer():
    model = _single(hw.BlogReflectionPadding2D((1, 1), name="pad"))
    result = rewrite_model(model, mode="constant", rules=ADOPT, mode_for={"pad": "circular"})
    record = _record(result.report, "pad")
    assert (record.computed, record.mode) == ("reflect", "circular")
    assert "per-layer mode" in record.reason
    x = _x((2, 12, 10, 3))
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="wrap")
    conv = L.Conv2D(4, 3)
    conv.build((None, 14, 12, 3))
    conv.set_weights(model.get_layer("conv").get_weights())
    assert np.allclose(_run(result.model, x), _run(conv, padded), atol=1e-6)


# -- layers that grow the map and are no padding ------------------------------------------


def test_layers_that_are_no_padding_are_left_alone_with_the_reason():
    inputs = keras.Input((12, 10, 3))
    x = hw.PadThenScale(name="scaled")(inputs)
    x = hw.NearestUpsample(name="upsample")(x)
    x = L.Activation("relu", name="relu")(x)
    model = keras.Model(inputs, L.Conv2D(2, 3, name="conv")(x))
    result = rewrite_model(model, rules=ADOPT)
    scaled = _record(result.report, "scaled")
    assert (scaled.action, scaled.rule) == ("unchanged", "adopt-padding")
    assert "not numpy.pad in any mode or amount" in scaled.reason
    # Upsampling keeps no copy of the input inside its output: not a padding either.
    assert "not numpy.pad" in _record(result.report, "upsample").reason
    assert type(result.model.get_layer("scaled")) is hw.PadThenScale
    x = _x((1, 12, 10, 3))
    assert np.array_equal(_run(result.model, x), _run(model, x))


def test_a_layer_padding_by_an_amount_that_depends_on_the_size_is_refused_by_the_probe():
    layer = hw.PadToEven()
    found = identify_padding(
        lambda x: keras.ops.convert_to_numpy(layer(x)),
        probe_inputs((None, None, None, 2), "float32"),
    )
    assert isinstance(found, NotPadding)
    assert "pads differently at different sizes" in found.reason


def test_shape_keeping_and_weighted_custom_layers_are_not_reported():
    class Shift(L.Layer):
        def call(self, x):
            return x + 1.0

    class Scale(L.Layer):
        def build(self, shape):
            self.scale = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, x):
            return tf.pad(x * self.scale, [[0, 0], [1, 1], [1, 1], [0, 0]])

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, Scale(name="scale")(Shift(name="shift")(inputs)))
    assert rewrite_model(model, rules=ADOPT).report.records == ()


# -- keras-cv's PaddedConv2D ----------------------------------------------------------------


def _padded_conv_model():
    inputs = keras.Input((15, 13, 3))
    x = hw.PaddedConv2D(6, 3, padding=1, name="down")(inputs)
    x = hw.PaddedConv2D(4, 3, padding=((0, 1), (0, 1)), strides=2, name="strided")(x)
    model = keras.Model(inputs, x)
    _randomize(model, seed=3)
    return model


def test_padded_convolutions_become_a_padding_layer_and_their_convolution():
    model = _padded_conv_model()
    result = rewrite_model(model, mode="reflect", rules=ADOPT)
    down, strided = _record(result.report, "down"), _record(result.report, "strided")
    assert (down.computed, down.pads, down.pad_layer) == ("constant", ((1, 1), (1, 1)), "down_pad")
    assert (strided.computed, strided.pads) == ("constant", ((0, 1), (0, 1)))
    new = result.model.get_layer("strided")
    assert type(new) is L.Conv2D and new.get_config()["strides"] == (2, 2)
    for old, kept in zip(model.get_layer("strided").get_weights(), new.get_weights()):
        assert np.array_equal(old, kept)
    x = _x((2, 15, 13, 3))
    assert np.array_equal(_run(result.model, x), _run(model, x))


def test_a_padded_convolution_that_computes_more_is_left_alone():
    @keras.saving.register_keras_serializable(package="adopttest")
    class PaddedConvPlusOne(hw.PaddedConv2D):
        def call(self, inputs):
            return super().call(inputs) + 1.0

    inputs = keras.Input((9, 9, 3))
    model = keras.Model(inputs, PaddedConvPlusOne(2, 3, padding=1, name="odd")(inputs))
    record = _record(rewrite_model(model, rules=ADOPT).report, "odd")
    assert record.action == "unchanged"
    assert "computes more than a padded convolution" in record.reason


# -- random hand-written layers -------------------------------------------------------------

NUMPY_MODES = ("constant", "reflect", "edge", "symmetric", "wrap")
OUR_NAME = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
            "symmetric": "symmetric", "wrap": "circular"}


@st.composite
def _hand_written(draw):
    rank = draw(st.integers(1, 3))
    sizes = [draw(st.integers(3, 6)) for _ in range(rank)]
    pads, modes = [], []
    for size in sizes:
        mode = draw(st.sampled_from(NUMPY_MODES))
        limit = size - 1 if mode == "reflect" else size
        pads.append((draw(st.integers(0, limit)), draw(st.integers(0, limit))))
        modes.append(mode)
    if all(p == (0, 0) for p in pads):
        pads[0] = (1, 0)
    value = draw(st.sampled_from([0.0, -1.0, 0.5]))
    channels_first = draw(st.booleans())
    return rank, sizes, pads, modes, value, channels_first


@settings(max_examples=25, deadline=None)
@given(case=_hand_written())
@example(case=(1, [3], [(3, 0)], ["wrap"], 0.0, False))
def test_random_hand_written_padding_is_adopted_exactly(case):
    rank, sizes, pads, modes, value, channels_first = case
    shape = (2, *sizes) if channels_first else (*sizes, 2)
    layer = hw.AnyPadding(pads, modes, value=value, channels_first=channels_first, name="pad")
    inputs = keras.Input(shape)
    model = keras.Model(inputs, layer(inputs))
    result = rewrite_model(model, mode="constant", rules=ADOPT)
    record = _record(result.report, "pad")
    assert record.action == "rewritten"
    # A padding of axis 2 of a 4D tensor is H (channels_last) or W (channels_first):
    # compare pads and modes per tensor axis.
    data_format = result.model.get_layer("pad").get_config()["data_format"]
    offset = 1 if data_format == "channels_last" else 2
    names = {1: ("T",), 2: ("H", "W"), 3: ("D", "H", "W")}[rank]
    per_name = dict(part.split("=") for part in record.computed.split(",")) if (
        "=" in record.computed) else dict.fromkeys(names, record.computed)
    found = {offset + i: (tuple(p), per_name[names[i]]) for i, p in enumerate(record.pads)
             if tuple(p) != (0, 0)}
    first = 2 if channels_first else 1
    made = {first + i: (p, m) for i, (p, m) in enumerate(zip(pads, modes)) if p != (0, 0)}
    assert set(found) == set(made)
    for axis, (pair, mode) in made.items():
        got = found[axis][0]
        if mode == "wrap" and sum(got) == sum(pair):
            # Circular pads whose split differs by a multiple of the axis size are one
            # function: (3, 0) and (0, 3) on [a, b, c] both give [a, b, c, a, b, c].
            assert (got[0] - pair[0]) % shape[axis - 1] == 0, (got, pair)
        else:
            assert got == pair
    for axis, (pair, mode) in made.items():
        if mode in ("symmetric", "edge") and max(pair) <= 1:
            assert found[axis][1] in ("symmetric", "replicate")  # one function for pads of 1
        else:
            assert found[axis][1] == OUR_NAME[mode]
    x = _x((3, *shape), seed=sum(sizes))
    assert np.array_equal(_run(result.model, x), _run(model, x))


# -- files: the adopted model loads without the original code, exports native Pads ---------


def _file_model():
    """CycleGAN's generator (its ReflectionPadding2D) with a blog layer before its output."""
    generator = corpus.build_cyclegan_generator(size=32, filters=8, residual_blocks=1)
    x = hw.BlogReplicationPadding2D((2, 1), name="blog_pad")(generator.output)
    x = hw.PaddedConv2D(3, 3, padding=1, name="padded_conv")(x)
    return keras.Model(generator.input, x, name="generator_plus")


def test_cli_adopts_and_the_file_loads_without_the_layers_code(tmp_path):
    model = _file_model()
    source = tmp_path / "model.keras"
    model.save(source)
    x = _x((1, 32, 32, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", _run(model, x))
    out, onnx_path = tmp_path / "adopted.keras", tmp_path / "adopted.onnx"
    result = run(source, "--import", "handwritten", "--rule", "adopt-padding", "--mode",
                 "constant", "-o", out, "--onnx", onnx_path, "--opset", "19", "--verify", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    layers = report["rewrite"]["layers"] if "rewrite" in report else report["layers"]
    adopted = {r["name"]: r["computed"] for r in layers if r["computed"]}
    assert adopted == {
        **{r["name"]: "reflect" for r in layers if r["class_name"] == "ReflectionPadding2D"},
        "blog_pad": "symmetric", "padded_conv": "constant",
    }
    assert len(adopted) == 6  # 4 in the generator (1 residual block), the blog's, keras-cv's
    # A fresh process with neither the tests' corpus nor handwritten on its path.
    code = textwrap.dedent(f"""
        import numpy as np, keras
        import padrewrite
        model = keras.saving.load_model({str(out)!r})
        classes = {{type(l).__module__.split(".")[0] for l in model.layers}}
        assert classes <= {{"keras", "padrewrite"}}, classes
        got = np.asarray(model(np.load({str(tmp_path / "x.npy")!r})))
        want = np.load({str(tmp_path / "want.npy")!r})
        print(float(np.max(np.abs(got - want))))
    """)
    process = fresh_python(code, tests_importable=False, cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-2000:]
    assert float(process.stdout.strip().splitlines()[-1]) <= 1e-6
    pads = [n for n in onnx.load(onnx_path).graph.node if n.op_type == "Pad"]
    modes = sorted({a.s.decode() for n in pads for a in n.attribute if a.name == "mode"} | (
        {"constant"} if any(not n.attribute or all(a.name != "mode" for a in n.attribute)
                            for n in pads) else set()))
    assert "reflect" in modes and "constant" in modes


def _tf_keras_lambda_h5(path):
    """A tf.keras 2 `.h5` file: Lambda(tf.pad REFLECT), then a 'same' conv."""
    import tf_keras

    inputs = tf_keras.Input((12, 10, 3))
    x = tf_keras.layers.Lambda(
        lambda t: tf.pad(t, [[0, 0], [2, 2], [1, 1], [0, 0]], "REFLECT"), name="pad")(inputs)
    model = tf_keras.Model(inputs, tf_keras.layers.Conv2D(4, 3, padding="same", name="conv")(x))
    model.save(path)
    return lambda x: np.asarray(model(x))


def _keras_lambda_file(path):
    model = _single(_reflect_lambda())
    model.save(path)
    return lambda x: _run(model, x)


@pytest.mark.parametrize("write", [_keras_lambda_file, _tf_keras_lambda_h5],
                         ids=["keras", "tf_keras_h5"])
def test_cli_lambda_tf_pad_is_adopted_with_unsafe_and_then_loads_safely(write, tmp_path):
    source = tmp_path / ("lambda.h5" if write is _tf_keras_lambda_h5 else "lambda.keras")
    original = write(source)
    out = tmp_path / "adopted.keras"
    refused = run(source, "--rule", "adopt-padding", "-o", out)
    assert refused.exit_code == 2
    assert "pass --unsafe" in refused.output
    result = run(source, "--unsafe", "--rule", "adopt-padding", "--mode", "constant", "-o", out,
                 "--verify")
    assert result.exit_code == 0, result.output
    assert "computes reflect padding [[2, 2], [1, 1]]" in result.output
    reloaded = keras.saving.load_model(out)  # safe mode: no Lambda is left
    x = _x((1, 12, 10, 3))
    assert np.allclose(_run(reloaded, x), original(x), rtol=1e-6, atol=1e-6)


def test_cli_a_kept_lambda_using_tf_loads_runs_and_reloads_with_unsafe(tmp_path):
    """Keras 3 gives a loaded lambda no `tf`; with --unsafe it gets the names tf.keras 2 gave."""
    source = tmp_path / "lambda.h5"
    original = _tf_keras_lambda_h5(source)
    out = tmp_path / "out.keras"
    result = run(source, "--unsafe", "--mode", "constant", "-o", out, "--verify")
    assert result.exit_code == 0, result.output
    from padrewrite.keras_side.io import load_model

    reloaded = load_model(out, safe_mode=False)
    assert type(reloaded.get_layer("pad")) is L.Lambda
    x = _x((1, 12, 10, 3))
    assert np.allclose(_run(reloaded, x), original(x), rtol=1e-6, atol=1e-6)


def test_mixed_precision_hand_written_layer_is_adopted_exactly():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = _single(hw.BlogReflectionPadding2D((1, 2), name="pad"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    result = rewrite_model(model, rules=ADOPT)
    assert _record(result.report, "pad").computed == "reflect"
    assert result.model.get_layer("pad").dtype_policy.name == "mixed_float16"
    x = _x((2, 12, 10, 3))
    assert np.array_equal(_run(result.model, x), _run(model, x))


def test_a_shared_hand_written_layer_stays_one_shared_padding_layer():
    pad = hw.BlogReflectionPadding2D((1, 1), name="pad")
    inputs = keras.Input((9, 9, 3))
    a = L.Conv2D(3, 3, name="a")(pad(inputs))
    b = L.Conv2D(3, 3, name="b")(pad(a))
    model = keras.Model(inputs, b)
    result = rewrite_model(model, rules=ADOPT)
    records = [r for r in result.report.records if r.name == "pad"]
    assert [r.call_index for r in records] == [0, 1]
    assert len(result.model.get_layer("pad")._inbound_nodes) == 2
    x = _x((1, 9, 9, 3))
    assert np.array_equal(_run(result.model, x), _run(model, x))


def test_a_hand_written_layer_in_a_nested_model_is_adopted_by_path():
    inner_in = keras.Input((10, 10, 3))
    inner = keras.Model(
        inner_in, L.Conv2D(2, 3, name="c")(corpus.ReflectionPadding2D(name="pad")(inner_in)),
        name="inner")
    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, inner(inputs))
    result = rewrite_model(model, rules=ADOPT)
    assert _record(result.report, "pad").path == "inner/pad"
    x = _x((1, 10, 10, 3))
    assert np.array_equal(_run(result.model, x), _run(model, x))


def test_selection_globs_apply_to_adopted_layers_only_once_they_are_found():
    inputs = keras.Input((12, 10, 3))
    x = hw.BlogReflectionPadding2D((1, 1), name="pad")(inputs)
    x = hw.PadThenScale(name="scaled")(x)
    model = keras.Model(inputs, L.Conv2D(2, 3, padding="same", name="conv")(x))
    excluded = rewrite_model(model, rules=ADOPT, exclude=("pad",)).report
    record = _record(excluded, "pad")
    assert (record.action, record.computed) == ("skipped", "reflect")
    assert "excluded by pattern 'pad'" in record.reason
    # Only layers found to pad are subject to the globs; the others are left as they were.
    included = rewrite_model(model, rules=ADOPT, include=("conv",)).report
    assert _record(included, "scaled").reason.startswith("not adopted")
    assert _record(included, "pad").action == "skipped"


# -- hand-written padding held by custom layers ---------------------------------------------


@keras.saving.register_keras_serializable(package="adopttest")
class ResnetBlock(L.Layer):
    """keras-cv Stable Diffusion's ResnetBlock (GroupNorm, swish, PaddedConv2D, twice), plus
    a CycleGAN-style reflection pad and 'valid' conv on the shortcut."""

    def __init__(self, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.norm1 = L.GroupNormalization(groups=4, epsilon=1e-5)
        self.conv1 = hw.PaddedConv2D(output_dim, 3, padding=1)
        self.norm2 = L.GroupNormalization(groups=4, epsilon=1e-5)
        self.conv2 = hw.PaddedConv2D(output_dim, 3, padding=1)
        self.pad = corpus.ReflectionPadding2D((1, 1))
        self.shortcut = L.Conv2D(output_dim, 3)

    def call(self, x):
        h = self.conv1(keras.activations.swish(self.norm1(x)))
        h = self.conv2(keras.activations.swish(self.norm2(h)))
        return h + self.shortcut(self.pad(x))

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim}


def _resnet_block_model():
    inputs = keras.Input((16, 16, 8))
    model = keras.Model(inputs, ResnetBlock(8, name="block")(inputs))
    _randomize(model, seed=5)
    return model


def test_padding_held_by_a_custom_layer_is_adopted_in_place():
    model = _resnet_block_model()
    result = rewrite_model(model, mode="constant", rules=ADOPT)
    found = {r.path: (r.action, r.computed, r.pads) for r in result.report.records
             if r.rule == "adopt-padding"}
    assert found == {
        "block/conv1": ("rewritten", "constant", ((1, 1), (1, 1))),
        "block/conv2": ("rewritten", "constant", ((1, 1), (1, 1))),
        "block/pad": ("rewritten", "reflect", ((1, 1), (1, 1))),
    }
    block = result.model.get_layer("block").layer
    assert type(block.conv1).__name__ == "PaddedConv2D" and type(block.conv1) is not hw.PaddedConv2D
    assert type(block.pad).__module__ == "padrewrite.layers"
    assert [tuple(w.shape) for w in result.model.weights] == [tuple(w.shape) for w in model.weights]
    x = _x((2, 16, 16, 8))
    assert np.array_equal(_run(result.model, x), _run(model, x))
    without = rewrite_model(model, mode="constant").report
    assert [r.path for r in without.records if r.rule == "adopt-padding"] == []


def test_held_adopted_layers_switch_mode_save_load_and_export(tmp_path):
    model = _resnet_block_model()
    result = rewrite_model(model, mode="constant", rules=ADOPT, mode_for={"block/*": "circular"})
    modes = {r.path: (r.computed, r.mode) for r in result.report.rewritten}
    assert modes == {"block/conv1": ("constant", "circular"),
                     "block/conv2": ("constant", "circular"),
                     "block/pad": ("reflect", "circular")}
    x = _x((1, 16, 16, 8))
    want = _run(result.model, x)
    assert np.abs(want - _run(model, x)).max() > 1e-3
    path = tmp_path / "block.keras"
    result.model.save(path)
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import numpy as np, keras, padrewrite
        import test_adopt_padding  # the holder's class is the user's code
        model = keras.saving.load_model({str(path)!r})
        block = model.get_layer("block").layer
        print(type(block.conv1).__module__, type(block.pad).__module__, block.pad.mode)
        np.save({str(tmp_path / "y.npy")!r}, np.asarray(model(np.load({str(tmp_path / "x.npy")!r}))))
    """)
    process = fresh_python(code)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip().splitlines()[-1] == "padrewrite.padded padrewrite.layers circular"
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    from padrewrite import check_parity, export_onnx

    export_onnx(result.model, tmp_path / "block.onnx", opset=19)
    pads = [n for n in onnx.load(tmp_path / "block.onnx").graph.node if n.op_type == "Pad"]
    assert len(pads) == 3
    assert {next(a.s for a in n.attribute if a.name == "mode") for n in pads} == {b"wrap"}
    assert check_parity(result.model, tmp_path / "block.onnx")


def test_cli_a_lambda_using_names_it_is_not_given_says_what_to_do(tmp_path):
    inputs = keras.Input((12, 10, 3))
    # `keras_ops` is a name of this module: a saved lambda does not see it.
    x = L.Lambda(lambda t: keras_ops.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect"))(
        inputs)
    source = tmp_path / "lambda.keras"
    keras.Model(inputs, L.Conv2D(2, 3)(x)).save(source)
    result = run(source, "--unsafe", "--rule", "adopt-padding", "-o", tmp_path / "o.keras")
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "a Lambda layer cannot be rebuilt" in line
    assert "could not automatically infer the shape of the Lambda's output" in line
    assert "tf, np and keras only" in line
    assert not (tmp_path / "o.keras").exists()
