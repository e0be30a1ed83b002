"""Padding choices through the library: one mode per axis, per-layer modes, causal-safe
rewrites and the fallback for small maps (rewrite_model, export_onnx, check_parity,
rewrite_file). numpy.pad applied axis by axis is the reference."""

import re

import corpus
import keras
import numpy as np
import onnx
import pytest

import padrewrite
from padrewrite.errors import InputError
from padrewrite.layers import _BasePadding
from padrewrite.modes import NUMPY_NAMES, format_mode, parse_mode
from padrewrite.onnx.pads import pad_mode
from padrewrite.rewrite import RewriteError, rewrite_model

L = keras.layers
FORBIDDEN = {"Gather", "GatherElements", "GatherND", "Compress", "ScatterElements", "ScatterND"}


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False):
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.standard_normal(w.shape).astype(w.dtype) for w in weights])
    return model


def _data(model, seed=1, batch=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *model.input_shape[1:])).astype("float32")


def numpy_pad_per_axis(x, pads, modes, data_format, constant_value):
    first = 2 if data_format == "channels_first" else 1
    for axis, pair, mode in zip(range(first, first + len(pads)), pads, modes):
        width = [(0, 0)] * x.ndim
        width[axis] = tuple(pair)
        kwargs = {"constant_values": constant_value} if mode == "constant" else {}
        x = np.pad(x, width, mode=NUMPY_NAMES[mode], **kwargs)
    return x


def assert_pads_match_numpy(model, x):
    """Every padding layer's output equals numpy.pad, axis by axis, of the input it receives."""
    pad_layers = [layer for layer in model.layers if isinstance(layer, _BasePadding)]
    assert pad_layers
    probe = keras.Model(
        model.input, [t for layer in pad_layers for t in (layer.input, layer.output)]
    )
    outputs = probe(x)
    for layer, seen, padded in zip(pad_layers, outputs[::2], outputs[1::2]):
        seen = np.asarray(seen)
        pads = layer._static_pads(seen.shape)
        expected = numpy_pad_per_axis(
            seen, pads, layer.axis_modes, layer.data_format, layer.constant_value
        )
        np.testing.assert_array_equal(np.asarray(padded), expected)
    return pad_layers


def _model_2d():
    inputs = keras.Input((8, 10, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = L.DepthwiseConv2D((5, 3), padding="same", name="dw")(x)
    x = L.Conv2D(2, 3, strides=2, padding="same", name="c2")(x)
    return keras.Model(inputs, x, name="tiles")


def _model_1d():
    inputs = keras.Input((12, 3), name="signal")
    x = L.Conv1D(4, 3, padding="same", name="c1")(inputs)
    x = L.Conv1D(2, 5, dilation_rate=2, padding="same", name="c2")(x)
    return keras.Model(inputs, x, name="ring")


def _model_3d():
    inputs = keras.Input((4, 6, 6, 2), name="volume")
    x = L.Conv3D(3, 3, padding="same", name="c1")(inputs)
    x = L.Conv3D(2, (1, 3, 5), padding="same", name="c2")(x)  # no pad on D
    return keras.Model(inputs, x, name="volume_net")


PER_AXIS_CASES = [
    # builder, mode, constant value, the ONNX Pads in graph order: one per group of axes
    # sharing a mode in each padding layer, copying modes first, none for a group padding 0
    (_model_2d, "H=constant,W=circular", 0.5, ["circular", "constant"] * 3),
    (_model_2d, "H=reflect,W=edge", 0.0, ["reflect", "replicate"] * 3),
    (_model_1d, "L=circular", 0.0, ["circular"] * 2),
    (_model_3d, "D=constant,H=reflect,W=circular", -1.0,
     ["reflect", "circular", "constant", "reflect", "circular"]),
]


@pytest.mark.parametrize(
    "build, mode, value, pad_modes", PER_AXIS_CASES, ids=["2d", "2d-copying", "1d", "3d"]
)
def test_per_axis_modes_pad_save_export_and_pass_parity(tmp_path, build, mode, value, pad_modes):
    model = _randomize(build())
    result = rewrite_model(model, mode, constant_value=value)
    x = _data(model)
    pad_layers = assert_pads_match_numpy(result.model, x)
    records = result.report.rewritten
    rank = len(model.input_shape) - 2
    expected = format_mode(parse_mode(mode).for_rank(rank))  # "L=circular" -> "circular"
    assert [r.mode for r in records] == [expected] * len(records)
    assert result.report.mode == str(parse_mode(mode))

    path = tmp_path / "model.keras"
    result.model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(result.model(x)))
    assert [layer.mode for layer in reloaded.layers if isinstance(layer, _BasePadding)] == [
        layer.mode for layer in pad_layers]

    onnx_path = tmp_path / "model.onnx"
    export = padrewrite.export_onnx(result.model, onnx_path, opset=19)
    assert not FORBIDDEN & set(export.node_counts)
    pads = [pad_mode(node) for node in onnx.load(onnx_path).graph.node if node.op_type == "Pad"]
    # One native Pad per group of axes sharing a mode, copying modes first.
    assert pads == pad_modes
    parity = padrewrite.check_parity(result.model, onnx_path)
    assert parity, parity.to_dict()


def test_per_axis_circular_at_opset_18_is_sliced_not_gathered(tmp_path):
    result = rewrite_model(_randomize(_model_2d()), "H=constant,W=circular")
    export = padrewrite.export_onnx(result.model, tmp_path / "m.onnx")
    assert not FORBIDDEN & set(export.node_counts)
    assert export.node_counts["Pad"] == 3  # the constant group
    assert [lowering.lowered_to for lowering in export.lowerings] == ["Slice+Concat"] * 3
    assert padrewrite.check_parity(result.model, tmp_path / "m.onnx")


def test_default_entry_gives_the_axes_not_named():
    result = rewrite_model(_model_3d(), "reflect,W=circular")
    assert [r.mode for r in result.report.rewritten] == ["D=reflect,H=reflect,W=circular"] * 2
    with pytest.raises(RewriteError, match=r"^Layer 'c1' \(Conv1D\): `mode` names no mode for "
                                           r"axis T of a 1D layer"):
        rewrite_model(_model_1d(), "H=constant,W=circular")


# -- per-layer modes ----------------------------------------------------------------------


def _nested():
    inputs = keras.Input((8, 8, 3))
    inner = keras.Model(inputs, L.Conv2D(3, 3, padding="same", name="conv")(inputs), name="inner")
    inputs = keras.Input((8, 8, 3))
    x = inner(inputs)
    x = L.Conv2D(3, 3, padding="same", name="conv_o")(x)
    outer = keras.Model(inputs, x, name="outer")
    inputs = keras.Input((8, 8, 3))
    x = outer(inputs)
    x = L.Conv2D(2, 3, padding="same", name="head")(x)
    return keras.Model(inputs, x, name="top")


def test_mode_for_globs_match_nested_paths():
    model = _randomize(_nested())
    result = rewrite_model(
        model, "reflect",
        mode_for=["outer/inner/*=replicate", "outer/conv_o=H=constant,W=circular"],
    )
    assert {r.path: r.mode for r in result.report.records} == {
        "outer/inner/conv": "replicate",
        "outer/conv_o": "H=constant,W=circular",
        "head": "reflect",
    }
    assert result.report.to_dict()["mode_for"] == [
        ["outer/inner/*", "replicate"], ["outer/conv_o", "H=constant,W=circular"]]
    assert result.report.summary() == (
        "rewrote 3 of 3 convolutions (reflect; outer/inner/*=replicate; "
        "outer/conv_o=H=constant,W=circular); 0 skipped"
    )
    x = _data(model)
    outer = result.model.get_layer("outer")
    assert_pads_match_numpy(outer.get_layer("inner"), x)
    assert_pads_match_numpy(outer, x)
    assert_pads_match_numpy(result.model, x)


def test_the_last_matching_glob_wins_and_a_name_matches_too():
    result = rewrite_model(_nested(), "reflect", mode_for={"*": "constant", "conv": "edge"})
    assert [r.mode for r in result.report.records] == ["replicate", "constant", "constant"]


# -- causal convolutions ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tcn():
    return _randomize(corpus.build_wavenet_tcn())


def _causal_paths(report):
    return [r.path for r in report.records if r.rule == "conv-causal"]


def test_a_mode_reading_the_future_is_refused_naming_every_causal_layer(tcn):
    with pytest.raises(RewriteError) as caught:
        rewrite_model(tcn, "reflect")
    message = str(caught.value)
    paths = _causal_paths(caught.value.report)
    assert len(paths) == 11
    names = ", ".join(f"'{p}'" for p in paths)
    assert message == (
        f"Causal convolutions {names} would read future samples: reflect padding on the "
        "time axis copies later samples into their left pad. Choose `causal_mode` "
        "'replicate' or 'constant' (--causal-mode) to keep them causal, or 'as-mode' to "
        "accept it. Received: mode='reflect', causal_mode=None"
    )
    assert "\n" not in message
    refused = caught.value.report.refused
    assert [r.path for r in refused] == paths and {r.causal for r in refused} == {False}
    assert caught.value.report.refusal == message
    # A per-layer mode is checked as well.
    last = paths[-1]
    with pytest.raises(RewriteError, match=f"^Causal convolution '{re.escape(last)}' would read "
                                           "future samples: circular padding"):
        rewrite_model(tcn, "constant", mode_for=[f"{last}=wrap"])


def _truncated(model):
    """The model up to the last causal convolution (the 'same' head reads one step ahead)."""
    return keras.Model(model.input, model.get_layer("head_pad").input)


def _future_leak(model, t, seed=3):
    """Max change of the outputs before step t when only inputs from step t on change.

    The last causal convolution has stride 2: its output j reads inputs up to 2j.
    """
    x = _data(model, seed=seed)
    changed = x.copy()
    changed[:, t:] = np.random.default_rng(seed + 1).standard_normal(changed[:, t:].shape)
    before = (t + 1) // 2
    a, b = np.asarray(model(x)), np.asarray(model(changed))
    return float(np.max(np.abs(a[:, :before] - b[:, :before]))), float(
        np.max(np.abs(a[:, before:] - b[:, before:]))
    )


ACCEPTED_CAUSAL = [
    ("constant", None),
    ("replicate", None),
    ("reflect", "replicate"),
    ("circular", "constant"),
    ("symmetric", "replicate"),
]


@pytest.mark.parametrize("mode, causal_mode", ACCEPTED_CAUSAL)
def test_accepted_causal_rewrites_stay_causal(tcn, mode, causal_mode):
    result = rewrite_model(tcn, mode, causal_mode=causal_mode)
    causal = [r for r in result.report.records if r.rule == "conv-causal"]
    assert len(causal) == 11 and {r.causal for r in causal} == {True}
    expected = causal_mode or mode
    assert {r.mode for r in causal} == {expected}
    truncated = _truncated(result.model)
    for t in (1, 2, 9, 30, 50):
        leak, later = _future_leak(truncated, t)
        assert leak == 0.0, (t, leak)
        assert later > 0.0  # the change does reach the later outputs
    original = keras.Model(tcn.input, tcn.get_layer("head").input)
    assert _future_leak(original, 30)[0] == 0.0


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "circular"])
def test_as_mode_is_accepted_and_reported_not_causal(tcn, mode):
    result = rewrite_model(tcn, mode, causal_mode="as-mode")
    causal = [r for r in result.report.records if r.rule == "conv-causal"]
    assert {r.causal for r in causal} == {False} and {r.mode for r in causal} == {mode}
    assert all("NOT causal" in r.reason for r in causal)
    assert result.report.summary().endswith("; 11 causal convolution(s) no longer causal")
    assert result.report.to_dict()["causal_mode"] == "as-mode"
    truncated = _truncated(result.model)
    # Reflect and symmetric leak near the start, circular from the end into the start.
    assert max(_future_leak(truncated, t)[0] for t in (1, 2, 4, 8)) > 1e-3


# -- small maps ---------------------------------------------------------------------------


def _small_map():
    inputs = keras.Input((2, 8, 3))
    x = L.Conv2D(3, 5, padding="same", name="wide")(inputs)
    x = L.Conv2D(3, 3, padding="same", name="fits")(x)
    x = L.Conv2D(2, 7, padding="same", name="big")(x)
    return keras.Model(inputs, x, name="small")


def test_too_small_maps_are_refused_all_at_once():
    with pytest.raises(RewriteError) as caught:
        rewrite_model(_small_map(), "reflect")
    assert str(caught.value) == (
        "2 layers need pads their mode cannot give (reflect padding must be less than the "
        "axis size): 'wide' (Conv2D) pads (2, 2) on spatial axis 0 of size 2, 'big' (Conv2D) "
        "pads (3, 3) on spatial axis 0 of size 2. Use `fallback_mode` 'replicate', "
        "'constant' or 'skip' (--fallback-mode), exclude these layers, use a larger input "
        "or mode 'replicate'/'constant'."
    )
    report = caught.value.report
    assert [(r.path, r.action) for r in report.records] == [
        ("wide", "refused"), ("fits", "rewritten"), ("big", "refused")]
    assert report.records[0].reason == (
        "reflect padding must be less than the axis size: axis H has size 2 and pads (2, 2); "
        "no fallback mode"
    )
    assert report.to_dict()["counts"] == {
        "rewritten": 1, "fallback": 0, "skipped": 0, "unchanged": 0, "refused": 2}


@pytest.mark.parametrize(
    "fallback, actions, modes",
    [
        ("replicate", ["fallback", "rewritten", "fallback"],
         ["H=replicate,W=reflect", "reflect", "H=replicate,W=reflect"]),
        ("constant", ["fallback", "rewritten", "fallback"],
         ["H=constant,W=reflect", "reflect", "H=constant,W=reflect"]),
        ("skip", ["skipped", "rewritten", "skipped"], [None, "reflect", None]),
    ],
)
def test_fallback_mode_applies_per_layer_and_axis(fallback, actions, modes):
    model = _randomize(_small_map())
    result = rewrite_model(model, "reflect", fallback_mode=fallback)
    assert [r.action for r in result.report.records] == actions
    assert [r.mode for r in result.report.records] == modes
    assert result.report.records[0].reason.endswith(
        f"fallback {fallback} on axis H" if fallback != "skip"
        else "fallback mode 'skip' keeps the layer as it is"
    )
    assert_pads_match_numpy(result.model, _data(model))
    if fallback == "skip":
        assert result.model.get_layer("wide").padding == "same"
    else:
        assert result.report.summary().endswith(f"; 2 with fallback {fallback}")


@pytest.fixture(scope="module")
def small_backbone(tmp_path_factory):
    """MobileNetV2 at 32x32: its last three depthwise convs see 1x1 maps."""
    path = tmp_path_factory.mktemp("backbone") / "mobilenet_v2_32.keras"
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None).save(path)
    return path


TOO_SMALL = ["block_14_depthwise", "block_15_depthwise", "block_16_depthwise"]


def test_plan_lists_the_layers_a_small_backbone_refuses(small_backbone):
    report = padrewrite.rewrite_file(small_backbone, plan=True, mode="reflect")
    assert report.status == "planned" and report
    assert [r.path for r in report.rewrite.refused] == TOO_SMALL
    assert report.rewrite.refusal.startswith("3 layers need pads their mode cannot give")
    assert all(f"'{name}'" in report.rewrite.refusal for name in TOO_SMALL)
    with pytest.raises(RewriteError, match=re.escape(report.rewrite.refusal)):
        padrewrite.rewrite_file(small_backbone, small_backbone.with_name("o.keras"))


# -- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(causal_mode="reflect"),
         "`causal_mode` must be one of replicate, constant, as-mode (or None). "
         "Received: causal_mode='reflect'"),
        (dict(fallback_mode="reflect"),
         "`fallback_mode` must be one of replicate, constant, skip (or None). "
         "Received: fallback_mode='reflect'"),
        (dict(mode_for=["conv"]), "Each `mode_for` entry must look like GLOB=MODE"),
        (dict(mode="H=reflect,Q=edge"), "`mode` must be a mode"),
        (dict(constant_value=1.0), "`constant_value` is only used with mode='constant'. "
                                   "Received: mode='reflect', constant_value=1.0"),
    ],
)
def test_wrong_arguments_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=f"^{re.escape(message)}"):
        rewrite_model(_nested(), **{"mode": "reflect", **kwargs})


def test_constant_value_applies_to_constant_axes_wherever_they_come_from():
    model = _randomize(_small_map())
    for kwargs in (dict(mode_for=["wide=zero", "big=zero"]), dict(fallback_mode="constant"),
                   dict(mode="H=constant,W=reflect")):
        result = rewrite_model(model, **{"mode": "reflect", "constant_value": 2.0, **kwargs})
        constant = [layer for layer in result.model.layers
                    if isinstance(layer, _BasePadding) and "constant" in layer.axis_modes]
        assert constant and {layer.constant_value for layer in constant} == {2.0}
        assert_pads_match_numpy(result.model, _data(model))


@pytest.mark.parametrize("mode", ["H=reflect,W=circular", "H=constant,W=replicate"])
def test_per_axis_pads_hoisted_above_pointwise_ops_keep_parity(tmp_path, mode):
    inputs = keras.Input((12, 12, 4), name="image")
    x = L.ReLU(name="relu")(L.Conv2D(16, 1, name="expand")(inputs))
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    model = _randomize(keras.Model(inputs, L.Conv2D(4, 1, name="project")(x)))
    result = rewrite_model(model, mode)
    export = padrewrite.export_onnx(result.model, tmp_path / "m.onnx", opset=19)
    assert export.pads_hoisted == 1  # the first copying pad moves above the 1x1 conv
    assert padrewrite.check_parity(result.model, tmp_path / "m.onnx")


@pytest.mark.parametrize("opset", [18, 19])
def test_per_axis_pads_computed_at_run_time_export_exactly(tmp_path, opset):
    """Unknown sizes and a strided conv: the pads come from the run-time shape, per group."""
    inputs = keras.Input((None, None, 3), name="image")
    x = L.Conv2D(4, 3, strides=2, padding="same", name="c1")(inputs)
    model = _randomize(keras.Model(inputs, L.Conv2D(4, (4, 3), padding="same", name="c2")(x)))
    result = rewrite_model(model, "H=constant,W=circular")
    export = padrewrite.export_onnx(result.model, tmp_path / "m.onnx", opset=opset)
    assert not FORBIDDEN & set(export.node_counts)
    assert export.node_counts["Pad"] == (4 if opset == 19 else 2)
    for shape in ((1, 11, 10, 3), (2, 12, 13, 3)):
        assert padrewrite.check_parity(
            result.model, tmp_path / "m.onnx", input_shapes={"image": shape})
