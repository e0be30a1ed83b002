"""Random graphs (tests/graph_strategies.py): the rewritten model against the original.

The truth test: in constant mode with value 0 the rewritten model computes what the
original computes (max abs diff 0, at worst float32 rounding: see `_assert_close`).
In the other modes (and constant 0.5) the outputs keep their shapes and dtypes, and
every output position whose receptive field never reaches a rewritten pad (the clean
intervals of graph_strategies) is equal; pads a mode cannot take are refused. Each
example also checks the report against the drawn graph, the rewritten model's
structure (paths, weights, parameter count, pad layers and their names) and that the
input model is untouched. What the pads contain in each mode is not checked here but
in the padding layers' own tests (against numpy.pad).

The last tests reproduce the bugs these graphs led to.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import keras
import numpy as np
import pytest
from graph_strategies import CONVOLUTION, PADDING, Context, random_models
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from kernels import run_model

from padrewrite.layers import PADDING_CLASSES, SAME_PADDING_CLASSES
from padrewrite.rewrite import RewriteError, rewrite_model

L = keras.layers
ZERO_PADDINGS = (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)

EXACT = 1e-6
# (mode, constant_value): every mode whose pads differ from the original zeros
OTHER_MODES = (
    ("reflect", 0.0),
    ("replicate", 0.0),
    ("symmetric", 0.0),
    ("circular", 0.0),
    ("constant", 0.5),
)

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
# Shrinking a failing graph rebuilds hundreds of Keras models (minutes): off unless
# PADREWRITE_SHRINK=1. A failure prints the whole drawn graph and a reproduce blob.
_PHASES = (
    tuple(Phase)
    if os.environ.get("PADREWRITE_SHRINK")
    else (Phase.explicit, Phase.reuse, Phase.generate)
)
FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=_HEALTH,
    phases=_PHASES,
    print_blob=True,
)
SLOW = settings(FAST, max_examples=200)


# -- helpers -------------------------------------------------------------------


def _run(model, data) -> list[np.ndarray]:
    return [np.asarray(y) for y in keras.tree.flatten(run_model(model, data))]


def _walk(model, prefix=""):
    """(path, layer) for every layer, nested models included (`outer/inner/conv`)."""
    for layer in model.layers:
        yield prefix + layer.name, layer
        if isinstance(layer, keras.Model):
            yield from _walk(layer, f"{prefix}{layer.name}/")


def _container(model, path):
    """The (nested) model holding the layer at `path`."""
    for name in path.split("/")[:-1]:
        model = model.get_layer(name)
    return model


def _snapshot(model, data):
    return (
        [w.copy() for w in model.get_weights()],
        [(path, layer.get_config()) for path, layer in _walk(model)],
        _run(model, data),
    )


def _draw_options(data, case, rule_sets):
    rules = data.draw(st.sampled_from(rule_sets), label="rules")
    exclude = ()
    if case.convolution_names and data.draw(st.integers(0, 3), label="exclude?") == 0:
        exclude = (data.draw(st.sampled_from(case.convolution_names), label="exclude"),)
    return rules, exclude


def _check_untouched(case, before, data):
    weights, configs, outputs = before
    after = _snapshot(case.model, data)
    assert all(np.array_equal(a, b) for a, b in zip(weights, after[0]))
    assert configs == after[1]
    for a, b in zip(outputs, after[2]):
        np.testing.assert_array_equal(a, b)


def _check_report(case, result, mode, rules, exclude, constant_value=0.0):
    """The report lists every call the rules concern, as the drawn graph predicts."""
    report = result.report
    assert report.mode == mode and report.constant_value == constant_value
    json.dumps(report.to_dict())
    assert report.summary().startswith("rewrote ")

    def key(path, class_name, kind, action, pads):
        return (path, class_name, kind, action, pads if action == "rewritten" else None)

    expected = Counter(
        key(c.path, c.class_name, c.kind, c.action(rules, exclude), c.pads)
        for c in case.calls
        if c.action(rules, exclude) is not None
    )
    actual = Counter(
        key(r.path, r.class_name, r.kind, r.action, r.pads) for r in report.records
    )
    assert actual == expected

    calls_per_path = Counter(r.path for r in report.records)
    for path, count in calls_per_path.items():
        indices = sorted(r.call_index for r in report.records if r.path == path)
        assert indices == list(range(count)), path

    taken = {layer.name for _, layer in _walk(case.model)}
    for record in report.records:
        container = _container(result.model, record.path)
        if record.action != "rewritten":
            assert record.pad_layer is None and record.mode is None
            continue
        assert record.mode == mode
        pad = container.get_layer(record.pad_layer)
        runtime = any(p is None for p in record.pads)
        classes = SAME_PADDING_CLASSES if runtime else PADDING_CLASSES
        assert type(pad) is classes[case.rank]
        assert pad.mode == mode and pad.data_format == case.data_format
        assert pad.constant_value == constant_value
        if not runtime:
            assert tuple(pad.padding) == tuple(record.pads)
        if record.kind == PADDING:
            assert record.pad_layer == record.name  # the ZeroPadding layer's place
            continue
        # `<conv>_pad` (`<conv>_pad_<i>` for call i > 0), suffixed when that name is taken
        base = f"{record.name}_pad" + (f"_{record.call_index}" if record.call_index else "")
        if base in taken:
            assert record.pad_layer.startswith(base + "_")
        else:
            assert record.pad_layer == base
        assert record.pad_layer not in taken
        taken.add(record.pad_layer)
        assert container.get_layer(record.name).get_config()["padding"] == "valid"


def _check_structure(case, result):
    """Every original layer is there, at the same path, with the same weights."""
    new_layers = dict(_walk(result.model))
    rewritten = {r.path: r.action == "rewritten" for r in result.report.records}
    for path, layer in _walk(case.model):
        assert path in new_layers, f"layer {path!r} is missing from the rewritten model"
        new = new_layers[path]
        if isinstance(layer, ZERO_PADDINGS) and rewritten.get(path):
            assert type(new) is PADDING_CLASSES[case.rank]  # the zero-padding rule's work
        else:
            assert type(new) is type(layer)
        if not isinstance(layer, keras.Model):
            for a, b in zip(layer.get_weights(), new.get_weights(), strict=True):
                np.testing.assert_array_equal(a, b)
    assert result.model.count_params() == case.model.count_params()


def _assert_close(original, rewritten, where=""):
    """Equal up to float32 rounding: |diff| <= 1e-6 * max(1, max |original|).

    Usually the difference is exactly 0. But oneDNN (on by default on x86) may sum a
    'same' convolution in another order than the same convolution on an explicitly
    padded input: a lone float32 Conv2D(6, 4, strides=(1, 2)) on a 12x11x1 input
    differs by 1.9e-6 (both equally close to a float64 reference; bit-identical with
    TF_ENABLE_ONEDNN_OPTS=0). So the bound scales with the output's magnitude.
    """
    assert original.shape == rewritten.shape, where
    assert original.dtype == rewritten.dtype, where
    if original.size:
        a, b = original.astype(np.float64), rewritten.astype(np.float64)
        diff = float(np.max(np.abs(a - b)))
        bound = EXACT * max(1.0, float(np.max(np.abs(a))))
        assert diff <= bound, f"{where}: max abs diff {diff:g} > {bound:g}"
        if currently_in_test_context():
            event("bit-exact" if diff == 0 else "equal up to rounding")


def _interior(case, array, axes):
    index = [slice(None)] * array.ndim
    for axis, interval in zip(case.spatial_axes, axes):
        index[axis] = slice(interval.lo, interval.hi)
    return array[tuple(index)]


# -- the checks ------------------------------------------------------------------


def _expect_refusal(case, mode, constant_value, rules, exclude, violations=()):
    """Check the documented refusals; True if rewrite_model refused (as it had to).

    A shared layer with a call to pad and a call without pads cannot be one copy; a
    pad larger than the mode allows at a size known when rewriting is refused.
    """
    shared = [path.rsplit("/", 1)[-1] for path in case.shared_conflicts(rules, exclude)]
    if not shared and not violations:
        return False
    event("refused: " + ("shared layer" if shared else "pad over the mode's limit"))
    with pytest.raises(RewriteError) as info:
        rewrite_model(case.model, mode, constant_value, rules=rules, exclude=exclude,
                      causal_mode="as-mode")
    message = str(info.value)
    reasons = [f"Shared layer '{name}'" for name in shared] + [
        f"'{path}'" for path in violations
    ]
    assert any(reason in message for reason in reasons), message
    if not shared:
        assert f"{mode} padding must be" in message
    return True


def check_constant_zero(case, rules=(), exclude=()):
    """Constant 0: every output equal to the original's, plus report and structure checks."""
    if _expect_refusal(case, "constant", 0.0, rules, exclude):
        return
    before = _snapshot(case.model, case.input_data(0))
    result = rewrite_model(case.model, "constant", 0.0, rules=rules, exclude=exclude)
    _check_untouched(case, before, case.input_data(0))
    _check_report(case, result, "constant", rules, exclude)
    _check_structure(case, result)
    for scenario in range(len(case.scenarios)):
        data = case.input_data(scenario)
        original, rewritten = _run(case.model, data), _run(result.model, data)
        assert len(original) == len(rewritten)
        for index, (a, b) in enumerate(zip(original, rewritten)):
            _assert_close(a, b, f"scenario {scenario}, output {index}")
    event(f"{sum(r.action == 'rewritten' for r in result.report.records)} rewritten calls")


def check_mode(case, mode, constant_value=0.0, rules=(), exclude=()):
    """Another mode: shapes and dtypes kept, clean positions equal, limits enforced."""
    contexts = [Context(mode, rules, exclude, constant_value) for _ in case.scenarios]
    geometries = [case.geometry(i, ctx) for i, ctx in enumerate(contexts)]
    known = [path for ctx in contexts for path, static in ctx.violations if static]
    if _expect_refusal(case, mode, constant_value, rules, exclude, known):
        return
    before = _snapshot(case.model, case.input_data(0))
    # Every mode on causal convolutions too: their pads are what is checked here
    # (causality is tested in test_padding_choices.py).
    result = rewrite_model(
        case.model, mode, constant_value, rules=rules, exclude=exclude, causal_mode="as-mode"
    )
    _check_untouched(case, before, case.input_data(0))
    _check_report(case, result, mode, rules, exclude, constant_value)
    _check_structure(case, result)
    compared = 0
    for scenario, (ctx, geometry) in enumerate(zip(contexts, geometries)):
        data = case.input_data(scenario)
        original = _run(case.model, data)
        if ctx.violations:
            # only known at run time (size None when rewriting): the pad layer refuses
            event("refused at run time: pad over the mode's limit")
            with pytest.raises(ValueError, match=f"with mode='{mode}'"):
                result.model(data, training=False)
            continue
        rewritten = _run(result.model, data)
        for index, (a, b, axes) in enumerate(zip(original, rewritten, geometry)):
            where = f"scenario {scenario}, output {index}, clean {axes}"
            assert a.shape == b.shape and a.dtype == b.dtype, where
            spatial = tuple(a.shape[axis] for axis in case.spatial_axes)
            assert spatial == tuple(axis.size for axis in axes), where
            _assert_close(_interior(case, a, axes), _interior(case, b, axes), where)
            compared += _interior(case, a, axes).size
    event("compared some positions" if compared else "no clean position")


ZERO_RULES = ((), ("zero-padding",))
MODE_RULES = ((), ("zero-padding",), ("pooling-same",), ("zero-padding", "pooling-same"))


@FAST
@given(case=random_models(), data=st.data())
def test_constant_zero_is_exact(case, data):
    check_constant_zero(case, *_draw_options(data, case, ZERO_RULES))


@FAST
@given(case=random_models(), mode=st.sampled_from(OTHER_MODES), data=st.data())
def test_other_modes_keep_shapes_and_interior(case, mode, data):
    check_mode(case, *mode, *_draw_options(data, case, MODE_RULES))


@pytest.mark.slow
@SLOW
@given(case=random_models(max_steps=5), data=st.data())
def test_constant_zero_is_exact_many(case, data):
    check_constant_zero(case, *_draw_options(data, case, ZERO_RULES))


@pytest.mark.slow
@SLOW
@given(case=random_models(max_steps=5), mode=st.sampled_from(OTHER_MODES), data=st.data())
def test_other_modes_keep_shapes_and_interior_many(case, mode, data):
    check_mode(case, *mode, *_draw_options(data, case, MODE_RULES))


# -- the oracle itself -----------------------------------------------------------


def test_constant_mode_geometry_is_clean_everywhere():
    """Sanity of the oracle: without rewritten values, every position is clean."""

    @settings(FAST, max_examples=15)
    @given(case=random_models())
    def check(case):
        for scenario in range(len(case.scenarios)):
            outputs = _run(case.model, case.input_data(scenario))
            for array, axes in zip(outputs, case.geometry(scenario, Context())):
                assert all(a.lo == 0 and a.hi == a.size for a in axes)
                assert tuple(array.shape[i] for i in case.spatial_axes) == tuple(
                    a.size for a in axes
                )

    check()


def test_oracle_interior_is_not_vacuous():
    """A reflect rewrite of a 'same' conv: the clean interval is exactly the inner part."""
    from graph_strategies import Axis, Call, Node, evaluate, window_transfer

    call = Call("c", "c", "Conv1D", CONVOLUTION, "same", ((1, 1),), (10,))
    node = Node([Node(key="x")], window_transfer(call, (3,), (1,), (1,)))
    (axis,) = evaluate(node, {"x": (Axis(10, 0, 10),)}, Context("reflect"))
    assert axis == Axis(10, 1, 9)
    (axis,) = evaluate(node, {"x": (Axis(10, 0, 10),)}, Context("reflect", exclude=("c",)))
    assert axis == Axis(10, 0, 10)


# -- bugs found while writing these tests (minimal reproductions) -----------------


def test_unnamed_inputs_keep_their_layer_names():
    """An Input without a name is the layer 'input_layer…' and must keep that name.

    (Names are how dict inputs, `get_layer` and ONNX input names find it.)
    """
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, L.Conv2D(2, 3, padding="same", name="conv")(inputs))
    rewritten = rewrite_model(model, "reflect").model
    assert [layer.name for layer in rewritten.layers if isinstance(layer, L.InputLayer)] == [
        model.layers[0].name
    ]


@settings(FAST, max_examples=15)
@given(case=random_models(with_ops=True), data=st.data())
def test_graphs_with_keras_ops_operations(case, data):
    """`x + y` or `keras.ops.relu(x)` on symbolic tensors puts an operation that is not a
    layer into the graph (ConvNeXt and MobileNetV3 in keras.applications do this)."""
    check_constant_zero(case, *_draw_options(data, case, ZERO_RULES))


def _shared_zero_padding_model():
    x = keras.Input((8, 8, 2), name="x")
    pad = L.ZeroPadding2D(1, name="pad")
    conv = L.Conv2D(2, 3, name="conv")  # 'valid': the zero-padding rule applies
    return keras.Model(x, [conv(pad(x)), conv(pad(L.ReLU(name="relu")(x)))])


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_shared_zero_padding_layer_with_the_rule(mode):
    """A ZeroPadding layer called twice, both calls feeding a 'valid' convolution."""
    model = _shared_zero_padding_model()
    result = rewrite_model(model, mode, rules=("zero-padding",))
    records = [r for r in result.report.records if r.name == "pad"]
    assert [(r.call_index, r.action) for r in records] == [(0, "rewritten"), (1, "rewritten")]
    data = np.random.default_rng(0).standard_normal((2, 8, 8, 2)).astype("float32")
    for a, b in zip(_run(model, data), _run(result.model, data)):
        assert a.shape == b.shape
        if mode == "constant":
            _assert_close(a, b)
        else:  # away from the border (3x3 'valid' conv on 1-padded input: rows 1..6)
            _assert_close(a[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1])


def test_zero_padding_that_is_also_a_model_output_is_left_alone():
    """The rule is for ZeroPadding feeding only 'valid' windows; a model output is a
    consumer too, and rewriting it changes that output's border from zeros."""
    x = keras.Input((6, 6, 1), name="x")
    padded = L.ZeroPadding2D(1, name="pad")(x)
    model = keras.Model(x, [L.Conv2D(1, 3, name="conv")(padded), padded])
    result = rewrite_model(model, "reflect", rules=("zero-padding",))
    data = np.arange(36, dtype="float32").reshape(1, 6, 6, 1)
    np.testing.assert_array_equal(_run(model, data)[1], _run(result.model, data)[1])
    (record,) = [r for r in result.report.records if r.name == "pad"]
    assert record.action == "skipped"

