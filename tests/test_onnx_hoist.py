"""hoist_pads_above_pointwise_ops: pads move above per-position ops, bit-exactly, only where it pays.

Hand-built ONNX graphs pin each rule; random graphs (hypothesis) with
branches, residual adds and shared tensors check that outputs never change
by a single bit and that no pad moves past a tensor used elsewhere;
keras.applications models rewritten by padrewrite check the real exports.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile

import keras
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from padrewrite.onnx import export_onnx, passes
from padrewrite.onnx.hoist_pads_above_pointwise_ops import (
    PadHoist,
    hoist_pads_above_pointwise_ops,
)
from padrewrite.onnx.lower_placeholder_pads import lower_placeholder_pads

IR_VERSION = 10  # helper.make_model's default is newer than onnxruntime accepts
#: Pad node attributes and names per padding mode (placeholders as exported).
PAD_NODES = {
    "constant": ("constant", "pad"),
    "reflect": ("reflect", "pad"),
    "replicate": ("edge", "pad"),
    "circular": ("wrap", "pad"),  # opset 19
    "symmetric": ("reflect", "m/layer/padrewrite_symmetric"),
    "replicate_placeholder": ("reflect", "m/layer/padrewrite_replicate"),
    "circular_placeholder": ("reflect", "m/layer/padrewrite_circular"),
}


class Graph:
    """A small NCHW ONNX graph under construction; tensors are names."""

    def __init__(self, channels=2, size=(6, 6), batch=1, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.initializers, self.channels = [], [], {"x": channels}
        self.input_shape = [batch, channels, *size]
        self.counter = 0

    def fresh(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, array, dtype=np.float32):
        name = self.fresh("c")
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    def op(self, op_type, inputs, channels, name=None, **attributes):
        output = self.fresh(op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, inputs, [output], name=name or output, **attributes)
        )
        self.channels[output] = channels
        return output

    def conv(self, x, out, kernel=1, group=1, bias=True, pads=None):
        cin = self.channels[x]
        weights = self.const(self.rng.standard_normal((out, cin // group, kernel, kernel)))
        inputs = [x, weights] + ([self.const(self.rng.standard_normal(out))] if bias else [])
        attributes = {"group": group} if group != 1 else {}
        if pads:
            attributes["pads"] = pads
        return self.op("Conv", inputs, out, **attributes)

    def unary(self, op_type, x, **attributes):
        return self.op(op_type, [x], self.channels[x], **attributes)

    def clip(self, x):
        return self.op("Clip", [x, self.const(0.0), self.const(6.0)], self.channels[x])

    def swish(self, x):
        return self.op("Mul", [x, self.unary("Sigmoid", x)], self.channels[x])

    def batch_norm(self, x):
        c = self.channels[x]
        scale, bias, mean = (self.const(self.rng.standard_normal(c)) for _ in range(3))
        variance = self.const(self.rng.random(c) + 0.5)
        return self.op("BatchNormalization", [x, scale, bias, mean, variance], c)

    def with_constant(self, op_type, x, shape):
        operand = self.const(self.rng.standard_normal(shape) + 2.0)
        return self.op(op_type, [x, operand], self.channels[x])

    def pad(self, x, mode="reflect", pads=((1, 2), (2, 1)), name=None):
        onnx_mode, default_name = PAD_NODES[mode]
        flat = [0, 0, pads[0][0], pads[1][0], 0, 0, pads[0][1], pads[1][1]]
        amounts = self.const(flat, np.int64)
        return self.op(
            "Pad", [x, amounts], self.channels[x], name=self.fresh(f"{name or default_name}_"),
            mode=onnx_mode,
        )

    def depthwise(self, x):
        c = self.channels[x]
        return self.conv(x, c, kernel=3, group=c)

    def model(self, outputs, opset=18, dynamic=False):
        shape = list(self.input_shape)
        if dynamic:
            shape[2:] = ["h", "w"]
        graph = helper.make_graph(
            self.nodes, "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None] * 4) for o in outputs],
            self.initializers,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION
        )
        onnx.checker.check_model(model, full_check=True)
        return model

    def sample(self, seed=1):
        return np.random.default_rng(seed).standard_normal(self.input_shape).astype(np.float32)


def copy(model):
    result = onnx.ModelProto()
    result.CopyFrom(model)
    return result


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})


def hoisted(model):
    """`(hoisted copy, records)`, checked."""
    result = copy(model)
    records = hoist_pads_above_pointwise_ops(result).hoists
    onnx.checker.check_model(result, full_check=True)
    return result, records


def assert_same_outputs(a, b, x):
    for got, expected in zip(run(a, x), run(b, x), strict=True):
        np.testing.assert_array_equal(got, expected)  # bit for bit


def op_types(model):
    return [node.op_type for node in model.graph.node]


def expand_block(mode="reflect", cin=2, cout=6, bias_shape=None, shared=False, opset=None):
    """x -> 1x1 Conv (cin -> cout) -> [Add bias] -> Clip(0, 6) -> Pad -> depthwise."""
    g = Graph(cin)
    x = g.conv("x", cout)
    if bias_shape is not None:
        x = g.with_constant("Add", x, bias_shape)
    a = g.clip(x)
    y = g.depthwise(g.pad(a, mode))
    outputs = [y, g.unary("Neg", a)] if shared else [y]
    return g, g.model(outputs, opset or (19 if mode == "circular" else 18))


# -- the rules, one graph each --------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_moves_above_a_widening_1x1_conv_and_its_activation(mode):
    g, model = expand_block(mode)
    conv, clip, pad, _ = (node.name for node in model.graph.node)
    result, (record,) = hoisted(model)
    assert op_types(result) == ["Pad", "Conv", "Clip", "Conv"]
    assert result.graph.node[0].input[0] == "x"
    assert record == PadHoist(
        node=pad, mode=mode, passed=(conv, clip), passed_ops=("Conv", "Clip"),
        elements_before=6 * 9 * 9, elements_after=2 * 9 * 9,  # 6x6 padded to 9x9
    )
    assert_same_outputs(result, model, g.sample())


@pytest.mark.parametrize("mode", ["symmetric", "circular_placeholder", "replicate_placeholder"])
@pytest.mark.parametrize("opset", [18, 19])
def test_placeholders_move_keep_their_name_and_lower_exactly(mode, opset):
    g, model = expand_block(mode, opset=opset)
    result, (record,) = hoisted(model)
    assert record.node == result.graph.node[0].name
    assert record.mode == mode.removesuffix("_placeholder")
    lower_placeholder_pads(model)
    (lowering,) = lower_placeholder_pads(result).lowerings
    assert lowering.node == record.node
    onnx.checker.check_model(result, full_check=True)
    assert op_types(result)[-3:] == ["Conv", "Clip", "Conv"]
    assert_same_outputs(result, model, g.sample())


def test_swish_and_batch_norm_regions_move_with_the_conv():
    g = Graph(3)
    x = g.swish(g.batch_norm(g.conv("x", 12, bias=False)))
    y = g.depthwise(g.pad(x))
    model = g.model([y])
    result, (record,) = hoisted(model)
    assert record.passed_ops == ("Conv", "BatchNormalization", "Sigmoid", "Mul")
    assert op_types(result)[0] == "Pad"
    assert_same_outputs(result, model, g.sample())


def test_a_region_with_two_branches_of_one_input_moves_whole():
    g = Graph(2)
    c = g.conv("x", 8)
    joined = g.op("Add", [g.unary("Relu", c), g.unary("Tanh", c)], 8)
    y = g.depthwise(g.pad(g.unary("HardSwish", joined)))
    model = g.model([y])
    result, (record,) = hoisted(model)
    assert sorted(record.passed_ops) == ["Add", "Conv", "HardSwish", "Relu", "Tanh"]
    assert_same_outputs(result, model, g.sample())


def test_transposes_pass_with_the_pads_permuted():
    # As tf2onnx leaves MobileNetV3: Conv (NCHW) -> NHWC -> hard-swish -> NCHW -> Pad.
    g = Graph(2)
    nhwc = g.op("Transpose", [g.conv("x", 8)], 8, perm=[0, 2, 3, 1])
    gate = g.with_constant("Mul", g.clip(g.with_constant("Add", nhwc, ())), ())
    swished = g.op("Mul", [nhwc, gate], 8)
    nchw = g.op("Transpose", [swished], 8, perm=[0, 3, 1, 2])
    model = g.model([g.depthwise(g.pad(nchw, "replicate", ((2, 0), (1, 1))))])
    result, (record,) = hoisted(model)
    assert record.passed_ops == ("Conv", "Transpose", "Add", "Clip", "Mul", "Mul", "Transpose")
    assert record.elements_before == 8 * 8 * 8 and record.elements_after == 2 * 8 * 8
    assert_same_outputs(result, model, g.sample())


def test_an_nhwc_pad_moves_above_an_nchw_conv():
    g = Graph(2)
    nhwc = g.op("Transpose", [g.clip(g.conv("x", 8))], 8, perm=[0, 2, 3, 1])
    pads = g.const([0, 1, 2, 0, 0, 2, 1, 0], np.int64)  # NHWC: H (1, 2), W (2, 1)
    padded = g.op("Pad", [nhwc, pads], 8, name="nhwc_pad", mode="reflect")
    model = g.model([g.op("Transpose", [padded], 8, perm=[0, 3, 1, 2])])
    result, (record,) = hoisted(model)
    pad = next(node for node in result.graph.node if node.op_type == "Pad")
    assert pad.input[0] == "x"
    assert numpy_helper.to_array(
        next(t for t in result.graph.initializer if t.name == pad.input[1])
    ).tolist() == [0, 0, 1, 2, 0, 0, 2, 1]
    assert_same_outputs(result, model, g.sample())


def test_a_tensor_reached_in_two_layouts_stops_the_region():
    g = Graph(4, size=(4, 4))  # C == H == W: both transposes give the same shape
    c = g.conv("x", 4)
    product = g.op("Mul", [g.op("Transpose", [c], 4, perm=[0, 2, 3, 1]),
                           g.op("Transpose", [c], 4, perm=[0, 3, 2, 1])], 4)
    model = g.model([g.pad(g.unary("Relu", product), pads=((1, 0), (0, 0)))])
    assert hoist_pads_above_pointwise_ops(copy(model)).hoists == ()


def test_the_pad_goes_where_the_tensor_is_smallest():
    # 2 -> 8 -> 3 -> 12 channels: the input (2) is smallest.
    g = Graph(2)
    x = g.unary("Relu", g.conv(g.unary("Relu", g.conv(g.clip(g.conv("x", 8)), 3)), 12))
    model = g.model([g.depthwise(g.pad(x))])
    result, (record,) = hoisted(model)
    assert len(record.passed) == 6 and result.graph.node[0].op_type == "Pad"
    assert record.elements_after == 2 * 81
    assert_same_outputs(result, model, g.sample())


def test_the_pad_stops_at_a_tensor_used_outside_the_region():
    # x(2) -> conv(4) = c, used twice -> conv(8) -> Relu -> Pad: moves to c only.
    g = Graph(2)
    c = g.conv("x", 4)
    other = g.unary("Neg", c)
    y = g.depthwise(g.pad(g.unary("Relu", g.conv(c, 8))))
    model = g.model([y, other])
    result, (record,) = hoisted(model)
    assert record.passed_ops == ("Conv", "Relu")
    pad = next(node for node in result.graph.node if node.op_type == "Pad")
    assert pad.input[0] == c
    assert record.elements_before == 8 * 81 and record.elements_after == 4 * 81
    assert_same_outputs(result, model, g.sample())


def test_two_pads_of_one_tensor_both_move():
    g = Graph(2)
    left = g.depthwise(g.pad(g.clip(g.conv("x", 6))))
    right = g.depthwise(g.pad(g.clip(g.conv("x", 4)), "replicate"))
    model = g.model([left, right])
    result, records = hoisted(model)
    assert [r.mode for r in records] == ["reflect", "replicate"]
    assert [n.input[0] for n in result.graph.node if n.op_type == "Pad"] == ["x", "x"]
    assert_same_outputs(result, model, g.sample())


def test_per_channel_constants_pass_per_position_ones_do_not():
    _, per_channel = expand_block(bias_shape=(6, 1, 1))
    assert hoisted(per_channel)[1][0].passed_ops == ("Conv", "Add", "Clip")
    for shape in [(1, 1, 6, 6), (6, 1, 6), (1, 1, 6, 1)]:  # vary along H or W
        _, model = expand_block(bias_shape=shape)
        assert hoisted(model)[1] == ()


def test_dynamic_spatial_sizes_compare_channels():
    g = Graph(2)
    y = g.depthwise(g.pad(g.clip(g.conv("x", 6))))
    model = g.model([y], dynamic=True)
    result, (record,) = hoisted(model)
    assert record.passed_ops == ("Conv", "Clip")
    assert record.elements_before is None and record.elements_after is None
    assert_same_outputs(result, model, g.sample())


def graph_with_pad_stuck(case):
    g = Graph(2)
    if case == "constant mode":  # f(0) is not 0
        y = g.depthwise(g.pad(g.clip(g.conv("x", 6)), "constant"))
        return g.model([y])
    if case == "narrowing conv":  # padding the wider input costs more
        y = g.depthwise(g.pad(g.clip(g.conv(g.conv("x", 8), 2))))
        return g.model([y])
    if case == "shared activation":
        a = g.clip(g.conv("x", 6))
        return g.model([g.depthwise(g.pad(a)), g.unary("Neg", a)])
    if case == "intermediate is an output":
        c = g.conv("x", 6)
        return g.model([g.depthwise(g.pad(g.clip(c))), c])
    if case == "pad input used twice":
        a = g.clip(g.conv("x", 6))
        return g.model([g.depthwise(g.pad(a)), g.depthwise(g.pad(a))])
    if case == "residual add of two inputs":  # x and y: two spatial inputs
        y_in = g.conv(g.conv("x", 8, kernel=3, pads=[1, 1, 1, 1]), 8)
        joined = g.op("Add", [g.conv("x", 8), y_in], 8)
        return g.model([g.depthwise(g.pad(g.unary("Relu", joined)))])
    if case == "no conv: same size everywhere":
        return g.model([g.depthwise(g.pad(g.unary("Sigmoid", g.clip("x"))))])
    if case == "3x3 conv":
        return g.model([g.depthwise(g.pad(g.conv("x", 8, kernel=3, pads=[1, 1, 1, 1])))])
    if case == "strided 1x1 conv":
        g.input_shape[2:] = [12, 12]
        c = g.op("Conv", ["x", g.const(np.ones((8, 2, 1, 1)))], 8, strides=[2, 2])
        return g.model([g.depthwise(g.pad(c))])
    if case == "channel pad":
        y = g.pad(g.clip(g.conv("x", 6)))
        node = g.nodes[-1]
        g.initializers[-1].CopyFrom(
            numpy_helper.from_array(np.array([0, 1, 1, 1, 0, 0, 1, 1], np.int64), node.input[1])
        )
        return g.model([y])
    if case == "run-time pads":
        model = g.model([g.depthwise(g.pad(g.clip(g.conv("x", 6))))])
        pad = next(node for node in model.graph.node if node.op_type == "Pad")
        pad.input[1] = "pads"
        model.graph.input.append(helper.make_tensor_value_info("pads", TensorProto.INT64, [8]))
        return model
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "constant mode", "narrowing conv", "shared activation", "intermediate is an output",
        "pad input used twice", "residual add of two inputs", "no conv: same size everywhere",
        "3x3 conv", "strided 1x1 conv", "channel pad", "run-time pads",
    ],
)
def test_pads_stay_put(case):
    model = graph_with_pad_stuck(case)
    before = copy(model)
    assert hoist_pads_above_pointwise_ops(model).hoists == ()
    assert model == before


# -- random graphs ------------------------------------------------------------------


@st.composite
def random_graphs(draw, max_size=5, max_steps=9):
    """`(Graph, model)`: a random DAG of per-position ops, padded 3x3 convs,
    residual adds and shared tensors; some intermediates are outputs."""
    channels = draw(st.integers(1, 4), label="channels")
    sizes = st.integers(3, max_size)
    size = draw(st.tuples(sizes, sizes), label="size")
    opset = draw(st.sampled_from([18, 19]), label="opset")
    modes = [m for m in PAD_NODES if opset >= 19 or m != "circular"]
    g = Graph(channels, size, seed=draw(st.integers(0, 2**16)))
    tensors = ["x"]

    def pick():  # shrinks towards the latest tensor: chains
        return tensors[-1 - draw(st.integers(0, len(tensors) - 1))]

    for _ in range(draw(st.integers(2, max_steps), label="steps")):
        x = pick()
        kind = draw(st.sampled_from(
            ["conv", "act", "act", "bn", "swish", "const", "padded", "block", "block",
             "add", "mul"]
        ))
        if kind == "block":  # MobileNet's: widening 1x1 conv, activation, padded conv
            x = g.unary("Relu", g.conv(x, min(12, g.channels[x] * draw(st.integers(1, 4)))))
            kind = "padded"
        if kind == "conv":
            y = g.conv(x, draw(st.integers(1, 8)))
        elif kind == "act":
            op = draw(st.sampled_from(["Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
                                       "Tanh", "LeakyRelu", "Neg"]))
            y = g.clip(x) if op == "Clip" else g.unary(op, x)
        elif kind == "bn":
            y = g.batch_norm(x)
        elif kind == "swish":
            y = g.swish(x)
        elif kind == "const":
            shape = draw(st.sampled_from(
                [(), (1,), (g.channels[x], 1, 1), (1, 1, 1, 1), (1, 1, size[1])]  # last: stops
            ))
            y = g.with_constant(draw(st.sampled_from(["Add", "Mul", "Sub", "Max"])), x, shape)
        elif kind == "padded":
            before = tuple(draw(st.integers(0, 2)) for _ in range(2))
            pads = tuple((b, 2 - b) for b in before)
            mode = draw(st.sampled_from(modes))
            y = g.pad(x, mode, pads)
            y = g.depthwise(y) if draw(st.booleans()) else g.conv(y, draw(st.integers(1, 6)), 3)
        else:  # residual add / product of two tensors with the same channels
            partners = [t for t in tensors if g.channels[t] == g.channels[x]]
            other = draw(st.sampled_from(partners))
            y = g.op("Add" if kind == "add" else "Mul", [x, other], g.channels[x])
        tensors.append(y)
    used = {name for node in g.nodes for name in node.input}
    outputs = [t for t in tensors[1:] if t not in used] or [tensors[-1]]
    extra = draw(st.lists(st.sampled_from(tensors[1:]), max_size=2, unique=True))
    outputs += [t for t in extra if t not in outputs]
    return g, g.model(outputs, opset)


def consumers(model):
    result = {}
    for node in model.graph.node:
        for name in node.input:
            result.setdefault(name, []).append(node.name)
    return result


@settings(max_examples=100, deadline=None)
@given(case=random_graphs())
def test_random_graphs_keep_every_output_bit_for_bit(case):
    check_random_graph(*case)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(case=random_graphs(max_size=19, max_steps=16))
def test_more_and_larger_random_graphs(case):
    check_random_graph(*case)


def check_random_graph(g, model):
    result, records = hoisted(model)
    event(f"pads moved: {len(records)}")
    x = g.sample()
    assert_same_outputs(result, model, x)
    # Lowering placeholders after hoisting gives what lowering without hoisting gives.
    lowered_before, lowered_after = copy(model), copy(result)
    lower_placeholder_pads(lowered_before)
    lower_placeholder_pads(lowered_after)
    onnx.checker.check_model(lowered_after, full_check=True)
    assert_same_outputs(lowered_after, lowered_before, x)
    # Every passed node's results were used only by the region or its pad.
    used_by = consumers(model)
    outputs = {value.name for value in model.graph.output}
    nodes = {node.name: node for node in model.graph.node}
    for record in records:
        assert record.mode != "constant"
        assert record.elements_after < record.elements_before
        allowed = {*record.passed, record.node}
        for name in record.passed:
            (output,) = nodes[name].output
            assert output not in outputs
            assert set(used_by[output]) <= allowed
    assert len(op_types(result)) == len(op_types(model))


# -- keras.applications, rewritten by padrewrite ---------------------------------------

_EXPORTS = tempfile.TemporaryDirectory(prefix="padrewrite-hoist-tests-")
#: Pads hoisted: those of the depthwise convs after an expansion 1x1 conv
#: (stride-2 blocks with Keras's ZeroPadding2D keep a constant pad; the stem
#: and a block without expansion have nothing narrower to move above). In
#: MobileNetV3 tf2onnx leaves the hard-swish in NHWC between Transposes.
EXPECTED_MOVES = {"MobileNetV2": 12, "EfficientNetB0": 11, "MobileNetV3Small": 7}
#: Models whose rewritten Keras model and export agree within check_parity's
#: default tolerance. Reflect-rewritten MobileNetV3Small (random weights) does
#: not on the all-zeros sample (max_abs 2.3e-3, 4e-5 on random inputs), with
#: or without hoisting: hoisted and unhoisted outputs are bit-identical.
PARITY_PASSES = {"MobileNetV2", "EfficientNetB0"}


def application(name, size, mode=None, seed=0):
    """keras.applications `name` (weights=None, logits out), rewritten to `mode`.

    As `onnx_models.mobilenet_v2`, every BatchNormalization of the (rewritten)
    model takes the moving statistics of one seeded random batch, so the
    activations stay O(1) (new borders change them) and the outputs are not
    a constant anything matches.
    """
    from padrewrite.rewrite import rewrite_model

    keras.utils.set_random_seed(seed)
    model = getattr(keras.applications, name)(
        input_shape=(size, size, 3), weights=None, classifier_activation=None
    )
    if mode is not None:
        model = rewrite_model(model, mode).model
    model = _constant_normalization(model)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    batch = np.random.default_rng(seed).standard_normal((4, size, size, 3)).astype("float32")
    model(batch, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return model


def _constant_normalization(model):
    # Workaround: Normalization keeps its mean and variance as eager tensors,
    # which the traced function captures and tf2onnx turns into extra graph
    # inputs (EfficientNet fails to export). numpy constants are embedded.
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.mean, layer.variance = np.asarray(layer.mean), np.asarray(layer.variance)
    return model


@functools.cache
def application_exports(name, size, mode, opset=18):
    """`(model, report, unhoisted)`: the export, and its graph without hoisting.

    One tf2onnx conversion: the graph is copied just before the pass
    `hoist-pads-above-pointwise-ops` and lowered like the export, so it is
    what `hoist=False` writes, and both sides come from the same conversion (two conversions of one model may
    differ: EfficientNetB0 once gave 31 Reshapes, once 32).
    """
    model = application(name, size, mode)
    before = []

    def copy_then_hoist(proto, options):
        before.append(copy(proto))
        return hoist_pads_above_pointwise_ops(proto)

    copying = tuple(
        dataclasses.replace(graph_pass, run=copy_then_hoist)
        if graph_pass.name == "hoist-pads-above-pointwise-ops" else graph_pass
        for graph_pass in passes.PASSES
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passes, "PASSES", copying)
        path = os.path.join(_EXPORTS.name, f"{name}-{size}-{mode}-{opset}.onnx")
        report = export_onnx(model, path, opset=opset)
    (unhoisted,) = before
    lower_placeholder_pads(unhoisted)
    onnx.checker.check_model(unhoisted, full_check=True)
    return model, report, unhoisted


def check_application(name, size, mode, opset=18):
    from padrewrite.verify.parity import check_parity, render_parity

    model, report, unhoisted = application_exports(name, size, mode, opset)
    assert report.pads_hoisted == EXPECTED_MOVES[name]
    assert all(record.passed_ops[0] == "Conv" for record in report.hoists)
    assert report.padded_elements_after < report.padded_elements_before / 3
    hoisted_file = onnx.load(report.path)
    assert op_types(hoisted_file) != op_types(unhoisted)
    assert sorted(op_types(hoisted_file)) == sorted(op_types(unhoisted))  # nodes only move
    x = np.random.default_rng(1).standard_normal((2, size, size, 3)).astype(np.float32)
    feed = {report.input_names[0]: x}
    (got,) = ort.InferenceSession(report.path, providers=["CPUExecutionProvider"]).run(None, feed)
    (expected,) = ort.InferenceSession(
        unhoisted.SerializeToString(), providers=["CPUExecutionProvider"]
    ).run(None, feed)
    assert np.abs(got - expected).max() == 0.0
    assert expected.std() > 0.05  # not a degenerate model that anything matches
    if name in PARITY_PASSES:
        parity = check_parity(model, report.path, samples=1)
        assert parity, "\n".join(render_parity(parity))


@pytest.mark.parametrize(
    "name,size", [("MobileNetV2", 64), ("EfficientNetB0", 96), ("MobileNetV3Small", 96)]
)
def test_applications_reflect(name, size):
    # 5x5 depthwise convs reach 3x3 maps in EfficientNet and MobileNetV3:
    # reflect by 2 needs 96x96 inputs there.
    check_application(name, size, "reflect")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["MobileNetV2", "EfficientNetB0", "MobileNetV3Small"])
@pytest.mark.parametrize(
    "mode,opset",
    [("reflect", 18), ("replicate", 18), ("symmetric", 18), ("circular", 18), ("circular", 19)],
)
def test_applications_every_mode(name, mode, opset):
    check_application(name, 96, mode, opset)
