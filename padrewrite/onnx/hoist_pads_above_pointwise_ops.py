"""Pass: hoist value-copying pads above the per-position (pointwise) ops before them.

Reflect, edge (replicate), wrap (circular) and padrewrite's placeholder pads
(symmetric among them) only copy existing values to the border, so they
commute with every op that computes each position from that position alone:
`pad(f(x)) == f(pad(x))`, bit for bit, because `f` sees the same values. Those
ops are declared below as data: elementwise ops whose other operands are
constants broadcasting over the padded axes, 1x1 stride-1 unpadded `Conv`s
and inference `BatchNormalization`. A `Transpose` passes too, the pads
permuted with it (tf2onnx leaves MobileNetV3's hard-swish in NHWC between
two of them). Any other op stops the search.

For each such `Pad` with pads known before run time, the pass walks up
from the pad's input and grows a *region* of per-position ops whose every
result is used only inside the region (and is not a graph output). Whenever
the region has a single input tensor (a "cut": an Add of two different
tensors has two, a swish `x * sigmoid(x)` one), that tensor is a place the
pad could move to. The pad moves to the cut where the padded tensor is
smallest, counted per position (the product of the non-batch, non-padded
dimensions: the channels of an NCHW tensor; every cut of one region has the
same spatial size, so this also works when that is dynamic), and only if it
is strictly smaller there than where the pad is; on a tie the nearest cut
wins. So a pad moves above a 1x1 conv that widens the channels (MobileNet's
expansion, with its activation: fewer bytes copied, and onnxruntime keeps its
fused conv layouts) and never above one that narrows them (ResNet50's
bottleneck, measured slower). Constant pads never move (f(0) is not 0).

The regions of two pads never share a node, so every move is planned on the
original graph, then all are applied and the nodes put back in a dependency
order as close as possible to the original one. The pad keeps its node name
(placeholders stay recognisable for `lower_placeholder_pads`).
"""

from __future__ import annotations

import dataclasses
import heapq
import math

import onnx

from padrewrite.onnx.graph import (
    GraphEditor,
    get_attribute,
    index_nodes,
    node_reads,
    subgraph_reads,
    subgraphs,
)
from padrewrite.onnx.pads import COPYING_MODES, pad_mode

__all__ = [
    "ELEMENTWISE_NARY",
    "ELEMENTWISE_UNARY",
    "PadHoist",
    "PadHoisting",
    "hoist_pads_above_pointwise_ops",
]

#: Ops computing each element from the same element of their operands. The
#: first operand must come from the region; other operands are constants
#: (Clip's bounds, LeakyRelu has attributes only).
ELEMENTWISE_UNARY = frozenset(
    "Abs Cast Ceil Celu Clip Elu Erf Exp Floor Gelu HardSigmoid HardSwish Identity "
    "LeakyRelu Log Mish Neg Reciprocal Relu Round Selu Sigmoid Sign Softplus "
    "Softsign Sqrt Tanh ThresholdedRelu".split()
)
#: Elementwise ops with several operands (numpy broadcasting): each operand
#: comes from the region or is a constant that broadcasts over the padded axes
#: (a scalar or per-channel value).
ELEMENTWISE_NARY = frozenset("Add Sub Mul Div Pow Max Min Sum Mean PRelu".split())


@dataclasses.dataclass(frozen=True)
class PadHoist:
    """One pad `hoist_pads_above_pointwise_ops` moved.

    Attributes:
        node: name of the `Pad` node (unchanged by the move).
        mode: the padding it does: "reflect", "replicate", "symmetric" or
            "circular".
        passed: names of the nodes it moved above, in graph order.
        passed_ops: their op types, in the same order.
        elements_before: per-sample element count of the padded tensor
            where the pad was (its output shape without the batch axis,
            from ONNX shape inference); `None` if a dimension is unknown.
        elements_after: the same where the pad is now.
    """

    node: str
    mode: str
    passed: tuple[str, ...]
    passed_ops: tuple[str, ...]
    elements_before: int | None
    elements_after: int | None

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PadHoisting:
    """Record of `hoist_pads_above_pointwise_ops`.

    Attributes:
        hoists: one `PadHoist` per moved pad, in the original graph order.
        padded_elements_before, padded_elements_after: over the moved pads,
            the sum of their `elements_before` / `elements_after`; 0 when
            none moved, `None` when one of them is unknown.
    """

    hoists: tuple[PadHoist, ...] = ()

    @property
    def padded_elements_before(self) -> int | None:
        return _total(record.elements_before for record in self.hoists)

    @property
    def padded_elements_after(self) -> int | None:
        return _total(record.elements_after for record in self.hoists)

    def to_dict(self):
        return {
            **dataclasses.asdict(self),
            "padded_elements_before": self.padded_elements_before,
            "padded_elements_after": self.padded_elements_after,
        }


def hoist_pads_above_pointwise_ops(model: onnx.ModelProto) -> PadHoisting:
    """Move each value-copying `Pad` of `model` above its per-position region.

    Edits `model` in place (main graph only). The outputs are bit-identical.
    """
    graph = _Index(model)
    moves = []
    for index, node in enumerate(graph.nodes):
        if node.op_type == "Pad":
            move = _plan(graph, index)
            if move is not None:
                moves.append(move)
    if not moves:
        return PadHoisting()
    records = [_apply(graph, move) for move in moves]
    stale = {name for move in moves for i in move.region for name in graph.nodes[i].output}
    stale |= {move.source for move in moves}
    graph.editor.forget_value_info(stale)
    graph.editor.replace_nodes(_dependency_order(graph.nodes))
    return PadHoisting(tuple(records))


def _total(counts):
    """Sum of `counts`, `None` if one is unknown."""
    counts = list(counts)
    return None if None in counts else sum(counts)


# --------------------------------------------------------------------------
# Planning


@dataclasses.dataclass(frozen=True)
class _Frame:
    """A pad as seen by one tensor of a region: its pads and batch axis there.

    Equal to the `Pad`'s own at its input; a `Transpose` permutes both.
    """

    pads: tuple[int, ...]  # all begins, then all ends (ONNX order)
    batch: int = 0

    @property
    def rank(self):
        return len(self.pads) // 2

    @property
    def padded(self):
        return frozenset(a for a in range(self.rank) if self.pads[a] or self.pads[a + self.rank])

    def per_position(self, shape):
        """Elements per padded position: the product of the other non-batch dims."""
        if shape is None or len(shape) != self.rank:
            return None
        dims = [shape[a] for a in range(self.rank) if a != self.batch and a not in self.padded]
        return None if None in dims else math.prod(dims)

    def padded_elements(self, shape):
        """Per-sample elements of `shape` once padded, `None` if a dim is unknown."""
        if shape is None or len(shape) != self.rank:
            return None
        dims = [
            shape[a] + self.pads[a] + self.pads[a + self.rank] if shape[a] is not None else None
            for a in range(self.rank) if a != self.batch
        ]
        return None if None in dims else math.prod(dims)

    def before_transpose(self, perm):
        """The frame of a `Transpose`'s input, given this one of its output."""
        rank = self.rank
        pads = [0] * (2 * rank)
        for axis, source in enumerate(perm):
            pads[source], pads[source + rank] = self.pads[axis], self.pads[axis + rank]
        return _Frame(tuple(pads), perm[self.batch])


@dataclasses.dataclass(frozen=True)
class _Move:
    pad: int  # index of the Pad node
    source: str  # the Pad's input now
    cut: str  # the tensor it will pad
    region: frozenset[int]  # indices of the nodes it moves above
    before: _Frame  # the pad at `source`
    after: _Frame  # the pad at `cut`


class _Index:
    """The graph as the planner sees it: a `GraphEditor` and the escaping values."""

    def __init__(self, model):
        self.editor = GraphEditor(model)
        self.nodes = self.editor.nodes  # edited in place, reordered last
        self.produced_by = self.editor.producer_index
        self.consumed_by = self.editor.consumer_indices
        # Read by a subgraph or by the caller: never an intermediate of a region.
        self.escaping = {value.name for value in model.graph.output}
        for node in self.nodes:
            for subgraph in subgraphs(node):
                self.escaping.update(subgraph_reads(subgraph))

    def is_constant(self, name):
        return self.editor.is_constant(name)

    def shape(self, name):
        return self.editor.shape(name)


def _plan(graph, pad_index):
    """The move of the `Pad` at `pad_index` to its best cut, or `None`."""
    pad = graph.nodes[pad_index]
    if get_attribute(pad, "mode", b"constant") not in COPYING_MODES:
        return None
    pads = graph.editor.static_pads(pad)
    if pads is None or any(p < 0 for p in pads) or not any(pads):
        return None
    source = pad.input[0]
    start = _Frame(pads)
    best_size = start.per_position(graph.shape(source))
    if best_size is None:
        return None
    best = (source, frozenset(), start)
    region = set()
    frontier = {source: start}
    while True:
        if len(frontier) == 1:
            ((cut, frame),) = frontier.items()
            size = frame.per_position(graph.shape(cut))
            if size is not None and size < best_size:
                best_size, best = size, (cut, frozenset(region), frame)
        # The latest-produced tensor first: all its consumers inside the
        # region have been taken by then, so one that is not is outside.
        tensor = max(frontier, key=lambda name: graph.produced_by.get(name, -1))
        producer = graph.produced_by.get(tensor)
        if producer is None or tensor in graph.escaping:
            break
        allowed = {pad_index} if tensor == source else region
        if any(consumer not in allowed for consumer in graph.consumed_by.get(tensor, ())):
            break
        frame = frontier.pop(tensor)
        inputs = _region_inputs(graph, graph.nodes[producer], frame)
        if inputs is None or any(frontier.get(name, f) != f for name, f in inputs.items()):
            break  # not per-position, or one tensor reached in two layouts
        region.add(producer)
        frontier.update(inputs)
    cut, moved_above, frame = best
    if cut == source:
        return None
    return _Move(pad_index, source, cut, moved_above, start, frame)


def _region_inputs(graph, node, frame):
    """`{input: its frame}` for the non-constant inputs of `node`, or `None`.

    `frame` is the pad as seen by the output of `node`. `None` when `node`
    is not per-position, or not for the axes this pad pads.
    """
    if len(node.output) != 1 or any(subgraphs(node)):
        return None
    op = node.op_type
    padded = frame.padded
    if op in ELEMENTWISE_UNARY:
        if graph.is_constant(node.input[0]) or not all(map(graph.is_constant, node.input[1:])):
            return None
        variables = [node.input[0]]
    elif op in ELEMENTWISE_NARY:
        variables = [name for name in node.input if not graph.is_constant(name)]
        constants = [name for name in node.input if name and graph.is_constant(name)]
        if not variables or not all(_broadcasts(graph, c, frame) for c in constants):
            return None
    elif op == "Conv":
        if not _is_pointwise_conv(graph, node) or frame.batch != 0 or min(padded) < 2:
            return None
        variables = [node.input[0]]
    elif op == "BatchNormalization":
        if frame.batch == 1 or 1 in padded or get_attribute(node, "training_mode", 0):
            return None
        if graph.is_constant(node.input[0]) or not all(map(graph.is_constant, node.input[1:])):
            return None
        variables = [node.input[0]]
    elif op == "Transpose":
        perm = get_attribute(node, "perm", None)
        perm = list(perm) if perm is not None else list(reversed(range(frame.rank)))
        if graph.is_constant(node.input[0]) or len(perm) != frame.rank:
            return None
        frame = frame.before_transpose(perm)
        variables = [node.input[0]]
    else:
        return None
    for name in variables:
        shape = graph.shape(name)
        if shape is None or len(shape) != frame.rank:
            return None  # a rank change (broadcasting) would move the padded axes
    return {name: frame for name in variables}


def _broadcasts(graph, name, frame):
    """Whether constant `name` has size 1 on every padded axis (and no more axes)."""
    shape = graph.editor.constant_value(name).shape
    offset = frame.rank - len(shape)
    return offset >= 0 and all(
        axis < offset or shape[axis - offset] == 1 for axis in frame.padded
    )


def _is_pointwise_conv(graph, node):
    """A `Conv` with a constant 1x1 kernel, stride 1 and no padding (any groups)."""
    weights = graph.editor.constant_value(node.input[1])
    if weights is None or graph.is_constant(node.input[0]):
        return False
    if len(node.input) > 2 and not graph.is_constant(node.input[2]):
        return False
    strides = get_attribute(node, "strides", None) or [1]
    explicit = get_attribute(node, "pads", None) or [0]
    return all(d == 1 for d in weights.shape[2:]) and set(strides) == {1} and set(explicit) == {0}


# --------------------------------------------------------------------------
# Applying


def _apply(graph, move):
    pad = graph.nodes[move.pad]
    padded = graph.editor.fresh(f"{pad.name}/hoisted:0")
    for index in move.region:
        node = graph.nodes[index]
        for position, name in enumerate(node.input):
            if name == move.cut:
                node.input[position] = padded
    last = graph.nodes[graph.produced_by[move.source]]
    last.output[0] = pad.output[0]
    pad.input[0] = move.cut
    pad.output[0] = padded
    if move.after.pads != move.before.pads:  # permuted by a Transpose
        pad.input[1] = graph.editor.const(move.after.pads)
        del pad.input[3:]  # the pads now cover every axis
    region = sorted(move.region)
    return PadHoist(
        node=pad.name,
        mode=pad_mode(pad),
        passed=tuple(graph.nodes[i].name for i in region),
        passed_ops=tuple(graph.nodes[i].op_type for i in region),
        elements_before=move.before.padded_elements(graph.shape(move.source)),
        elements_after=move.after.padded_elements(graph.shape(move.cut)),
    )


def _dependency_order(nodes):
    """`nodes` in an order where each comes after its inputs' producers.

    Kahn's algorithm, always taking the ready node that came first before: an
    already sorted graph keeps its order.
    """
    produced_by, _ = index_nodes(nodes)
    waiting = [0] * len(nodes)
    dependents = [[] for _ in nodes]
    for index, node in enumerate(nodes):
        for producer in {produced_by[n] for n in node_reads(node) if n in produced_by}:
            waiting[index] += 1
            dependents[producer].append(index)
    ready = [index for index, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        index = heapq.heappop(ready)
        ordered.append(nodes[index])
        for dependent in dependents[index]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, dependent)
    if len(ordered) != len(nodes):
        raise AssertionError("hoisting pads made the ONNX graph cyclic")
    return ordered
