"""keras.applications models: rewritten in every mode, parameters kept, constant 0 exact.

Built with `weights=None, include_top=False` at small inputs. In constant mode with
value 0 the rewritten model must compute what the original computes. In the other
modes the rewrite must succeed with the same parameter count and output
shapes/dtypes, unless some 'same' convolution needs a pad the mode cannot take at
that size (reflect: pad < size; symmetric, circular: pad <= size), which deep
layers at small inputs do; then rewrite_model must refuse with a RewriteError
naming such a layer. Which case applies is computed here from the model's own
layer shapes (TensorFlow's 'same' formula), not taken from padrewrite.

The default run checks a few small models in every mode; `pytest -m slow
tests/test_applications.py` sweeps every constructor keras.applications exports
(modes: see `_sweep_modes`).
"""

from __future__ import annotations

import gc
import os

import keras
import numpy as np
import pytest
from graph_strategies import mode_limit, same_pair

from padrewrite.layers import PADDING_CLASSES
from padrewrite.rewrite import RewriteError, rewrite_model

L = keras.layers
APPS = keras.applications
OTHER_MODES = ("reflect", "replicate", "symmetric", "circular")

#: The smallest square input each constructor accepts with include_top=False,
#: weights=None (Keras' own minimum: 32, or 75 for the Inception family, 71 for
#: Xception).
SMALLEST_INPUT = {
    **{name: 32 for name in (
        "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
        "DenseNet121", "DenseNet169", "DenseNet201",
        "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
        "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
        "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
        "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
        "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small",
        "NASNetLarge", "NASNetMobile",
        "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
        "VGG16", "VGG19",
    )},
    "InceptionV3": 75,
    "InceptionResNetV2": 75,
    "Xception": 71,
}  # fmt: skip

#: Constructors that cannot be built with weights=None, with the reason: none in
#: Keras 3.15. A test checks that each one listed really fails.
UNBUILDABLE: dict[str, str] = {}


def _constructors() -> list[str]:
    return sorted(
        name
        for name in dir(APPS)
        if name[:1].isupper() and callable(getattr(APPS, name))
    )


def _build(name: str, size: int) -> keras.Model:
    return getattr(APPS, name)(include_top=False, weights=None, input_shape=(size, size, 3))


def _data(size: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, size, size, 3)).astype("float32")


def _over_limit(model: keras.Model, mode: str) -> list[str]:
    """Names of 'same' convolutions whose pads `mode` cannot take at their input size."""
    names = []
    for layer in model.layers:
        config = layer.get_config()
        if not _is_same_convolution(config, layer):
            continue
        spatial = layer.input.shape[1:-1]  # the applications are channels_last
        for n, k, s, d in zip(
            spatial, config["kernel_size"], config["strides"], config["dilation_rate"]
        ):
            limit = mode_limit(mode, n)
            if limit is not None and max(same_pair(n, k, s, d)) > limit:
                names.append(layer.name)
                break
    return names


def _is_same_convolution(config, layer) -> bool:
    """A 'same' convolution, told by its config (not by the rules' own class list)."""
    return (
        config.get("padding") == "same"
        and "kernel_size" in config
        and "Transpose" not in type(layer).__name__
    )


def _assert_same_outputs(original, rewritten, data):
    """Equal up to float32 rounding, relative to the output's size (some are ~1e-8)."""
    a = np.asarray(original(data, training=False), np.float64)
    b = np.asarray(rewritten(data, training=False), np.float64)
    assert a.shape == b.shape
    scale = float(np.max(np.abs(a)))
    assert scale > 0, "the original output is all zeros: the comparison would be vacuous"
    diff = float(np.max(np.abs(a - b)))
    assert diff <= 1e-5 * scale, f"max abs diff {diff:g} for outputs up to {scale:g}"


def _assert_structure(model, result, mode):
    """Parameters, output signature and layer names kept; 'same' convolutions rewritten."""
    new = result.model
    assert new.count_params() == model.count_params()
    assert [tuple(t.shape) for t in new.outputs] == [tuple(t.shape) for t in model.outputs]
    assert [t.dtype for t in new.outputs] == [t.dtype for t in model.outputs]
    new_names = {layer.name for layer in new.layers}
    # (unnamed Input layers are renamed: see test_rewrite_random.py's dedicated test)
    missing = [
        layer.name
        for layer in model.layers
        if not isinstance(layer, L.InputLayer) and layer.name not in new_names
    ]
    assert not missing
    records = {r.name: r for r in result.report.records}
    for layer in model.layers:
        config = layer.get_config()
        if config.get("padding") != "same":
            continue
        record = records[layer.name]  # every 'same' layer is in the report
        if not _is_same_convolution(config, layer):
            assert record.action == "skipped", record  # 'same' pooling: opt-in rule
            continue
        nonzero = any(pair != (0, 0) for pair in record.pads or ())
        assert record.action == ("rewritten" if nonzero else "unchanged"), record
        if nonzero:
            assert record.mode == mode
            assert new.get_layer(record.pad_layer).mode == mode
            assert new.get_layer(layer.name).padding == "valid"


def check_application(name: str, size: int, modes=("constant", *OTHER_MODES)):
    model = _build(name, size)
    data = _data(size)
    for mode in modes:
        over = [] if mode == "constant" else _over_limit(model, mode)
        if over:
            with pytest.raises(RewriteError, match=f"{mode} padding must be") as info:
                rewrite_model(model, mode)
            assert any(f"'{layer}'" in str(info.value) for layer in over), str(info.value)
            continue
        result = rewrite_model(model, mode)
        _assert_structure(model, result, mode)
        if mode == "constant":
            _assert_same_outputs(model, result.model, data)
        del result
        gc.collect()


# -- default run: a few small models -----------------------------------------------


@pytest.mark.parametrize(
    "name, size",
    [
        ("MobileNetV2", 96),  # deepest maps 3x3: every mode fits
        ("EfficientNetB0", 128),  # 5x5 depthwise convolutions on 4x4 maps
        ("ResNet50", 64),
    ],
)
def test_small_application_in_every_mode(name, size):
    check_application(name, size)


@pytest.mark.parametrize("name, size", [("ResNet50", 64), ("MobileNetV2", 96)])
def test_zero_padding_rule_stays_exact(name, size):
    """The opt-in rule rewrites every ZeroPadding feeding a 'valid' conv or pool, exactly."""
    model = _build(name, size)
    result = rewrite_model(model, "constant", rules=("zero-padding",))
    zero_pads = [layer for layer in model.layers if isinstance(layer, L.ZeroPadding2D)]
    assert zero_pads
    records = {r.name: r for r in result.report.records if r.kind == "padding"}
    for layer in zero_pads:
        record = records[layer.name]
        assert record.action == "rewritten", record
        assert record.rule == "zero-padding"
        assert record.pad_layer == layer.name
        new = result.model.get_layer(layer.name)
        assert type(new) is PADDING_CLASSES[2] and new.mode == "constant"
        assert tuple(new.padding) == tuple(map(tuple, record.pads))
    _assert_structure(model, result, "constant")
    _assert_same_outputs(model, result.model, _data(size))


def test_zero_padding_rule_in_reflect_mode():
    model = _build("ResNet50", 64)
    result = rewrite_model(model, "reflect", rules=("zero-padding",))
    _assert_structure(model, result, "reflect")
    for name in ("conv1_pad", "pool1_pad"):
        assert result.model.get_layer(name).mode == "reflect"
    output = np.asarray(result.model(_data(64), training=False))
    assert output.shape == tuple(d or 1 for d in model.output.shape) and np.isfinite(output).all()


def test_reflect_on_a_too_small_input_is_refused_clearly():
    model = _build("MobileNetV2", 32)  # the last blocks run on 1x1 maps
    over = _over_limit(model, "reflect")
    assert over
    with pytest.raises(RewriteError, match="reflect padding must be less than the axis size"):
        rewrite_model(model, "reflect")
    rewrite_model(model, "replicate")  # replicate has no limit


# -- slow: every constructor ---------------------------------------------------------


def test_every_constructor_is_listed():
    """A constructor Keras adds later fails here rather than being skipped silently."""
    assert sorted({*SMALLEST_INPUT, *UNBUILDABLE}) == _constructors()


def test_unbuildable_constructors_really_fail():
    for name in UNBUILDABLE:
        with pytest.raises(Exception):
            _build(name, 224)


def _sweep_modes(index: int) -> tuple[str, ...]:
    """The modes the sweep rewrites the `index`-th constructor in.

    Each rewrite of a large model costs 5-15 s, so all five modes on all 40 models
    take about 12 minutes. By default each model gets constant (the truth test),
    replicate (no size limit: always a full rewrite) and one of the modes with a
    limit, in turn (reflect: pad < n; symmetric, circular: pad <= n), so that each of
    those meets about 13 models, refusals included. PADREWRITE_APPS_ALL_MODES=1 runs
    every mode on every model.
    """
    if os.environ.get("PADREWRITE_APPS_ALL_MODES"):
        return ("constant", *OTHER_MODES)
    return ("constant", "replicate", ("reflect", "symmetric", "circular")[index % 3])


@pytest.mark.slow
@pytest.mark.parametrize("index, name", list(enumerate(sorted(SMALLEST_INPUT))))
def test_every_application(index, name):
    try:
        check_application(name, SMALLEST_INPUT[name], _sweep_modes(index))
    finally:
        keras.backend.clear_session()
        gc.collect()
