"""ONNX passes on hand-built graphs, checked with onnxruntime against numpy.pad."""

from __future__ import annotations

import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from padrewrite.modes import NUMPY_NAMES
from padrewrite.onnx.graph import ExportError, count_ops, model_opset, set_io_names
from padrewrite.onnx.lower_placeholder_pads import lower_placeholder_pads
from padrewrite.onnx.match_pad_value_types import (
    PadValueCast,
    PadValueTyping,
    match_pad_value_types,
)
from padrewrite.onnx.pads import WRAP_OPSET, placeholder_mode
from padrewrite.onnx.raise_opset import OpsetRaise, raise_opset
from padrewrite.onnx.sink_pads_below_layout_ops import (
    LayoutMove,
    sink_pads_below_layout_ops,
)

IR_VERSION = 8  # helper.make_model's default is newer than onnxruntime accepts
LOWERED_MODES = ("replicate", "symmetric", "circular")
DATA_OPS_FORBIDDEN = {"Gather", "GatherElements", "GatherND", "Compress", "ScatterElements"}


def make_model(nodes, inputs, outputs, initializers=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def value(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def placeholder_pad_model(shape, pads, mode, opset=18, name=None):
    """x -> Pad(reflect) named like an exported placeholder -> y."""
    rank = len(shape)
    width = [(b, a) for b, a in pads]
    out_shape = [n + b + a for n, (b, a) in zip(shape, width)]
    node = helper.make_node(
        "Pad", ["x", "pads"], ["y"], mode="reflect",
        name=name or f"model/layer_1/padrewrite_{mode}",
    )
    flat = [b for b, _ in width] + [a for _, a in width]
    assert len(flat) == 2 * rank
    return make_model(
        [node], [value("x", shape)], [value("y", out_shape)], [ints("pads", flat)], opset
    )


def dynamic_pad_model(shape, mode, opset=18, known_zero_axes=()):
    """x, pads (run-time input) -> Pad(reflect) placeholder -> y.

    With `known_zero_axes`, the pads of those axes are constant zeros
    concatenated (as tf2onnx builds them) with the run-time part.
    """
    rank = len(shape)
    nodes = []
    initializers = []
    inputs = [value("x", shape)]
    if known_zero_axes:
        # pads matrix [rank, 2] = rows of constant zeros or of the input rows.
        free = [axis for axis in range(rank) if axis not in known_zero_axes]
        inputs.append(value("pads", [len(free), 2], TensorProto.INT64))
        initializers.append(ints("zero_row", [[0, 0]]))
        nodes.append(helper.make_node("Split", ["pads"], [f"row{a}" for a in free], axis=0, num_outputs=len(free)))
        rows = ["zero_row" if axis in known_zero_axes else f"row{axis}" for axis in range(rank)]
        nodes += [
            helper.make_node("Concat", rows, ["matrix"], axis=0),
            helper.make_node("Transpose", ["matrix"], ["matrix_t"], perm=[1, 0]),
            helper.make_node("Reshape", ["matrix_t", "flat_shape"], ["pads_flat"]),
        ]
        initializers.append(ints("flat_shape", [-1]))
        pads_name = "pads_flat"
    else:
        inputs.append(value("pads", [2 * rank], TensorProto.INT64))
        pads_name = "pads"
    nodes.append(
        helper.make_node("Pad", ["x", pads_name], ["y"], mode="reflect",
                         name=f"m/sp/padrewrite_{mode}")
    )
    out = value("y", [f"d{i}" for i in range(rank)])
    return make_model(nodes, inputs, [out], initializers, opset)


def run(model, **feeds):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def lowered(model):
    """Lower a copy of `model`, check it, return (model, records)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    records = lower_placeholder_pads(copy).lowerings
    onnx.checker.check_model(copy, full_check=True)
    return copy, records


def reference(x, pads, mode):
    return np.pad(x, pads, mode=NUMPY_NAMES[mode])


# Static pads: (shape, pads per axis); NCHW-like, NHWC-like, 1D, 3D, asymmetric.
STATIC_CASES = [
    ((1, 2, 5, 6), [(0, 0), (0, 0), (1, 2), (2, 1)]),  # NCHW
    ((2, 5, 6, 3), [(0, 0), (2, 0), (0, 3), (0, 0)]),  # NHWC, one side only
    ((1, 3, 7), [(0, 0), (0, 0), (3, 1)]),  # NCW
    ((1, 2, 3, 4, 5), [(0, 0), (0, 0), (1, 1), (2, 3), (0, 5)]),  # NCDHW
    ((1, 4, 4, 1), [(0, 0), (4, 4), (4, 4), (0, 0)]),  # pad == size
]


@pytest.mark.parametrize("mode", LOWERED_MODES)
@pytest.mark.parametrize("opset", [18, WRAP_OPSET])
@pytest.mark.parametrize("shape,pads", STATIC_CASES)
def test_static_pads_match_numpy(mode, opset, shape, pads):
    model, records = lowered(placeholder_pad_model(shape, pads, mode, opset))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(run(model, x=x), reference(x, pads, mode))
    (record,) = records
    assert record.mode == mode
    assert record.pads == tuple([b for b, _ in pads] + [a for _, a in pads])


@pytest.mark.parametrize("mode", LOWERED_MODES)
@pytest.mark.parametrize("opset", [18, WRAP_OPSET])
@pytest.mark.parametrize("shape,pads", STATIC_CASES)
def test_static_pads_use_the_fewest_ops(mode, opset, shape, pads):
    model, (record,) = lowered(placeholder_pad_model(shape, pads, mode, opset))
    counts = count_ops(model)
    padded = [axis for axis, (b, a) in enumerate(pads) if b or a]
    native = mode == "replicate" or (mode == "circular" and opset >= WRAP_OPSET)
    if native:
        assert counts == {"Pad": 1}
        (pad,) = model.graph.node
        mode_attribute = helper.get_attribute_value(pad.attribute[0])
        assert mode_attribute == (b"edge" if mode == "replicate" else b"wrap")
        assert record.lowered_to == f"Pad({mode_attribute.decode()})"
    else:
        sides = sum(bool(b) + bool(a) for b, a in pads)
        assert counts == {"Concat": len(padded), "Slice": sides}
        assert record.lowered_to == "Slice+Concat"
        assert record.axes == tuple(padded)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), mode=st.sampled_from(LOWERED_MODES), opset=st.sampled_from([18, 19]))
def test_random_static_pads_match_numpy(data, mode, opset):
    rank = data.draw(st.integers(1, 4), label="rank")
    shape = data.draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank), label="shape")
    limit = (lambda n: n) if mode != "replicate" else (lambda n: 6)
    pads = [
        (data.draw(st.integers(0, limit(n))), data.draw(st.integers(0, limit(n))))
        for n in shape
    ]
    model, _ = lowered(placeholder_pad_model(shape, pads, mode, opset))
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.testing.assert_array_equal(run(model, x=x), reference(x, pads, mode))


@pytest.mark.parametrize("mode", LOWERED_MODES)
@pytest.mark.parametrize("opset", [18, WRAP_OPSET])
def test_run_time_pads_match_numpy_including_zero_pads(mode, opset):
    shape = (1, 2, 5, 4)
    model, (record,) = lowered(dynamic_pad_model(shape, mode, opset))
    assert record.pads is None
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for pads in ([(0, 0), (0, 0), (1, 2), (2, 1)], [(0, 0), (1, 0), (0, 1), (0, 0)],
                 [(0, 0), (0, 0), (0, 0), (0, 0)], [(1, 1), (2, 2), (5, 5), (4, 4)]):
        flat = np.array([b for b, _ in pads] + [a for _, a in pads], dtype=np.int64)
        np.testing.assert_array_equal(run(model, x=x, pads=flat), reference(x, pads, mode))


@pytest.mark.parametrize("mode", ["symmetric", "circular"])
def test_run_time_pads_slice_only_axes_that_may_be_padded(mode):
    shape = (2, 3, 6, 5)  # NCHW: batch and channel pads are constant zeros
    model, (record,) = lowered(dynamic_pad_model(shape, mode, 18, known_zero_axes=(0, 1)))
    assert record.axes == (2, 3)
    counts = count_ops(model)
    data_slices = [
        node for node in model.graph.node
        if node.op_type == "Slice" and node.input[0] not in ("pads_flat",)
    ]
    assert len(data_slices) == 4 and counts["Concat"] == 2 + 1  # + tf2onnx-like Concat
    assert not DATA_OPS_FORBIDDEN & set(counts)
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    for rows in ([[1, 2], [0, 3]], [[0, 0], [5, 0]]):
        pads = [(0, 0), (0, 0), *map(tuple, rows)]
        got = run(model, x=x, pads=np.array(rows, dtype=np.int64))
        np.testing.assert_array_equal(got, reference(x, pads, mode))


def test_lowering_leaves_other_pads_alone():
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["a"], mode="reflect", name="m/l/MirrorPad"),
        helper.make_node("Pad", ["a", "pads"], ["y"], mode="constant", name="m/padrewrite_symmetric"),
    ]
    model = make_model(nodes, [value("x", [1, 4])], [value("y", [1, 8])], [ints("pads", [0, 1, 0, 1])])
    copy, records = lowered(model)
    assert records == ()
    assert copy == model


def test_lowering_is_idempotent():
    model, first = lowered(placeholder_pad_model((1, 4), [(0, 0), (1, 1)], "replicate"))
    again, second = lowered(model)
    assert len(first) == 1 and second == ()
    assert again == model


def test_all_zero_pads_become_identity():
    model, (record,) = lowered(placeholder_pad_model((1, 4), [(0, 0), (0, 0)], "symmetric"))
    assert record.lowered_to == "Identity" and count_ops(model) == {"Identity": 1}
    x = np.ones((1, 4), np.float32)
    np.testing.assert_array_equal(run(model, x=x), x)


def test_negative_pads_are_refused():
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect", name="padrewrite_symmetric")
    model = make_model([node], [value("x", [1, 4])], [value("y", [1, 3])], [ints("pads", [0, -1, 0, 0])])
    with pytest.raises(ExportError, match=r"negative pads .* Received: pads=\[0, -1, 0, 0\]"):
        lower_placeholder_pads(model)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("functional_1/c1_pad_1/padrewrite_replicate", "replicate"),
        ("padrewrite_circular", "circular"),
        ("a/padrewrite_symmetric_1", "symmetric"),
        ("a/padrewrite_symmetric__59", None),  # tf2onnx helper node, not the pad
        ("a/padrewrite_symmetric/b", None),
        ("a/padrewrite_reflect", None),
    ],
)
def test_placeholder_names(name, expected):
    node = helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect", name=name)
    assert placeholder_mode(node) == expected


# -- hoisting ---------------------------------------------------------------


def conv_weights(channels):
    return numpy_helper.from_array(
        np.random.default_rng(3).standard_normal((2, channels, 3)).astype(np.float32), "w"
    )


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_sinks_below_a_transpose(mode):
    # NWC -> Pad -> Transpose(NCW) -> Conv: the Pad should end up feeding the Conv.
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode=mode, name="pad"),
        helper.make_node("Transpose", ["p"], ["t"], perm=[0, 2, 1], name="tr"),
        helper.make_node("Conv", ["t", "w"], ["y"], name="conv"),
    ]
    model = make_model(
        nodes, [value("x", [1, 6, 3])], [value("y", [1, 2, 7])],
        [ints("pads", [0, 1, 0, 0, 2, 0]), conv_weights(3)],
    )
    x = np.random.default_rng(4).standard_normal((1, 6, 3)).astype(np.float32)
    expected = run(model, x=x)
    assert sink_pads_below_layout_ops(model).moves == (LayoutMove("pad", "tr", "Transpose"),)
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Pad", "Conv"]
    assert model.graph.node[2].input[0] == model.graph.node[1].output[0]
    np.testing.assert_array_equal(run(model, x=x), expected)


def test_pad_sinks_below_an_unsqueeze_and_keeps_its_placeholder_name():
    # NCW -> Pad -> Unsqueeze(axis 2) -> Conv (as tf2onnx emits Conv1D).
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect", name="m/padrewrite_symmetric"),
        helper.make_node("Unsqueeze", ["p", "axes"], ["u"], name="unsq"),
        helper.make_node("Conv", ["u", "w4"], ["y"], name="conv"),
    ]
    w4 = numpy_helper.from_array(
        np.random.default_rng(5).standard_normal((2, 3, 1, 3)).astype(np.float32), "w4"
    )
    model = make_model(
        nodes, [value("x", [1, 3, 6])], [value("y", [1, 2, 1, 8])],
        [ints("pads", [0, 0, 2, 0, 0, 2]), ints("axes", [2]), w4],
    )
    assert sink_pads_below_layout_ops(model).moves == (
        LayoutMove("m/padrewrite_symmetric", "unsq", "Unsqueeze"),
    )
    assert [n.op_type for n in model.graph.node] == ["Unsqueeze", "Pad", "Conv"]
    (record,) = lower_placeholder_pads(model).lowerings
    onnx.checker.check_model(model, full_check=True)
    assert record.axes == (3,)
    assert model.graph.node[-1].op_type == "Conv"
    assert model.graph.node[-2].op_type == "Concat"
    x = np.random.default_rng(6).standard_normal((1, 3, 6)).astype(np.float32)
    padded = np.pad(x, [(0, 0), (0, 0), (2, 2)], mode="symmetric")[:, :, None, :]
    w = numpy_helper.to_array(w4)
    expected = np.stack(
        [sum(np.convolve(padded[0, c, 0], w[o, c, 0, ::-1], "valid") for c in range(3)) for o in range(2)]
    )[None, :, None, :]
    np.testing.assert_allclose(run(model, x=x), expected, rtol=1e-5, atol=1e-5)


def test_pads_with_several_consumers_or_run_time_pads_do_not_sink():
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect", name="pad"),
        helper.make_node("Transpose", ["p"], ["t"], perm=[1, 0], name="tr"),
        helper.make_node("Relu", ["p"], ["r"], name="relu"),
        helper.make_node("Pad", ["x", "dyn"], ["q"], mode="reflect", name="pad2"),
        helper.make_node("Transpose", ["q"], ["u"], perm=[1, 0], name="tr2"),
    ]
    model = make_model(
        nodes, [value("x", [3, 4]), value("dyn", [4], TensorProto.INT64)],
        [value("t", [6, 3]), value("r", [3, 6]), value("u", ["a", "b"])],
        [ints("pads", [0, 1, 0, 1])],
    )
    before = onnx.ModelProto()
    before.CopyFrom(model)
    assert sink_pads_below_layout_ops(model).moves == ()
    assert model == before


# -- names, opsets ----------------------------------------------------------


def test_set_io_names_renames_and_adds_identity_for_shared_outputs():
    nodes = [helper.make_node("Relu", ["x:0"], ["Identity:0"], name="relu")]
    model = make_model(
        nodes, [value("x:0", [2])], [value("Identity:0", [2]), value("Identity:0", [2])]
    )
    set_io_names(model, ["img"], ["logits", "copy"])
    onnx.checker.check_model(model, full_check=True)
    assert [v.name for v in model.graph.input] == ["img"]
    assert [v.name for v in model.graph.output] == ["logits", "copy"]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    a, b = session.run(None, {"img": np.array([-1.0, 2.0], np.float32)})
    np.testing.assert_array_equal(a, [0.0, 2.0])
    np.testing.assert_array_equal(b, [0.0, 2.0])


def test_set_io_names_moves_a_clashing_internal_name():
    nodes = [
        helper.make_node("Relu", ["x"], ["logits"], name="relu"),
        helper.make_node("Neg", ["logits"], ["out:0"], name="neg"),
    ]
    model = make_model(nodes, [value("x", [2])], [value("out:0", [2])])
    set_io_names(model, ["x"], ["logits"])
    onnx.checker.check_model(model, full_check=True)
    assert run(model, x=np.array([-1.0, 2.0], np.float32)).tolist() == [-0.0, -2.0]


def test_set_io_names_checks_counts():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [value("x", [2])], [value("y", [2])])
    with pytest.raises(ExportError, match=r"has 1 outputs, expected 2\. Received: outputs=\['a', 'b'\]"):
        set_io_names(model, ["x"], ["a", "b"])


def test_raise_opset_then_wrap():
    model = placeholder_pad_model((1, 5), [(0, 0), (2, 3)], "circular", opset=18)
    raised = model
    record = raise_opset(raised, WRAP_OPSET)
    assert record == OpsetRaise(18, WRAP_OPSET, record.from_ir_version, raised.ir_version)
    assert model_opset(raised) == WRAP_OPSET and raised.ir_version >= 9
    (record,) = lower_placeholder_pads(raised).lowerings
    assert record.lowered_to == "Pad(wrap)"
    onnx.checker.check_model(raised, full_check=True)
    x = np.arange(5, dtype=np.float32)[None]
    np.testing.assert_array_equal(run(raised, x=x), np.pad(x, [(0, 0), (2, 3)], mode="wrap"))


@pytest.mark.parametrize("mode", ["symmetric", "circular"])
def test_static_pads_with_an_axes_input(mode):
    node = helper.make_node(
        "Pad", ["x", "pads", "", "axes"], ["y"], mode="reflect", name=f"padrewrite_{mode}"
    )
    model = make_model(
        [node], [value("x", [1, 2, 5])], [value("y", [1, 2, 8])],
        [ints("pads", [1, 2]), ints("axes", [-1])],
    )
    lowered_model, (record,) = lowered(model)
    assert record.pads == (0, 0, 1, 0, 0, 2) and record.axes == (2,)
    x = np.arange(10, dtype=np.float32).reshape(1, 2, 5)
    expected = reference(x, [(0, 0), (0, 0), (1, 2)], mode)
    np.testing.assert_array_equal(run(lowered_model, x=x), expected)


def test_pad_values_get_the_type_of_their_data():
    # As tf2onnx writes a float16 constant pad under mixed_float16: data cast to float32.
    nodes = [
        helper.make_node("Cast", ["x"], ["x32"], to=TensorProto.FLOAT, name="up"),
        helper.make_node("Pad", ["x32", "pads", "value"], ["p"], name="pad"),
        helper.make_node("Cast", ["p"], ["y"], to=TensorProto.FLOAT16, name="down"),
    ]
    value16 = numpy_helper.from_array(np.array(2.5, np.float16), "value")
    graph = helper.make_graph(
        nodes, "g", [value("x", [1, 3], TensorProto.FLOAT16)],
        [value("y", [1, 5], TensorProto.FLOAT16)], [ints("pads", [0, 1, 0, 1]), value16],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=IR_VERSION
    )
    with pytest.raises(Exception, match="constant_value has inconsistent type"):
        onnx.checker.check_model(model, full_check=True)
    record = match_pad_value_types(model)
    assert record == PadValueTyping((PadValueCast("pad", "float16", "float"),))
    onnx.checker.check_model(model, full_check=True)
    x = np.array([[1, 2, 3]], np.float16)
    np.testing.assert_array_equal(run(model, x=x), [[2.5, 1, 2, 3, 2.5]])
    assert match_pad_value_types(model) == PadValueTyping()


# -- Erfc (exact GELU) ------------------------------------------------------

ERFC_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16}
#: (rtol, atol) of 1 - Erf against math.erfc: float32, float16 rounding near 1.
ERFC_TOLERANCES = {TensorProto.FLOAT: (1e-6, 2e-7), TensorProto.FLOAT16: (2e-3, 1e-3)}


def erfc_model(elem_type=TensorProto.FLOAT):
    """x -> Erfc -> e (a graph output, also read) -> Mul(x, e) -> y, as tf2onnx leaves it."""
    nodes = [
        helper.make_node("Erfc", ["x"], ["e"], name="erfc"),
        helper.make_node("Mul", ["x", "e"], ["y"], name="mul"),
    ]
    graph = helper.make_graph(
        nodes, "g", [value("x", ["n"], elem_type)],
        [value("e", ["n"], elem_type), value("y", ["n"], elem_type)],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=IR_VERSION
    )


def erfc_inputs(dtype):
    """-30 to 30 (erf(x) rounds to +-1 beyond |x| of about 4) and more around 0."""
    rng = np.random.default_rng(7)
    x = np.concatenate([np.linspace(-30, 30, 2001), rng.standard_normal(500) * 3])
    return x.astype(dtype)


def math_erfc(x):
    return np.vectorize(math.erfc)(np.asarray(x, np.float64))


@pytest.mark.parametrize("elem_type", list(ERFC_TYPES), ids=["float32", "float16"])
def test_erfc_becomes_one_minus_erf_and_matches_math_erfc(elem_type):
    from padrewrite.onnx.replace_erfc import (
        ErfcReplacement,
        ErfcRewriting,
        replace_erfc,
    )

    model = erfc_model(elem_type)
    with pytest.raises(Exception, match="No Op registered for Erfc"):
        onnx.checker.check_model(model, full_check=True)
    type_name = {TensorProto.FLOAT: "float", TensorProto.FLOAT16: "float16"}[elem_type]
    assert replace_erfc(model) == ErfcRewriting(1, (ErfcReplacement("erfc", "e", type_name),))
    onnx.checker.check_model(model, full_check=True)
    assert count_ops(model) == {"Erf": 1, "Mul": 1, "Sub": 1}
    (one,) = model.graph.initializer
    assert one.data_type == elem_type and numpy_helper.to_array(one) == 1
    sub = next(node for node in model.graph.node if node.op_type == "Sub")
    assert list(sub.output) == ["e"] and sub.input[0] == one.name
    x = erfc_inputs(ERFC_TYPES[elem_type])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    e, y = session.run(None, {"x": x})
    assert e.dtype == x.dtype
    rtol, atol = ERFC_TOLERANCES[elem_type]
    np.testing.assert_allclose(e, math_erfc(x), rtol=rtol, atol=atol)
    np.testing.assert_allclose(y, x * math_erfc(x), rtol=rtol, atol=atol * 30)
    again = onnx.ModelProto()
    again.CopyFrom(model)
    assert replace_erfc(again) == ErfcRewriting() and again == model


def test_exact_gelu_as_tf2onnx_writes_it_stays_close_for_large_negative_inputs():
    # 0.5 * x * erfc(-x / sqrt(2)): erfc(z) for z > 4 is 1 - erf(z) with erf(z) ~ 1.
    from padrewrite.onnx.replace_erfc import replace_erfc

    nodes = [
        helper.make_node("Mul", ["half", "x"], ["half_x"]),
        helper.make_node("Neg", ["x"], ["neg"]),
        helper.make_node("Mul", ["neg", "rsqrt2"], ["z"]),
        helper.make_node("Erfc", ["z"], ["e"], name="Gelu/Erfc"),
        helper.make_node("Mul", ["half_x", "e"], ["y"]),
    ]
    scalars = [
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array(0.7071067811865476, np.float32), "rsqrt2"),
    ]
    graph = helper.make_graph(nodes, "g", [value("x", ["n"])], [value("y", ["n"])], scalars)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=IR_VERSION
    )
    assert replace_erfc(model).replaced == 1
    onnx.checker.check_model(model, full_check=True)
    x = erfc_inputs(np.float32)
    expected = 0.5 * x.astype(np.float64) * math_erfc(-x.astype(np.float64) / math.sqrt(2))
    got = run(model, x=x)
    far = x < -3
    assert np.abs(got - expected)[far].max() < 2e-7  # 8e-8 with onnxruntime 1.32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_graphs_without_erfc_are_left_alone_and_skip_the_pass():
    from padrewrite.onnx.passes import PassOptions, run_passes
    from padrewrite.onnx.replace_erfc import ErfcRewriting, has_erfc, replace_erfc

    model = make_model(
        [helper.make_node("Erf", ["x"], ["y"], name="erf")], [value("x", [3])], [value("y", [3])]
    )
    before = onnx.ModelProto()
    before.CopyFrom(model)
    assert not has_erfc(model)
    assert replace_erfc(model) == ErfcRewriting() and model == before
    assert "replace-erfc" not in [result.name for result in run_passes(model, PassOptions(18))]
    assert model == before
    with_erfc = erfc_model()
    results = run_passes(with_erfc, PassOptions(18))
    assert results[0].name == "replace-erfc"
    assert results[0].to_dict()["record"] == {
        "replaced": 1,
        "replacements": ({"node": "erfc", "output": "e", "elem_type": "float"},),
    }


def test_erfc_of_unknown_element_type_is_refused():
    from padrewrite.onnx.replace_erfc import replace_erfc

    nodes = [
        helper.make_node("Mystery", ["x"], ["m"], domain="example.custom", name="mystery"),
        helper.make_node("Erfc", ["m"], ["y"], name="erfc"),
    ]
    graph = helper.make_graph(nodes, "g", [value("x", [3])], [value("y", [3])])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("example.custom", 1)],
        ir_version=IR_VERSION,
    )
    with pytest.raises(ExportError, match=r"Erfc node 'erfc' .* unknown\. Received: input='m'"):
        replace_erfc(model)


def convmixer_model(approximate=False):
    """A small ConvMixer: patch embedding, depthwise 'same' + pointwise mixing, all GELU."""
    import keras

    layers = keras.layers

    def gelu(name):
        if approximate:
            return layers.Activation(
                lambda t: keras.activations.gelu(t, approximate=True), name=name
            )
        return layers.Activation("gelu", name=name)

    inputs = keras.Input((24, 24, 3), name="image")
    x = layers.Conv2D(16, 4, strides=4, name="patches")(inputs)
    x = layers.BatchNormalization(name="patches_bn")(gelu("patches_gelu")(x))
    for block in range(2):
        residual = x
        x = layers.DepthwiseConv2D(5, padding="same", name=f"depthwise_{block}")(x)
        x = gelu(f"depthwise_gelu_{block}")(x)
        x = layers.BatchNormalization(name=f"depthwise_bn_{block}")(x)
        x = layers.Add(name=f"residual_{block}")([x, residual])
        x = layers.Conv2D(16, 1, name=f"pointwise_{block}")(x)
        x = gelu(f"pointwise_gelu_{block}")(x)
        x = layers.BatchNormalization(name=f"pointwise_bn_{block}")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    head = "gelu" if not approximate else (lambda t: keras.activations.gelu(t, approximate=True))
    x = layers.Dense(12, activation=head, name="head")(x)  # "gelu": keras.activations.gelu, exact
    outputs = layers.Dense(5, dtype="float32", name="logits")(x)
    model = keras.Model(inputs, outputs, name="convmixer")
    rng = np.random.default_rng(8)
    for layer in model.layers:  # BatchNormalization with statistics of its own
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([
                1 + 0.2 * rng.standard_normal(gamma.shape), 0.2 * rng.standard_normal(beta.shape),
                0.5 * rng.standard_normal(mean.shape), 0.5 + rng.random(variance.shape),
            ])
    return model


def gelu_inputs():
    """Unit-scale, x10 and x100 images: GELU sees large positive and negative values."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 2, 24, 24, 3)).astype(np.float32)
    return [x[0], x[1] * 10, x[2] * 100]


def onnx_outputs(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0]


@pytest.fixture
def global_dtype_policy():
    """Set the global Keras dtype policy for one test; float32 again afterwards."""
    import keras

    try:
        yield keras.config.set_dtype_policy
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_exact_gelu_convmixer_exports_and_matches_keras(policy, global_dtype_policy, tmp_path):
    from padrewrite import export_onnx

    global_dtype_policy(policy)
    model = convmixer_model()
    report = export_onnx(model, tmp_path / "convmixer.onnx")
    exported_model = onnx.load(report.path)
    onnx.checker.check_model(exported_model, full_check=True)
    assert "Erfc" not in report.node_counts
    assert report.node_counts["Erf"] == 6
    (erfc,) = [result for result in report.passes if result.name == "replace-erfc"]
    assert report.passes[0] is erfc and erfc.record.replaced == 6
    compute = "float" if policy == "float32" else "float16"
    assert {r.elem_type for r in erfc.record.replacements} == {compute}
    for x in gelu_inputs():
        expected = np.asarray(model(x, training=False))
        got = onnx_outputs(report.path, x)
        if policy == "float32":
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        else:  # float16 compute: compare at float16 precision of the outputs' scale
            scale = np.abs(expected).max()
            np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-2 * scale)


def test_approximate_gelu_exports_with_tanh_and_no_erf(tmp_path):
    from padrewrite import export_onnx

    model = convmixer_model(approximate=True)
    report = export_onnx(model, tmp_path / "convmixer.onnx")
    onnx.checker.check_model(report.path, full_check=True)
    assert report.node_counts["Tanh"] == 6
    assert {"Erf", "Erfc"}.isdisjoint(report.node_counts)
    assert "replace-erfc" not in [result.name for result in report.passes]
    for x in gelu_inputs():
        expected = np.asarray(model(x, training=False))
        np.testing.assert_allclose(onnx_outputs(report.path, x), expected, rtol=1e-5, atol=1e-5)


def test_exact_gelu_model_rewrites_exports_and_verifies_from_the_command_line(tmp_path):
    from cli_helpers import run as run_cli

    source = tmp_path / "convmixer.keras"
    convmixer_model().save(source)
    out, onnx_out = tmp_path / "out.keras", tmp_path / "out.onnx"
    result = run_cli(source, "--mode", "reflect", "-o", out, "--onnx", onnx_out, "--verify")
    assert result.exit_code == 0, result.output
    # The reloaded .keras file, the ONNX output, the parity summary.
    assert result.output.count("PASSED") == 3, result.output
    exported_model = onnx.load(onnx_out)
    onnx.checker.check_model(exported_model, full_check=True)
    ops = count_ops(exported_model)
    assert "Erfc" not in ops and ops["Erf"] == 6
    assert ops["Pad"] == 2  # the two depthwise 'same' convolutions, reflect-padded
