"""Padding layers: numpy.pad semantics, shapes, dtypes, config, saving, errors,
TF 'same' exactness with run-time shapes, training and the ONNX export hook."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from kernels import run_model

from padrewrite import layers
from padrewrite.arithmetic import same_pads
from padrewrite.keras_side.cpu import unrunnable_layers
from padrewrite.layers import (
    PADDING_CLASSES,
    SAME_PADDING_CLASSES,
    CircularPadding2D,
    ConstantPadding2D,
    Padding1D,
    Padding2D,
    Padding3D,
    ReflectionPadding2D,
    ReplicationPadding2D,
    SamePadding1D,
    SamePadding2D,
    SymmetricPadding2D,
    onnx_placeholder_pads,
    pad_tensor,
    placeholder_op_name,
)
from padrewrite.modes import ALIASES, MODES, NUMPY_NAMES, normalize_mode

FORMATS = ("channels_last", "channels_first")
RANKS = (1, 2, 3)
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
NAMED = {
    "constant": "ConstantPadding",
    "reflect": "ReflectionPadding",
    "replicate": "ReplicationPadding",
    "symmetric": "SymmetricPadding",
    "circular": "CircularPadding",
}


def spatial_axes(rank, data_format):
    first = 2 if data_format == "channels_first" else 1
    return range(first, first + rank)


def full_shape(batch, spatial, channels, data_format):
    if data_format == "channels_first":
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def numpy_pad(x, pads, mode, data_format, constant_value=0.0):
    """The reference: numpy.pad on the spatial axes with numpy's mode name."""
    width = [(0, 0)] * x.ndim
    for axis, pair in zip(spatial_axes(len(pads), data_format), pads):
        width[axis] = tuple(pair)
    kwargs = {"constant_values": constant_value} if mode == "constant" else {}
    return np.pad(x, width, mode=NUMPY_NAMES[mode], **kwargs)


def distinct_values(shape, dtype="float32"):
    """1, 2, 3, ... so that every mode gives a different result."""
    return (np.arange(np.prod(shape)) + 1).reshape(shape).astype(dtype)


def limit(mode, size):
    """The largest pad per side that numpy and the layer both accept."""
    return {"reflect": size - 1, "symmetric": size, "circular": size}.get(mode, 4)


@st.composite
def padding_cases(draw, mode, rank, data_format):
    """An input shape, pads (often exactly at the mode's limit) and a fill value."""
    spatial = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    pads = []
    for size in spatial:
        side = st.one_of(st.just(limit(mode, size)), st.integers(0, limit(mode, size)))
        pads.append((draw(side), draw(side)))
    shape = full_shape(draw(st.integers(1, 2)), spatial, draw(st.integers(1, 2)), data_format)
    value = draw(st.sampled_from([0.0, 2.5, -7.0])) if mode == "constant" else 0.0
    return shape, tuple(pads), value


# --- numpy.pad semantics ------------------------------------------------------


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=30)
@given(data=st.data())
def test_padding_matches_numpy_pad(mode, rank, data_format, data):
    """Every mode, rank and data format, asymmetric pads up to the limit."""
    shape, pads, value = data.draw(padding_cases(mode, rank, data_format))
    x = distinct_values(shape)
    layer = PADDING_CLASSES[rank](pads, mode=mode, constant_value=value, data_format=data_format)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x)), numpy_pad(x, pads, mode, data_format, value)
    )


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("mode", ["reflect", "symmetric", "circular"])
def test_pads_exactly_at_the_limit_match_numpy_pad(mode, rank, data_format):
    """reflect pad = n-1, symmetric/circular pad = n on both sides of every axis."""
    spatial = (3, 4, 2)[:rank]
    x = distinct_values(full_shape(2, spatial, 3, data_format))
    pads = tuple((limit(mode, n), limit(mode, n)) for n in spatial)
    layer = PADDING_CLASSES[rank](pads, mode=mode, data_format=data_format)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x)), numpy_pad(x, pads, mode, data_format)
    )


def numpy_pad_per_axis(x, pads, modes, data_format, constant_value=0.0, order=None):
    """The reference for per-axis modes: numpy.pad on one spatial axis at a time."""
    axes = list(zip(spatial_axes(len(pads), data_format), pads, modes))
    for axis, pair, mode in (axes if order is None else [axes[i] for i in order]):
        width = [(0, 0)] * x.ndim
        width[axis] = tuple(pair)
        kwargs = {"constant_values": constant_value} if mode == "constant" else {}
        x = np.pad(x, width, mode=NUMPY_NAMES[mode], **kwargs)
    return x


@st.composite
def per_axis_cases(draw, rank, data_format):
    """One mode per axis, an input shape, pads up to each axis' limit and a fill value."""
    modes = tuple(draw(st.sampled_from(MODES)) for _ in range(rank))
    spatial = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    pads = []
    for mode, size in zip(modes, spatial):
        side = st.one_of(st.just(limit(mode, size)), st.integers(0, limit(mode, size)))
        pads.append((draw(side), draw(side)))
    shape = full_shape(draw(st.integers(1, 2)), spatial, draw(st.integers(1, 2)), data_format)
    value = draw(st.sampled_from([0.0, 2.5, -7.0])) if "constant" in modes else 0.0
    return shape, tuple(pads), modes, value


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rank", RANKS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_per_axis_modes_match_numpy_pad_axis_by_axis(rank, data_format, data):
    """One mode per spatial axis equals numpy.pad applied axis by axis, in any axis order."""
    shape, pads, modes, value = data.draw(per_axis_cases(rank, data_format))
    x = distinct_values(shape)
    layer = PADDING_CLASSES[rank](pads, mode=modes, constant_value=value, data_format=data_format)
    got = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(got, numpy_pad_per_axis(x, pads, modes, data_format, value))
    reverse = list(range(rank))[::-1]
    np.testing.assert_array_equal(
        got, numpy_pad_per_axis(x, pads, modes, data_format, value, order=reverse)
    )


@pytest.mark.parametrize("data_format", FORMATS)
def test_per_axis_same_padding_with_runtime_sizes_matches_numpy_pad(data_format):
    """SamePadding2D with per-axis modes and unknown sizes (stride 2) in graph mode."""
    layer = SamePadding2D((3, 4), strides=2, mode=("circular", "symmetric"),
                          data_format=data_format)
    run = tf.function(layer, input_signature=[tf.TensorSpec(
        full_shape(None, (None, None), 2, data_format), "float32")])
    for spatial in ((5, 6), (6, 7), (4, 4)):
        x = distinct_values(full_shape(1, spatial, 2, data_format))
        pads = [same_pads(n, k, 2, 1) for n, k in zip(spatial, (3, 4))]
        np.testing.assert_array_equal(
            run(x).numpy(),
            numpy_pad_per_axis(x, pads, ("circular", "symmetric"), data_format),
        )


def test_per_axis_mode_beyond_its_limit_names_the_axis():
    layer = Padding2D(((1, 1), (3, 3)), mode=("constant", "reflect"))
    with pytest.raises(ValueError, match=r"with mode='reflect' on axis W each pad must be less "
                                         r"than the axis size, but spatial axis 1"):
        layer(keras.Input((2, 3, 1)))
    # The constant axis has no limit.
    Padding2D(((5, 5), (1, 1)), mode=("constant", "reflect"))(keras.Input((2, 3, 1)))


def test_modes_on_the_facts_example():
    """[1, 2, 3] padded by 2, as written in FACTS.md."""
    expected = {
        "reflect": [3, 2, 1, 2, 3, 2, 1],
        "symmetric": [2, 1, 1, 2, 3, 3, 2],
        "replicate": [1, 1, 1, 2, 3, 3, 3],
        "circular": [2, 3, 1, 2, 3, 1, 2],
        "constant": [0, 0, 1, 2, 3, 0, 0],
    }
    x = np.array([1.0, 2.0, 3.0], "float32").reshape(1, 3, 1)
    for mode, values in expected.items():
        y = Padding1D(2, mode=mode)(x)
        assert keras.ops.convert_to_numpy(y).ravel().tolist() == values, mode


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rank", RANKS)
def test_named_classes_equal_padding_with_that_mode(mode, rank):
    """ReflectionPadding2D(p) == Padding2D(p, mode='reflect'), and so on."""
    named = getattr(layers, f"{NAMED[mode]}{rank}D")
    pads = ((1, 2), (2, 1), (0, 2))[:rank]
    x = distinct_values((1, *(3,) * rank, 2))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(named(pads)(x)),
        keras.ops.convert_to_numpy(PADDING_CLASSES[rank](pads, mode=mode)(x)),
    )
    assert named(pads).mode == mode


# --- modes and aliases --------------------------------------------------------


@pytest.mark.parametrize(
    "alias, canonical",
    [*ALIASES.items(), ("EDGE", "replicate"), ("Reflect", "reflect")],
)
def test_aliases_normalise_to_canonical_names_in_config(alias, canonical):
    """'edge', 'wrap', 'zero' (any case) are stored under the canonical name."""
    assert normalize_mode(alias) == canonical
    layer = Padding2D(1, mode=alias)
    assert layer.mode == canonical
    assert layer.get_config()["mode"] == canonical
    x = distinct_values((1, 3, 3, 1))
    expected = numpy_pad(x, ((1, 1), (1, 1)), canonical, "channels_last")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), expected)


def test_every_alias_maps_to_a_mode_with_a_numpy_name():
    """The tables agree with each other."""
    assert set(ALIASES.values()) <= set(MODES)
    assert set(NUMPY_NAMES) == set(MODES)
    assert {ALIASES[name] for name in ("edge", "wrap")} == {"replicate", "circular"}


# --- dtypes -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_float_dtypes_are_preserved(mode, dtype):
    """No autocast: float16/bfloat16/float64 in, the same dtype out, eager and symbolic."""
    value = 1.5 if mode == "constant" else 0.0
    layer = Padding2D(((1, 2), (2, 0)), mode=mode, constant_value=value)
    x = distinct_values((1, 3, 3, 2))
    y = layer(tf.constant(x, dtype=dtype))
    assert y.dtype == dtype
    np.testing.assert_array_equal(
        tf.cast(y, "float32").numpy(),
        numpy_pad(x, ((1, 2), (2, 0)), mode, "channels_last", value),
    )
    symbolic = layer(keras.Input((None, 3, 2), dtype=dtype))
    assert symbolic.dtype == dtype


@pytest.mark.parametrize("mode", MODES)
def test_int32_is_preserved_and_constant_value_cast(mode):
    """int32 stays int32; the constant value is cast to the input dtype."""
    value = 3.0 if mode == "constant" else 0.0
    x = distinct_values((1, 3, 4, 1), "int32")
    inputs = keras.Input((3, 4, 1), dtype="int32")
    model = keras.Model(inputs, Padding2D(2, mode=mode, constant_value=value)(inputs))
    assert model.outputs[0].dtype == "int32"
    y = model(x)
    assert y.dtype == "int32"
    np.testing.assert_array_equal(
        y.numpy(), numpy_pad(x, ((2, 2), (2, 2)), mode, "channels_last", 3)
    )


def test_pad_tensor_pads_any_axes():
    """The functional form, with per-axis pads and a constant value."""
    x = distinct_values((2, 3, 4))
    y = pad_tensor(x, axes=(0, 2), pads=((1, 0), (0, 2)), mode="constant", constant_value=9)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(y), np.pad(x, ((1, 0), (0, 0), (0, 2)), constant_values=9)
    )


# --- shapes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, input_shape, expected",
    [
        (Padding2D(((1, 2), (3, 4))), (None, None, 5, 3), (None, None, 12, 3)),
        (
            Padding2D(((1, 2), (3, 4)), data_format="channels_first"),
            (None, 3, 5, None),
            (None, 3, 8, None),
        ),
        (Padding1D((2, 0), mode="reflect"), (4, None, 1), (4, None, 1)),
        (Padding3D(1, mode="wrap"), (None, 3, None, 3, 2), (None, 5, None, 5, 2)),
        (SamePadding2D(3, strides=2), (None, None, None, 3), (None, None, None, 3)),
        (SamePadding2D(3, strides=2), (None, 10, 11, 3), (None, 11, 13, 3)),
        (SamePadding2D((4, 3), strides=1), (None, None, 10, 3), (None, None, 12, 3)),
        (SamePadding2D(3, strides=(1, 2)), (None, 10, None, 3), (None, 12, None, 3)),
    ],
)
def test_compute_output_shape_keeps_unknown_dims(layer, input_shape, expected):
    """Known dims grow by the pads; None stays None."""
    assert layer.compute_output_shape(input_shape) == expected


@pytest.mark.parametrize("builder", ["functional", "sequential"])
def test_models_with_unknown_spatial_dims_have_symbolic_output_shape(builder):
    """Input((None, None, 3)) through several pad layers keeps None, grows nothing else."""
    pads = [
        ReflectionPadding2D(1),
        SamePadding2D(3, strides=2, mode="replicate"),
        Padding2D(((0, 1), (2, 0)), mode="circular"),
    ]
    if builder == "sequential":
        model = keras.Sequential([keras.Input((None, None, 3)), *pads])
    else:
        inputs = keras.Input((None, None, 3))
        x = inputs
        for layer in pads:
            x = layer(x)
        model = keras.Model(inputs, x)
    assert model.output_shape == (None, None, None, 3)
    y = model(distinct_values((1, 10, 11, 3)))
    # 10x11 -> reflect 12x13 -> same (k3, s2) pads 1 and 2: 13x15 -> circular 14x17
    assert y.shape == (1, 14, 17, 3)


# --- config and serialisation -------------------------------------------------


@pytest.mark.parametrize(
    "layer, expected",
    [
        (
            Padding2D(((1, 2), (3, 4)), mode="edge", data_format="channels_first"),
            {
                "padding": ((1, 2), (3, 4)),
                "mode": "replicate",
                "constant_value": 0.0,
                "data_format": "channels_first",
            },
        ),
        (
            Padding2D(2, constant_value=-1),
            {
                "padding": ((2, 2), (2, 2)),
                "mode": "constant",
                "constant_value": -1.0,
                "data_format": "channels_last",
            },
        ),
        (
            ReflectionPadding2D((1, 2)),
            {"padding": ((1, 1), (2, 2)), "data_format": "channels_last"},
        ),
        (
            ConstantPadding2D(1, constant_value=0.5),
            {"padding": ((1, 1), (1, 1)), "constant_value": 0.5, "data_format": "channels_last"},
        ),
        (
            SamePadding2D((3, 4), strides=2, dilation_rate=(1, 2), mode="wrap"),
            {
                "kernel_size": (3, 4),
                "strides": (2, 2),
                "dilation_rate": (1, 2),
                "mode": "circular",
                "constant_value": 0.0,
                "data_format": "channels_last",
            },
        ),
        (
            Padding2D(1, mode=("zero", "wrap"), constant_value=2),
            {
                "padding": ((1, 1), (1, 1)),
                "mode": ("constant", "circular"),
                "constant_value": 2.0,
                "data_format": "channels_last",
            },
        ),
        (
            Padding2D(1, mode="H=edge,W=replicate"),
            {
                "padding": ((1, 1), (1, 1)),
                "mode": "replicate",
                "constant_value": 0.0,
                "data_format": "channels_last",
            },
        ),
    ],
    ids=["padding2d", "padding2d-constant", "reflection2d", "constant2d", "same2d",
         "padding2d-per-axis", "padding2d-per-axis-all-equal"],
)
def test_get_config_is_the_canonical_form(layer, expected):
    """The whole config (name/dtype aside) in canonical form, no `autocast`."""
    config = layer.get_config()
    assert config.pop("name") == layer.name
    assert config.pop("dtype")["config"]["name"] == "float32"
    assert config == {"trainable": True, **expected}


@pytest.mark.parametrize(
    "layer, input_shape",
    [
        (Padding2D(((1, 2), (0, 3)), mode="symmetric"), (1, 4, 3, 2)),
        (Padding2D(1, constant_value=2.0, data_format="channels_first"), (1, 2, 3, 4)),
        (Padding1D((2, 1), mode="wrap"), (1, 4, 3)),
        (Padding3D(((1, 0), (0, 1), (1, 1)), mode="reflect"), (1, 4, 3, 2, 1)),
        (ReflectionPadding2D(1), (1, 4, 3, 2)),
        (ReplicationPadding2D(((2, 0), (0, 1))), (1, 4, 3, 2)),
        (SymmetricPadding2D(2), (1, 4, 3, 2)),
        (CircularPadding2D(1), (1, 4, 3, 2)),
        (ConstantPadding2D(2, constant_value=-3.0), (1, 4, 3, 2)),
        (SamePadding2D(3, strides=2, mode="reflect"), (1, 4, 3, 2)),
        (Padding2D(((1, 2), (0, 3)), mode=("constant", "circular"), constant_value=2.0),
         (1, 4, 3, 2)),
        (Padding3D(1, mode=("replicate", "reflect", "circular")), (1, 3, 4, 2, 1)),
        (SamePadding1D(4, mode=("symmetric",)), (1, 5, 2)),
    ],
    ids=[
        "padding2d-symmetric",
        "padding2d-constant-channels-first",
        "padding1d-wrap",
        "padding3d-reflect",
        "reflection2d",
        "replication2d",
        "symmetric2d",
        "circular2d",
        "constant2d",
        "same2d",
        "padding2d-per-axis",
        "padding3d-per-axis",
        "same1d-one-mode-tuple",
    ],
)
def test_config_round_trip_gives_identical_outputs(layer, input_shape):
    """from_config(get_config()) and a JSON round trip rebuild the same layer."""
    x = distinct_values(input_shape)
    rebuilt = type(layer).from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    assert serialized["registered_name"] == f"padrewrite>{type(layer).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer)
    assert restored.mode == layer.mode  # per-axis modes come back as a tuple
    for other in (rebuilt, restored):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(other(x)), keras.ops.convert_to_numpy(layer(x))
        )


def _save_model_with_every_layer_type(tmp_path):
    """Save model.keras and x.npy in `tmp_path`; return the model's output on x."""
    inputs = keras.Input((None, None, 3))
    x = ReflectionPadding2D(1)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = SamePadding2D(3, strides=2, mode="symmetric")(x)
    x = keras.layers.Conv2D(4, 3, strides=2)(x)
    x = Padding2D(((1, 0), (0, 2)), mode="constant", constant_value=0.5)(x)
    x = CircularPadding2D(1)(x)
    x = ReplicationPadding2D((1, 2))(x)
    x = ConstantPadding2D(1, constant_value=-1.0)(x)
    x = Padding2D(((2, 1), (1, 2)), mode=("constant", "circular"), constant_value=3.0)(x)
    model = keras.Model(inputs, x)
    x = np.random.default_rng(0).normal(size=(2, 11, 10, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x)
    return model(x).numpy()


def _run_python(code, cwd):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras
def test_keras_file_loads_in_a_fresh_process(tmp_path):
    """A fresh process that imports padrewrite.layers loads the .keras file;
    without the import Keras cannot locate the classes (see FACTS.md)."""
    expected = _save_model_with_every_layer_type(tmp_path)
    result = _run_python(
        """
        import keras, numpy as np
        try:
            keras.saving.load_model("model.keras")
        except Exception as error:
            print("WITHOUT IMPORT:", type(error).__name__, error)
        import padrewrite.layers
        model = keras.saving.load_model("model.keras")
        np.save("y.npy", model(np.load("x.npy")).numpy())
        print(sorted({type(layer).__name__ for layer in model.layers}))
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"WITHOUT IMPORT: TypeError .*Could not locate class", result.stdout, re.S)
    assert "'SamePadding2D'" in result.stdout and "'CircularPadding2D'" in result.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


# --- validation errors --------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Padding2D(-1), "`padding` cannot contain negative values. Received: padding=-1"),
        (
            lambda: Padding2D(((0, 1), (-2, 0))),
            "`padding` cannot contain negative values. Received: padding=((0, 1), (-2, 0))",
        ),
        (
            lambda: Padding2D((1, 2, 3)),
            "`padding` must be an int, a tuple of 2 ints or a tuple of 2 (before, after) "
            "pairs. Received: padding=(1, 2, 3)",
        ),
        (
            lambda: Padding3D(((1, 1), (1, 1))),
            "`padding` must be an int, a tuple of 3 ints or a tuple of 3 (before, after) "
            "pairs. Received: padding=((1, 1), (1, 1))",
        ),
        (
            lambda: Padding1D(((1, 2, 3),)),
            "Each entry of `padding` must be an int or a (before, after) pair. "
            "Received: padding=((1, 2, 3),)",
        ),
        (
            lambda: Padding2D(1, mode="mirror"),
            "`mode` must be one of constant, reflect, replicate, symmetric, circular, "
            "zero, edge, wrap. Received: mode='mirror'",
        ),
        (
            lambda: Padding2D(1, mode=None),
            "`mode` must be one of constant, reflect, replicate, symmetric, circular, "
            "zero, edge, wrap. Received: mode=None",
        ),
        (
            lambda: Padding2D(1, mode="reflect", constant_value=1.0),
            "`constant_value` is only used with mode='constant'. "
            "Received: mode='reflect', constant_value=1.0",
        ),
        (
            lambda: SamePadding2D(3, mode="edge", constant_value=2),
            "`constant_value` is only used with mode='constant'. "
            "Received: mode='replicate', constant_value=2",
        ),
        (
            lambda: ReflectionPadding2D(1, mode="constant"),
            "`mode` of ReflectionPadding2D is always 'reflect'; use Padding2D to choose "
            "another. Received: mode='constant'",
        ),
        (
            lambda: CircularPadding2D(1, constant_value=5.0),
            "`constant_value` is only used with mode='constant'. "
            "Received: mode='circular', constant_value=5.0",
        ),
        (
            lambda: Padding2D(1, data_format="NHWC"),
            "`data_format` must be 'channels_last' or 'channels_first'. "
            "Received: data_format='NHWC'",
        ),
        (
            lambda: SamePadding2D((3, 0)),
            "`kernel_size` must be a positive int or a tuple of 2 positive ints. "
            "Received: kernel_size=(3, 0)",
        ),
        (
            lambda: SamePadding2D(3, strides=(1, 2, 3)),
            "`strides` must be a positive int or a tuple of 2 positive ints. "
            "Received: strides=(1, 2, 3)",
        ),
    ],
)
def test_invalid_arguments_raise_keras_style_errors(make, message):
    """Argument in backticks, what was expected, `Received: ...` at the end."""
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make()


def _limit_message(mode, phrase, size, pair, limit_value, received, input_shape):
    return (
        f"with mode='{mode}' each pad must be {phrase}, but spatial axis 0 (tensor "
        f"axis 1) has size {size} and pads (before, after)={pair}, more than "
        f"{limit_value}. Use a smaller `padding`, a larger input, or mode='replicate' "
        f"or 'constant'. Received: padding={received}, input_shape={input_shape}"
    )


LIMIT_CASES = [
    ("reflect", (3, 0), "less than the axis size", 2),
    ("symmetric", (0, 4), "at most the axis size", 3),
    ("circular", (4, 4), "at most the axis size", 3),
]


@pytest.mark.parametrize("mode, pair, phrase, limit_value", LIMIT_CASES)
def test_pad_beyond_the_mode_limit_fails_at_build(mode, pair, phrase, limit_value):
    """reflect needs pad < n, symmetric/circular pad <= n; checked on a known shape."""
    layer = Padding2D((pair, (1, 1)), mode=mode)
    message = _limit_message(
        mode, phrase, 3, pair, limit_value, (pair, (1, 1)), (None, 3, 8, 1)
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(keras.Input((3, 8, 1)))


@pytest.mark.parametrize("mode, pair, phrase, limit_value", LIMIT_CASES)
def test_pad_beyond_the_mode_limit_fails_at_call_with_unknown_dims(
    mode, pair, phrase, limit_value
):
    """Built on (None, None, 1), fed a too-small input eagerly: the call checks."""
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, Padding2D((pair, (1, 1)), mode=mode)(inputs))
    message = _limit_message(
        mode, phrase, 3, pair, limit_value, (pair, (1, 1)), (1, 3, 8, 1)
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        model(np.zeros((1, 3, 8, 1), "float32"))
    assert model(np.zeros((1, 5, 8, 1), "float32")).shape[1] == 5 + sum(pair)


def test_same_padding_beyond_the_limit_names_its_arguments():
    """For SamePadding the message points at kernel_size/dilation_rate."""
    message = (
        "Layer 'too_big': with mode='reflect' each pad must be less than the axis size, "
        "but spatial axis 1 (tensor axis 2) has size 2 and pads (before, after)=(2, 2), "
        "more than 1. Use a smaller `kernel_size` or `dilation_rate`, a larger input, or "
        "mode='replicate' or 'constant'. Received: kernel_size=(1, 5), strides=(1, 1), "
        "dilation_rate=(1, 1), input_shape=(1, 4, 2, 1)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        SamePadding2D((1, 5), mode="reflect", name="too_big")(np.zeros((1, 4, 2, 1)))


def test_replicate_refuses_to_pad_an_empty_axis():
    """There is no edge value to repeat on a size-0 axis."""
    with pytest.raises(ValueError, match=r"each pad must be zero on an empty axis"):
        Padding1D(1, mode="replicate")(np.zeros((1, 0, 2), "float32"))


# --- TF 'same' with run-time shapes -------------------------------------------


def _same_and_explicit_models(data_format):
    inputs = keras.Input(full_shape(None, (None, None), 3, data_format)[1:])
    same = keras.layers.Conv2D(4, 3, strides=2, padding="same", data_format=data_format)
    reference = keras.Model(inputs, same(inputs))
    pad = SamePadding2D(3, strides=2, data_format=data_format)
    valid = keras.layers.Conv2D(4, 3, strides=2, padding="valid", data_format=data_format)
    rewritten = keras.Model(inputs, valid(pad(inputs)))
    valid.set_weights(same.get_weights())
    return reference, rewritten, pad


@pytest.mark.parametrize("data_format", FORMATS)
def test_same_padding_with_stride_2_is_exact_for_runtime_sizes(data_format):
    """Sizes 10 and 11 need (0, 1) and (1, 1): eager and tf.function with None dims."""
    reference, rewritten, pad = _same_and_explicit_models(data_format)
    spec = tf.TensorSpec(full_shape(None, (None, None), 3, data_format))
    # XLA where this CPU's TensorFlow kernels refuse the layout (`tests/kernels.py`).
    xla = bool(unrunnable_layers(reference))
    graph_reference = tf.function(reference, input_signature=[spec], jit_compile=xla)
    graph_rewritten = tf.function(rewritten, input_signature=[spec], jit_compile=xla)
    graph_pad = tf.function(pad, input_signature=[spec])
    rng = np.random.default_rng(0)
    for spatial, pads in [((10, 10), (0, 1)), ((11, 11), (1, 1)), ((10, 11), None)]:
        x = rng.normal(size=full_shape(2, spatial, 3, data_format)).astype("float32")
        expected = run_model(reference, x)
        for got in (run_model(rewritten, x), graph_rewritten(x).numpy()):
            assert np.max(np.abs(got - expected)) == 0.0
        np.testing.assert_array_equal(graph_reference(x).numpy(), expected)
        if pads is not None:
            padded = numpy_pad(x, (pads, pads), "constant", data_format)
            np.testing.assert_array_equal(pad(x).numpy(), padded)
            np.testing.assert_array_equal(graph_pad(x).numpy(), padded)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rank", RANKS)
@pytest.mark.parametrize("mode", MODES)
def test_same_padding_in_graph_mode_uses_runtime_shape(mode, rank, data_format):
    """tf.function with None spatial dims: pads computed per call equal same_pads."""
    kernel, stride, dilation = (4, 3, 2)[:rank], (2, 3, 2)[:rank], (1, 1, 2)[:rank]
    value = -2.0 if mode == "constant" else 0.0
    layer = SAME_PADDING_CLASSES[rank](
        kernel,
        strides=stride,
        dilation_rate=dilation,
        mode=mode,
        constant_value=value,
        data_format=data_format,
    )
    spec = tf.TensorSpec(full_shape(None, (None,) * rank, 2, data_format))
    graph = tf.function(layer, input_signature=[spec])
    for spatial in [(5, 6, 7), (6, 7, 5), (8, 8, 8)]:
        spatial = spatial[:rank]
        x = distinct_values(full_shape(1, spatial, 2, data_format))
        pads = [same_pads(*args) for args in zip(spatial, kernel, stride, dilation)]
        np.testing.assert_array_equal(
            graph(x).numpy(), numpy_pad(x, pads, mode, data_format, value)
        )
    assert graph.experimental_get_tracing_count() == 1


# --- models and training ------------------------------------------------------


def _conv_pad_conv(builder, mode):
    first = keras.layers.Conv2D(3, 2, name="before_pad")
    layers_ = [first, Padding2D(((1, 2), (2, 1)), mode=mode), keras.layers.Conv2D(2, 3)]
    if builder == "sequential":
        return keras.Sequential([keras.Input((5, 5, 2)), *layers_]), first
    inputs = keras.Input((5, 5, 2))
    x = inputs
    for layer in layers_:
        x = layer(x)
    return keras.Model(inputs, x), first


@pytest.mark.parametrize("builder", ["functional", "sequential"])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_flow_through_the_pad_to_an_earlier_kernel(mode, builder):
    """Conv -> pad -> conv in a Functional and a Sequential model."""
    model, first = _conv_pad_conv(builder, mode)
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 2)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    gradient = tape.gradient(loss, first.kernel)
    assert gradient is not None
    assert np.any(gradient.numpy() != 0.0)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_wrt_input_is_the_adjoint_of_numpy_pad(mode):
    """d/dx sum(pad(x) * r) adds r back onto the source of every padded element."""
    pads = ((2, 1), (0, 3))
    x = tf.constant(distinct_values((1, 3, 4, 1)))
    r = np.random.default_rng(2).normal(size=(1, 6, 7, 1)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = 5.0 if mode == "constant" else 0.0
        loss = tf.reduce_sum(Padding2D(pads, mode=mode, constant_value=value)(x) * r)
    source = numpy_pad(np.arange(12).reshape(1, 3, 4, 1), pads, mode, "channels_last", -1)
    expected = np.zeros(12)
    np.add.at(expected, source[source >= 0], r[source >= 0])
    np.testing.assert_allclose(
        tape.gradient(loss, x).numpy().ravel(), expected, rtol=1e-6, atol=1e-6
    )


def test_fit_one_epoch_trains_through_every_mode():
    """model.fit (graph mode) updates a kernel that sits before all five pads."""
    inputs = keras.Input((None, None, 2))
    first = keras.layers.Conv2D(2, 3, padding="valid", name="before_pads")
    x = first(inputs)
    for mode in MODES:
        x = Padding2D(1, mode=mode, constant_value=0.5 if mode == "constant" else 0.0)(x)
    x = keras.layers.Conv2D(1, 3)(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = first.kernel.numpy().copy()
    rng = np.random.default_rng(3)
    history = model.fit(
        rng.normal(size=(8, 6, 6, 2)).astype("float32"),
        rng.normal(size=(8, 1)).astype("float32"),
        epochs=1,
        batch_size=4,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][0])
    assert np.any(first.kernel.numpy() != before)


# --- ONNX export hook ---------------------------------------------------------


def _graph_op_types(layer, spec):
    graph = tf.function(layer).get_concrete_function(spec).graph
    return {op.name.rsplit("/", 1)[-1]: op.type for op in graph.get_operations()}


@pytest.mark.parametrize("mode", MODES)
def test_export_hook_traces_placeholder_pads(mode):
    """Under onnx_placeholder_pads(), replicate/symmetric/circular trace to a
    MirrorPad named padrewrite_<mode>; outside it, and for other modes, never."""
    name = placeholder_op_name(mode)
    assert name == f"padrewrite_{mode}"
    for layer, spec in [
        (Padding2D(((1, 2), (2, 1)), mode=mode), tf.TensorSpec((1, 4, 5, 2))),
        (SamePadding2D(3, strides=2, mode=mode), tf.TensorSpec((None, None, None, 2))),
    ]:
        with onnx_placeholder_pads():
            traced = _graph_op_types(layer, spec)
        if mode in ("replicate", "symmetric", "circular"):
            assert traced.get(name) == "MirrorPad"
        else:
            assert name not in traced
        assert name not in _graph_op_types(layer, spec)
