"""Hand-written cases for the rewrite engine: every layer kind and graph shape."""

import json

import keras
import numpy as np
import pytest
from kernels import run_model

from padrewrite.arithmetic import same_pads
from padrewrite.layers import Padding2D, SamePadding1D, SamePadding2D
from padrewrite.rewrite import RewriteError, rewrite_model
from padrewrite.rules import RULE_NAMES

L = keras.layers


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False):
        weights = layer.get_weights()
        if weights:
            layer.set_weights(
                [rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if "variance" in v.path
                 else rng.standard_normal(w.shape).astype(w.dtype)
                 for w, v in zip(weights, layer.weights)]
            )
    return model


def _max_abs(model_a, model_b, inputs):
    outputs_a = keras.tree.flatten(run_model(model_a, inputs))
    outputs_b = keras.tree.flatten(run_model(model_b, inputs))
    assert len(outputs_a) == len(outputs_b)
    return max(
        float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        for a, b in zip(outputs_a, outputs_b)
    )


def _data(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


LAYER_CASES = [
    ("conv1d", (13, 3), lambda: L.Conv1D(4, 4, padding="same")),
    ("conv1d-causal", (13, 3), lambda: L.Conv1D(4, 3, dilation_rate=2, padding="causal")),
    ("conv1d-causal-stride", (13, 3), lambda: L.Conv1D(4, 3, strides=2, padding="causal")),
    ("conv2d-even", (10, 11, 3), lambda: L.Conv2D(4, (4, 2), padding="same")),
    ("conv2d-stride2", (10, 11, 3), lambda: L.Conv2D(4, 3, strides=2, padding="same")),
    ("conv2d-stride3", (10, 11, 3), lambda: L.Conv2D(4, 5, strides=3, padding="same")),
    ("conv2d-dilated", (12, 12, 3), lambda: L.Conv2D(4, 4, dilation_rate=3, padding="same")),
    ("conv2d-grouped", (9, 9, 4), lambda: L.Conv2D(6, 3, groups=2, padding="same")),
    ("conv2d-7x7-s2", (32, 31, 3), lambda: L.Conv2D(4, 7, strides=2, padding="same")),
    ("conv3d", (6, 7, 5, 2), lambda: L.Conv3D(3, (3, 2, 3), strides=(1, 2, 1), padding="same")),
    ("depthwise1d", (13, 3), lambda: L.DepthwiseConv1D(4, strides=2, padding="same")),
    ("depthwise2d", (10, 11, 3),
     lambda: L.DepthwiseConv2D(3, strides=2, dilation_rate=2, padding="same")),
    ("separable1d", (13, 3), lambda: L.SeparableConv1D(5, 3, padding="same")),
    ("separable2d", (10, 11, 3), lambda: L.SeparableConv2D(5, (2, 3), strides=2, padding="same")),
    ("conv2d-channels-first", (3, 10, 11),
     lambda: L.Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")),
    ("conv1d-channels-first", (3, 13),
     lambda: L.Conv1D(4, 4, padding="same", data_format="channels_first")),
]


@pytest.mark.parametrize("name,shape,make", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_every_conv_kind_is_exact_with_zero_padding(name, shape, make):
    inputs = keras.Input(shape, name="x")
    layer = make()
    model = _randomize(keras.Model(inputs, layer(inputs)))
    result = rewrite_model(model, mode="constant")
    (record,) = result.report.records
    assert record.action == "rewritten"
    new_layer = result.model.get_layer(layer.name)
    assert type(new_layer) is type(layer)
    assert new_layer.get_config()["padding"] == "valid"
    pad_layer = result.model.get_layer(f"{layer.name}_pad")
    assert pad_layer.mode == "constant"
    assert _max_abs(model, result.model, _data((2, *shape))) == 0.0


@pytest.mark.parametrize("mode", ["reflect", "replicate", "symmetric", "circular"])
def test_other_modes_keep_shapes_and_interior(mode):
    inputs = keras.Input((12, 12, 2))
    outputs = L.Conv2D(3, 3, padding="same", name="conv")(inputs)
    model = _randomize(keras.Model(inputs, outputs))
    rewritten = rewrite_model(model, mode=mode).model
    x = _data((2, 12, 12, 2))
    a, b = np.asarray(model(x)), np.asarray(rewritten(x))
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1])
    assert not np.array_equal(a[:, 0], b[:, 0])


def test_pads_follow_tensorflow_same_arithmetic_per_axis():
    inputs = keras.Input((10, 11, 3))
    outputs = L.Conv2D(2, (4, 3), strides=(2, 3), padding="same", name="conv")(inputs)
    result = rewrite_model(keras.Model(inputs, outputs), mode="reflect")
    (record,) = result.report.records
    assert record.pads == (same_pads(10, 4, 2, 1), same_pads(11, 3, 3, 1))
    assert result.model.get_layer("conv_pad").padding == record.pads


def test_sequential_model_stays_sequential():
    model = _randomize(
        keras.Sequential(
            [keras.Input((12, 12, 3)), L.Conv2D(4, 3, padding="same", name="a"),
             L.ReLU(name="relu"), L.Conv2D(4, 3, strides=2, padding="same", name="b")],
            name="seq",
        )
    )
    result = rewrite_model(model, mode="constant")
    assert isinstance(result.model, keras.Sequential)
    assert [layer.name for layer in result.model.layers] == ["a_pad", "a", "relu", "b_pad", "b"]
    assert _max_abs(model, result.model, _data((2, 12, 12, 3))) == 0.0


def _nested_model():
    inner_seq = keras.Sequential(
        [keras.Input((None, None, 4)), L.Conv2D(4, 3, padding="same", name="deep_conv")],
        name="inner_seq",
    )
    mid_in = keras.Input((None, None, 4))
    mid = keras.Model(mid_in, inner_seq(L.DepthwiseConv2D(3, padding="same", name="mid_dw")(mid_in)),
                      name="middle")
    outer_in = keras.Input((16, 16, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="stem")(outer_in)
    x = mid(x)
    outer = keras.Model(outer_in, x, name="outer")
    return _randomize(
        keras.Sequential([keras.Input((16, 16, 3)), outer, L.Conv2D(2, 3, padding="same", name="head")],
                         name="top")
    )


def test_nested_models_to_any_depth():
    model = _nested_model()
    result = rewrite_model(model, mode="constant")
    paths = [r.path for r in result.report.rewritten]
    assert paths == ["outer/stem", "outer/middle/mid_dw", "outer/middle/inner_seq/deep_conv", "head"]
    inner = result.model.get_layer("outer").get_layer("middle").get_layer("inner_seq")
    assert isinstance(inner, keras.Sequential)
    assert [layer.name for layer in inner.layers] == ["deep_conv_pad", "deep_conv"]
    assert _max_abs(model, result.model, _data((2, 16, 16, 3))) == 0.0


def test_backbone_application_used_as_layer():
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35
    )
    inputs = keras.Input((32, 32, 3))
    features = backbone(inputs)
    outputs = L.Conv2D(3, 3, padding="same", name="head")(features)
    model = _randomize(keras.Model(inputs, outputs))
    result = rewrite_model(model, mode="constant")
    assert result.model.count_params() == model.count_params()
    assert any(r.path.startswith(f"{backbone.name}/") for r in result.report.rewritten)
    # Bit-exact with oneDNN; TensorFlow's other kernels sum a 'same' convolution in
    # another order than the padded one: a tolerance relative to the output scale.
    data = _data((2, 32, 32, 3))
    scale = float(np.max(np.abs(run_model(model, data))))
    assert _max_abs(model, result.model, data) <= 1e-6 * max(1.0, scale)


def test_shared_layer_gets_a_pad_per_call_and_keeps_shared_weights():
    inputs = keras.Input((8, 8, 3))
    shared = L.Conv2D(3, 3, padding="same", name="shared")
    outputs = shared(shared(inputs))
    model = _randomize(keras.Model(inputs, outputs))
    result = rewrite_model(model, mode="reflect")
    names = [layer.name for layer in result.model.layers]
    assert names.count("shared") == 1 and "shared_pad" in names and "shared_pad_1" in names
    assert [r.call_index for r in result.report.records] == [0, 1]
    assert len(result.model.get_layer("shared")._inbound_nodes) == 2
    assert result.model.count_params() == model.count_params()


def test_multi_input_multi_output_with_dict_outputs():
    image = keras.Input((9, 9, 3), name="image")
    signal = keras.Input((20, 2), name="signal")
    a = L.Conv2D(2, 3, padding="same", name="img_conv")(image)
    b = L.Conv1D(2, 3, padding="causal", name="sig_conv")(signal)
    model = _randomize(keras.Model([image, signal], {"pic": a, "wave": b}))
    result = rewrite_model(model, mode="constant")
    assert isinstance(result.model.output, dict) and set(result.model.output) == {"pic", "wave"}
    assert [t.name for t in result.model.inputs] == ["image", "signal"]
    data = [_data((2, 9, 9, 3)), _data((2, 20, 2))]
    got, want = result.model(data), model(data)
    for key in ("pic", "wave"):
        np.testing.assert_array_equal(np.asarray(got[key]), np.asarray(want[key]))


def test_weights_statistics_trainable_and_dtype_policy_are_kept():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", name="conv", trainable=False)(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Conv2D(2, 3, padding="same", name="half", dtype="mixed_float16")(x)
    model = _randomize(keras.Model(inputs, x))
    result = rewrite_model(model, mode="replicate")
    for name in ("conv", "bn", "half"):
        old, new = model.get_layer(name), result.model.get_layer(name)
        for w_old, w_new in zip(old.get_weights(), new.get_weights()):
            np.testing.assert_array_equal(w_old, w_new)
    assert result.model.get_layer("conv").trainable is False
    assert result.model.get_layer("half").dtype_policy.name == "mixed_float16"
    assert result.model.get_layer("half_pad").dtype_policy.name == "mixed_float16"
    assert result.model.output.dtype == model.output.dtype


def test_input_model_is_left_untouched():
    inputs = keras.Input((8, 8, 3))
    model = _randomize(keras.Model(inputs, L.Conv2D(2, 3, padding="same", name="conv")(inputs)))
    before = model(_data((1, 8, 8, 3)))
    weights = model.get_weights()
    rewrite_model(model, mode="reflect")
    assert model.get_layer("conv").padding == "same"
    assert len(model.layers) == 2
    np.testing.assert_array_equal(model(_data((1, 8, 8, 3))), before)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_unknown_size_with_stride_uses_runtime_pads_exactly():
    inputs = keras.Input((None, None, 3))
    x = L.Conv2D(4, 3, strides=2, padding="same", name="down")(inputs)
    x = L.Conv2D(4, 3, padding="same", name="keep")(x)
    model = _randomize(keras.Model(inputs, x))
    result = rewrite_model(model, mode="constant")
    down, keep = result.report.records
    assert down.pads == (None, None) and isinstance(result.model.get_layer("down_pad"), SamePadding2D)
    assert keep.pads == ((1, 1), (1, 1)) and isinstance(result.model.get_layer("keep_pad"), Padding2D)
    for size in (10, 11):
        assert _max_abs(model, result.model, _data((1, size, size + 3, 3))) == 0.0


def test_unknown_length_causal_and_strided_1d():
    inputs = keras.Input((None, 2))
    x = L.Conv1D(3, 4, strides=3, padding="same", name="s3")(inputs)
    model = _randomize(keras.Model(inputs, x))
    result = rewrite_model(model, mode="constant")
    assert isinstance(result.model.get_layer("s3_pad"), SamePadding1D)
    for length in (9, 10, 11):
        assert _max_abs(model, result.model, _data((1, length, 2))) == 0.0


def test_left_alone_with_reasons():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="valid", name="valid")(inputs)
    x = L.Conv2D(4, 1, padding="same", name="pointwise")(x)
    x = L.Conv2DTranspose(2, 3, strides=2, padding="same", name="up")(x)
    result = rewrite_model(keras.Model(inputs, x), mode="reflect")
    by_name = {r.name: r for r in result.report.records}
    assert (by_name["valid"].action, by_name["valid"].reason) == ("unchanged", "padding='valid'")
    assert by_name["pointwise"].action == "unchanged"
    assert "pad 0" in by_name["pointwise"].reason
    assert by_name["up"].action == "skipped" and "transposed" in by_name["up"].reason
    assert result.model.get_layer("up").padding == "same"
    assert result.report.summary() == "rewrote 0 of 3 convolutions (reflect); 1 skipped"


def test_include_exclude_and_rule_selection():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(2, 3, padding="same", name="enc_a")(inputs)
    x = L.Conv2D(2, 3, padding="same", name="enc_b")(x)
    x = L.Conv2D(2, 3, padding="same", name="dec_a")(x)
    model = keras.Model(inputs, x)

    def actions(**kwargs):
        return {r.name: r.action for r in rewrite_model(model, "reflect", **kwargs).report.records}

    assert actions(include=("enc_*",), exclude=("enc_b",)) == {
        "enc_a": "rewritten", "enc_b": "skipped", "dec_a": "skipped"}
    assert set(actions(skip_rules=("conv-same",)).values()) == {"skipped"}
    with pytest.raises(ValueError, match=r"`rules` must name known rules .*Received: rules=\['nope'\]"):
        rewrite_model(model, rules=("nope",))


def test_zero_padding_rule_is_opt_in():
    inputs = keras.Input((16, 16, 3))
    x = L.ZeroPadding2D(((1, 2), (0, 1)), name="zp")(inputs)
    x = L.Conv2D(4, 3, strides=2, padding="valid", name="conv")(x)
    y = L.ZeroPadding2D(1, name="zp_feeds_add")(x)
    y = L.Add()([y, y])
    model = _randomize(keras.Model(inputs, y))
    plain = rewrite_model(model, mode="reflect").report
    assert {r.name: r.action for r in plain.records if r.kind == "padding"} == {
        "zp": "skipped", "zp_feeds_add": "skipped"}
    assert "opt-in" in next(r for r in plain.records if r.name == "zp").reason
    result = rewrite_model(model, mode="constant", rules=("zero-padding",))
    records = {r.name: r for r in result.report.records}
    assert records["zp"].action == "rewritten" and records["zp"].pads == ((1, 2), (0, 1))
    assert "consumer" in records["zp_feeds_add"].reason
    assert isinstance(result.model.get_layer("zp"), Padding2D)
    assert _max_abs(model, result.model, _data((2, 16, 16, 3))) == 0.0
    reflect = rewrite_model(model, mode="reflect", rules=("zero-padding",)).model
    assert reflect.get_layer("zp").mode == "reflect"


def test_pooling_rule_pads_explicitly_in_the_mode():
    inputs = keras.Input((7, 7, 2))
    outputs = L.MaxPooling2D(3, strides=2, padding="same", name="pool")(inputs)
    model = keras.Model(inputs, outputs)
    assert rewrite_model(model, "reflect").report.records[0].action == "skipped"
    result = rewrite_model(model, mode="reflect", rules=("pooling-same",))
    x = _data((1, 7, 7, 2))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    expected = np.asarray(keras.ops.max_pool(padded, 3, strides=2, padding="valid"))
    np.testing.assert_array_equal(np.asarray(result.model(x)), expected)


@keras.saving.register_keras_serializable(package="padrewrite_tests")
class Scale(L.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.factor + self.offset

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class ConvBlock(L.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(2, 3, padding="same")

    def call(self, x):
        return self.conv(x)


def test_custom_layers_are_kept_and_hidden_convs_reported():
    inputs = keras.Input((8, 8, 3))
    x = Scale(3.0, name="scale")(inputs)
    x = ConvBlock(name="block")(x)
    model = _randomize(keras.Model(inputs, x))
    result = rewrite_model(model, mode="reflect")
    scale = result.model.get_layer("scale")
    assert type(scale) is Scale and scale.get_config() == model.get_layer("scale").get_config()
    np.testing.assert_array_equal(scale.get_weights()[0], model.get_layer("scale").get_weights()[0])
    (record,) = result.report.records
    # The convolution held by the custom layer is reached through its attribute.
    assert (record.path, record.action) == ("block/conv", "rewritten")


def test_subclassed_model_is_rewritten_through_its_attributes():
    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = L.Conv2D(2, 3, padding="same")

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(np.zeros((1, 8, 8, 3), "float32"))
    result = rewrite_model(net, "constant")
    assert [r.path for r in result.report.rewritten] == ["conv"]
    x = _data((2, 8, 8, 3))
    np.testing.assert_array_equal(np.asarray(result.model(x)), np.asarray(net(x)))
    with pytest.raises(RewriteError, match="is not built"):
        rewrite_model(Net())

    class Fixed(keras.Model):  # its config cannot rebuild it (no **kwargs)
        def __init__(self):
            super().__init__()
            self.conv = L.Conv2D(2, 3, padding="same")

        def call(self, x):
            return self.conv(x)

    fixed = Fixed()
    fixed(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(RewriteError, match="cannot be rebuilt from its config .*complete get_config"):
        rewrite_model(fixed)


def test_reflect_pad_larger_than_input_is_refused():
    inputs = keras.Input((2, 2, 3))
    model = keras.Model(inputs, L.Conv2D(2, 5, padding="same", name="big")(inputs))
    with pytest.raises(RewriteError, match=r"Layer 'big' \(Conv2D\) needs pads \(2, 2\) on spatial "
                                           r"axis 0, whose size is 2; reflect padding must be less"
                                           r".* Use `fallback_mode` 'replicate', 'constant' or "
                                           r"'skip' \(--fallback-mode\)"):
        rewrite_model(model, mode="reflect")
    assert rewrite_model(model, mode="symmetric").report.records[0].action == "rewritten"


def test_constant_value_and_mode_validation():
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, L.Conv2D(1, 3, padding="same", name="c")(inputs))
    with pytest.raises(ValueError, match="`mode` must be one of .*Received: mode='mirror'"):
        rewrite_model(model, mode="mirror")
    with pytest.raises(ValueError, match="only used with mode='constant'"):
        rewrite_model(model, mode="reflect", constant_value=1.0)
    result = rewrite_model(model, mode="constant", constant_value=2.5)
    assert result.model.get_layer("c_pad").constant_value == 2.5
    assert result.report.summary() == "rewrote 1 of 1 convolutions (constant 2.5); 0 skipped"


def test_report_is_json_ready_and_rule_names_are_stable():
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, L.Conv1D(2, 3, strides=2, padding="same", name="c")(inputs))
    data = rewrite_model(model, mode="edge").report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["mode"] == "replicate"
    assert data["layers"][0]["pads"] == [None]
    assert data["layers"][0]["pad_layer"] == "c_pad"
    assert RULE_NAMES == (
        "conv-same", "conv-causal", "conv-transpose", "zero-padding", "pooling-same",
        "adopt-padding",
    )


def test_rewritten_model_trains():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, L.Conv2D(2, 3, padding="same", name="c")(inputs))
    rewritten = rewrite_model(model, mode="reflect").model
    rewritten.compile(optimizer="sgd", loss="mse")
    before = rewritten.get_layer("c").get_weights()[0].copy()
    rewritten.fit(_data((4, 8, 8, 3)), _data((4, 8, 8, 2)), epochs=1, verbose=0)
    assert not np.array_equal(before, rewritten.get_layer("c").get_weights()[0])


def test_deep_models_beyond_the_default_recursion_limit():
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        inputs = keras.Input((6, 6, 2))
        x = L.Conv2D(2, 3, padding="same", name="first")(inputs)
        for index in range(1200):
            x = L.Activation("linear", name=f"act{index}")(x)
        x = L.Conv2D(2, 3, padding="same", name="last")(x)
        model = keras.Model(inputs, x)
    finally:
        sys.setrecursionlimit(limit)
    result = rewrite_model(model, mode="constant")
    assert sys.getrecursionlimit() == limit
    assert len(result.report.rewritten) == 2
    assert _max_abs(model, result.model, _data((1, 6, 6, 2))) == 0.0


def test_a_shared_layer_refused_on_one_call_is_reported_not_mixed():
    """One call of a shared conv fits reflect, the other's map is too small."""
    inputs = keras.Input((9, 8, 3))
    shared = L.Conv2D(3, 4, padding="same", name="shared")
    x = shared(inputs)
    small = L.AveragePooling2D(3, strides=3, name="pool")(x)
    outputs = shared(small)
    model = keras.Model(inputs, [x, outputs])
    with pytest.raises(RewriteError, match="reflect padding must be less than the axis size"):
        rewrite_model(model, "reflect")
    result = rewrite_model(model, "reflect", fallback_mode="replicate")
    actions = [(r.name, r.call_index, r.action) for r in result.report.records]
    assert actions == [("shared", 0, "rewritten"), ("shared", 1, "fallback")]


def test_a_holder_that_cannot_be_rebuilt_is_left_as_it_is_and_reported():
    class Holder(L.Layer):  # its config forgets `width`: from_config fails
        def __init__(self, width, **kwargs):
            super().__init__(**kwargs)
            self.conv = L.Conv2D(width, 3, padding="same", name="inner")

        def get_config(self):
            return super().get_config()

        def call(self, x):
            return self.conv(x)

    inputs = keras.Input((8, 8, 3))
    x = Holder(np.int64(4), name="holder")(inputs)
    outputs = L.Conv2D(2, 3, padding="same", name="head")(x)
    model = keras.Model(inputs, outputs)
    result = rewrite_model(model, "reflect")
    records = {r.path: r for r in result.report.records}
    assert records["head"].action == "rewritten"
    inner = records["holder/conv"]
    assert inner.action == "skipped" and inner.mode is None
    assert inner.reason.startswith("held by 'holder' (Holder), which cannot be rebuilt from its")
    assert "missing 1 required positional argument: 'width'" in inner.reason
    assert result.model.get_layer("holder") is model.get_layer("holder")  # kept, shared
    assert [note.change for note in result.report.notes] == ["layer-shared"]
