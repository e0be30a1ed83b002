"""Hypothesis strategies drawing small random Keras models, with an oracle to check them.

`random_models()` draws a `ModelCase`: a Functional Keras model of rank 1, 2 or 3
(mostly 2), channels_last or channels_first, float32 or float64, with one or two
inputs and one or more outputs (a list or a dict), built from

- convolutions: Conv, grouped Conv, DepthwiseConv, SeparableConv, 'causal' Conv1D,
  with kernels 1-4 (even ones too), strides 1-3 and dilations 1-3 (never stride > 1
  with dilation > 1 on Conv, which Keras 3 refuses), mostly 'same', some 'valid';
- ZeroPadding followed by a 'valid' convolution or pooling (the "zero-padding" rule's
  pattern) or by a 'same' convolution (which that rule must leave alone);
- Max/Average pooling ('same' and 'valid'), BatchNormalization with non-trivial
  moving statistics, activations;
- branches merged by Add or Concatenate (a residual identity branch sometimes),
  a convolution shared between two calls (on the same size, or on a pooled smaller
  tensor whose result is an extra output), a sub-model (Functional or Sequential,
  nested up to two deep, sometimes itself called twice) inside the outer model;
- with `with_ops=True`, keras.ops operations on symbolic tensors (`a + b`, `ops.relu`),
  some with a Python constant among their arguments (`1.0 - t`, `t * 2`);
- an activation named like the pad layer a convolution would get (`<conv>_pad`);
- unknown spatial sizes (`None`) in a quarter of the models (and sometimes only
  inside a sub-model), which are then run at two sizes, odd and even on every axis.

Every layer has an explicit unique name and weights drawn from a seeded numpy
generator (biases and BatchNorm statistics non-zero).

The oracle: clean intervals
---------------------------
Alongside the Keras graph the builder records a small geometry program: each tensor
is a `Node` whose value, for concrete input sizes, is one `Axis(size, lo, hi)` per
spatial axis, where the positions `lo <= i < hi` are *clean*: equal in the original
and the rewritten model. Inputs are clean everywhere. A sliding window (convolution
or pooling) with kernel k, stride s, dilation d and pads (before, after) computes
output j from the positions `j*s - before + t*d`, t = 0..k-1, where positions below 0
or from n on are pads. Output j is clean when every position it reads is clean:
inside [lo, hi), or a pad both models fill alike (the zeros of a layer the rewrite
left alone, when the clean interval reaches that border). Pads the rewrite fills in
another mode are never clean, nor are 'same' pooling pads the "pooling-same" rule
turned into values. Per-position layers keep the interval; Add and Concatenate
intersect the intervals of their inputs (whose sizes agree); ZeroPadding shifts it
(and its zeros are clean unless the "zero-padding" rule rewrote it).

This is exact bookkeeping of which inputs each position reads, so comparing only
clean positions never compares a value that legitimately differs. The pads come
from TensorFlow's 'same' formula, implemented here independently of padrewrite.
Evaluated in constant mode without opt-in rules, every position is clean. The same
walk also reports the rewritten pads a mode cannot take at a given size (reflect
needs pad < n, symmetric and circular pad <= n): `Context.violations`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import keras
import numpy as np
from hypothesis import strategies as st

L = keras.layers

CONVOLUTION, PADDING, POOLING = "convolution", "padding", "pooling"


# -- arithmetic (independent of padrewrite.arithmetic) ------------------------


def same_pair(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's 'same' pads (before, after) for size n, kernel k, stride s, dilation d."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return (total // 2, total - total // 2)


def window_pads(padding: str, n: int, k: int, s: int, d: int) -> tuple[int, int]:
    if padding == "same":
        return same_pair(n, k, s, d)
    if padding == "causal":
        return ((k - 1) * d, 0)
    return (0, 0)


def static_pads(padding, sizes, kernel, strides, dilation):
    """The pads a rewrite knows before run time: `None` per axis where they depend on it."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        if padding == "causal":
            pads.append(((k - 1) * d, 0))
        elif padding == "valid":
            pads.append((0, 0))
        elif n is None:
            pads.append(None if s > 1 else ((k - 1) * d // 2, (k - 1) * d - (k - 1) * d // 2))
        else:
            pads.append(same_pair(n, k, s, d))
    return tuple(pads)


def mode_limit(mode: str, n: int) -> int | None:
    """The largest pad per side `mode` can take on an axis of size n."""
    return {"reflect": n - 1, "symmetric": n, "circular": n}.get(mode)


# -- geometry program ---------------------------------------------------------


class Axis(NamedTuple):
    size: int
    lo: int
    hi: int

    @property
    def empty(self) -> bool:
        return self.lo >= self.hi


@dataclass
class Call:
    """One call of a layer the rewrite rules concern, as the report should show it."""

    path: str
    name: str
    class_name: str
    kind: str
    padding: str  # 'same', 'valid', 'causal'; 'zero' for ZeroPadding
    pads: tuple  # static pads per axis, None where known only at run time
    static_sizes: tuple  # the input's spatial sizes when the model was built
    feeds_valid: bool = False  # ZeroPadding: its consumer is a 'valid' window

    def action(self, rules=(), exclude=()) -> str | None:
        """'rewritten', 'skipped' or 'unchanged' as the rules decide, in their order.

        None for a call the report leaves out: 'valid' pooling, which only an opt-in
        rule could concern.
        """
        nonzero = any(p is None or p != (0, 0) for p in self.pads)
        if self.kind == CONVOLUTION:
            if self.padding == "valid":
                return "unchanged"
            if self.name in exclude:
                return "skipped"
            return "rewritten" if nonzero else "unchanged"
        rule = "zero-padding" if self.kind == PADDING else "pooling-same"
        if self.kind == POOLING and self.padding == "valid":
            return None
        if self.kind == PADDING and not self.feeds_valid:
            return "skipped"
        if not nonzero:
            return "unchanged"
        if rule not in rules or self.name in exclude:
            return "skipped"
        return "rewritten"


@dataclass
class Context:
    """How one rewrite is configured, and the pad-limit violations found while evaluating."""

    mode: str = "constant"
    rules: tuple = ()
    exclude: tuple = ()
    constant_value: float = 0.0
    violations: list = field(default_factory=list)

    def pads_differ(self, call: Call) -> bool:
        """Whether the rewritten model fills this call's pads with other values."""
        if call.action(self.rules, self.exclude) != "rewritten":
            return False
        return call.kind == POOLING or self.mode != "constant" or self.constant_value != 0

    def check_limit(self, call: Call, axis: int, n: int, pair: tuple[int, int]):
        if call.action(self.rules, self.exclude) != "rewritten" or self.mode == "constant":
            return
        limit = mode_limit(self.mode, n)
        if limit is not None and max(pair) > limit:
            self.violations.append((call.path, call.static_sizes[axis] is not None))


class Node:
    """A tensor of the geometry program: an input (`key`) or `transfer(parent values, ctx)`."""

    def __init__(self, parents=(), transfer: Callable | None = None, key: str | None = None):
        self.parents = tuple(parents)
        self.transfer = transfer
        self.key = key


def evaluate(node: Node, env: dict, ctx: Context, memo: dict | None = None):
    """The `Axis` tuple of `node` given the input values in `env`."""
    memo = {} if memo is None else memo
    if id(node) not in memo:
        if node.key is not None:
            memo[id(node)] = env[node.key]
        else:
            values = [evaluate(parent, env, ctx, memo) for parent in node.parents]
            memo[id(node)] = node.transfer(values, ctx)
    return memo[id(node)]


def slide(axis: Axis, k, s, d, pads, pads_clean: bool) -> Axis:
    """The clean interval after a window of kernel k, stride s, dilation d, pads (before, after)."""
    n, lo, hi = axis
    before, after = pads
    out = (n + before + after - (k - 1) * d - 1) // s + 1
    if axis.empty:
        return Axis(out, 0, 0)
    low = -before if (pads_clean and lo == 0) else lo
    high = n + after if (pads_clean and hi == n) else hi
    first = -(-(low + before) // s)
    last = (high - 1 + before - (k - 1) * d) // s
    lo, hi = max(first, 0), min(last + 1, out)
    return Axis(out, lo, hi) if lo < hi else Axis(out, 0, 0)


def window_transfer(call: Call, kernel, strides, dilation):
    def transfer(values, ctx):
        (axes,) = values
        differ = ctx.pads_differ(call)
        result = []
        for index, (axis, k, s, d) in enumerate(zip(axes, kernel, strides, dilation)):
            pair = window_pads(call.padding, axis.size, k, s, d)
            ctx.check_limit(call, index, axis.size, pair)
            result.append(slide(axis, k, s, d, pair, pads_clean=not differ))
        return tuple(result)

    return transfer


def zero_padding_transfer(call: Call):
    def transfer(values, ctx):
        (axes,) = values
        differ = ctx.pads_differ(call)
        result = []
        for index, (axis, (before, after)) in enumerate(zip(axes, call.pads)):
            ctx.check_limit(call, index, axis.size, (before, after))
            size = axis.size + before + after
            if axis.empty:
                result.append(Axis(size, 0, 0))
                continue
            lo = 0 if (not differ and axis.lo == 0) else axis.lo + before
            hi = size if (not differ and axis.hi == axis.size) else axis.hi + before
            result.append(Axis(size, lo, hi))
        return tuple(result)

    return transfer


def identity_transfer(values, ctx):
    return values[0]


def intersect_transfer(values, ctx):
    result = []
    for axes in zip(*values):
        sizes = {axis.size for axis in axes}
        assert len(sizes) == 1, f"merged tensors disagree in size: {axes}"
        lo, hi = max(a.lo for a in axes), min(a.hi for a in axes)
        result.append(Axis(sizes.pop(), lo, hi) if lo < hi else Axis(axes[0].size, 0, 0))
    return tuple(result)


# -- the drawn case -----------------------------------------------------------


@dataclass(eq=False)
class ModelCase:
    """A random model, how to feed it, and the oracle for its outputs and report."""

    model: keras.Model
    lines: list[str]
    rank: int
    data_format: str
    dtype: str
    dynamic: bool
    inputs: list[tuple[str, int, Node]]  # (name, channels, geometry node) per input
    dict_inputs: bool
    scenarios: list[dict]  # per scenario: input name -> spatial sizes
    outputs: list[Node]  # geometry of each output, in keras.tree.flatten order
    calls: list[Call]
    seed: int

    def __repr__(self):
        sizes = " / ".join(str(list(s.values())) for s in self.scenarios)
        head = (
            f"ModelCase(rank={self.rank}, {self.data_format}, {self.dtype}, "
            f"{'dynamic' if self.dynamic else 'static'} sizes {sizes}, seed={self.seed})"
        )
        return "\n    ".join([head, *self.lines])

    def _repr_pretty_(self, printer, cycle):  # hypothesis prints falsifying examples so
        printer.text(repr(self))

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    @property
    def convolution_names(self) -> list[str]:
        return sorted({c.name for c in self.calls if c.kind == CONVOLUTION})

    def shared_conflicts(self, rules=(), exclude=()) -> list[str]:
        """Shared layers with a call to rewrite and a call with no pads: refused, as documented."""
        actions: dict[str, set] = {}
        for call in self.calls:
            actions.setdefault(call.path, set()).add(call.action(rules, exclude))
        return [path for path, seen in actions.items() if {"rewritten", "unchanged"} <= seen]

    def input_data(self, scenario: int, batch: int = 2):
        """Seeded random inputs for one scenario, structured as the model takes them."""
        rng = np.random.default_rng(self.seed + 7919 * (scenario + 1))
        arrays = {}
        for name, channels, _ in self.inputs:
            sizes = self.scenarios[scenario][name]
            if self.data_format == "channels_first":
                shape = (batch, channels, *sizes)
            else:
                shape = (batch, *sizes, channels)
            arrays[name] = rng.standard_normal(shape).astype(self.dtype)
        if self.dict_inputs:
            return arrays
        values = list(arrays.values())
        return values[0] if len(values) == 1 else values

    def geometry(self, scenario: int, ctx: Context) -> list[tuple[Axis, ...]]:
        """The clean intervals of every output for one scenario under `ctx`."""
        env = {
            name: tuple(Axis(n, 0, n) for n in self.scenarios[scenario][name])
            for name, _, _ in self.inputs
        }
        memo: dict = {}
        return [evaluate(node, env, ctx, memo) for node in self.outputs]


# -- building -----------------------------------------------------------------


class _Value:
    """A tensor while building: its geometry node, Keras shape and (Functional) tensor."""

    def __init__(self, node: Node, shape: tuple, tensor=None):
        self.node = node
        self.shape = tuple(shape)
        self.tensor = tensor


class _Graph:
    """One Functional or Sequential graph being built (the outer model or a sub-model)."""

    def __init__(self, prefix, scenarios, sequential=False, model=None, depth=0):
        self.prefix = prefix
        self.scenarios = scenarios  # env dicts for this graph's input keys
        self.sequential = sequential
        self.model = model  # the Sequential being filled
        self.depth = depth


class _Builder:
    def __init__(self, draw, rank, data_format, dtype, with_ops=False):
        self.with_ops = with_ops
        self.draw = draw
        self.rank = rank
        self.data_format = data_format
        self.dtype = dtype
        self.counter = itertools.count()
        self.calls: list[Call] = []
        self.extra_outputs: list[_Value] = []
        self.lines: list[str] = []
        self.names: set[str] = set()

    # -- helpers -----------------------------------------------------------

    def name(self, stem):
        name = f"{stem}{next(self.counter)}"
        self.names.add(name)
        return name

    def log(self, graph, text):
        self.lines.append("  " * graph.depth + text)

    def channels(self, value) -> int:
        return value.shape[1 if self.data_format == "channels_first" else -1]

    def spatial(self, shape) -> tuple:
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(shape[first : first + self.rank])

    def sizes(self, graph, value) -> list[tuple[int, ...]]:
        """The concrete spatial sizes of `value` in every scenario."""
        return [
            tuple(a.size for a in evaluate(value.node, env, Context())) for env in graph.scenarios
        ]

    def apply(self, graph, layer, inputs, transfer, text):
        """Call `layer` on `inputs` (a _Value or a list of them), returning the new _Value."""
        values = inputs if isinstance(inputs, list) else [inputs]
        node = Node([v.node for v in values], transfer)
        if graph.sequential:
            graph.model.add(layer)
            shape = graph.model.outputs[0].shape
            value = _Value(node, shape)
        else:
            tensors = [v.tensor for v in values]
            tensor = layer(tensors if isinstance(inputs, list) else tensors[0])
            value = _Value(node, tensor.shape, tensor)
        self.log(graph, f"{layer.name}: {text} -> {value.shape}")
        return value

    # -- layers ------------------------------------------------------------

    def draw_window(self, allow_dilation=True, stride=None):
        d = self.draw
        square = d(st.booleans())
        top = 3 if self.rank == 3 else 4

        def per_axis(strategy):
            if square:
                return (d(strategy),) * self.rank
            return tuple(d(strategy) for _ in range(self.rank))

        kernel = per_axis(st.integers(1, top))
        if stride is None:
            strides = per_axis(st.sampled_from((1, 1, 1, 2, 2, 3)))
        else:
            strides = (stride,) * self.rank
        dilation = (1,) * self.rank
        if allow_dilation and d(st.integers(0, 3)) == 0:
            dilation = per_axis(st.sampled_from((1, 2, 2, 3)))
        return kernel, strides, dilation

    def conv(self, graph, x, padding=None, filters=None, stride=None, kinds=None):
        """A convolution call; 'valid' only where every scenario leaves a size >= 1."""
        d = self.draw
        cin = self.channels(x)
        if kinds is None:
            kinds = ["conv", "conv", "conv", "grouped", "depthwise", "separable", "separable"]
        if self.rank == 3:  # no DepthwiseConv3D or SeparableConv3D in Keras
            kinds = [k for k in kinds if k in ("conv", "grouped")] or ["conv"]
        if filters is not None:  # the output width is imposed
            kinds = [k for k in kinds if k != "depthwise"] or ["conv"]
        kind = d(st.sampled_from(kinds))
        if padding is None:
            choices = ["same"] * 4 + ["valid"]
            if self.rank == 1 and kind in ("conv", "grouped"):
                choices += ["causal"] * 2
            padding = d(st.sampled_from(choices))
        kernel, strides, dilation = self.draw_window(stride=stride)
        if kind in ("conv", "grouped") and max(strides) > 1:
            dilation = (1,) * self.rank  # Keras 3 refuses strides > 1 with dilation > 1
        if kind in ("depthwise", "separable") and self.dtype == "float64":
            strides = (strides[0],) * self.rank  # TF's float64 depthwise kernel needs equal ones
        if padding == "valid" and not all(
            n - (k - 1) * dl >= 1
            for sizes in self.sizes(graph, x)
            for n, k, dl in zip(sizes, kernel, dilation)
        ):
            padding = "same"
        explicit = filters is not None
        if not explicit:
            filters = d(st.integers(1, 3 if self.rank == 3 else 6))
        groups = 1
        if kind == "grouped":
            divisors = [g for g in range(2, cin + 1) if cin % g == 0]
            if explicit:
                divisors = [g for g in divisors if filters % g == 0]
            if divisors:
                groups = d(st.sampled_from(divisors))
                if not explicit:
                    filters = groups * d(st.integers(1, max(1, 6 // groups)))
            else:
                kind = "conv"
        stem = {"conv": "conv", "grouped": "gconv", "depthwise": "dw", "separable": "sep"}[kind]
        name = self.name(stem)
        common = dict(
            kernel_size=kernel,
            strides=strides,
            padding=padding,
            dilation_rate=dilation,
            data_format=self.data_format,
            name=name,
            dtype=self.dtype,
        )
        # Zero initializers: Keras seeds random ones from the `random` module, which
        # hypothesis forbids inside strategies; randomize_weights sets the values.
        if kind in ("conv", "grouped"):
            cls = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[self.rank]
            layer = cls(filters=filters, groups=groups, kernel_initializer="zeros", **common)
        elif kind == "depthwise":
            cls = {1: L.DepthwiseConv1D, 2: L.DepthwiseConv2D}[self.rank]
            layer = cls(
                depth_multiplier=d(st.integers(1, 2)), depthwise_initializer="zeros", **common
            )
        else:
            cls = {1: L.SeparableConv1D, 2: L.SeparableConv2D}[self.rank]
            layer = cls(
                filters=filters,
                depth_multiplier=d(st.integers(1, 2)),
                depthwise_initializer="zeros",
                pointwise_initializer="zeros",
                **common,
            )
        return self.call_window(graph, layer, x, CONVOLUTION, padding, kernel, strides, dilation)

    def call_window(self, graph, layer, x, kind, padding, kernel, strides, dilation):
        """Record the expected report entry of a window layer and call it on `x`."""
        sizes = self.spatial(x.shape)
        call = Call(
            path=graph.prefix + layer.name,
            name=layer.name,
            class_name=type(layer).__name__,
            kind=kind,
            padding=padding,
            pads=static_pads(padding, sizes, kernel, strides, dilation),
            static_sizes=sizes,
        )
        self.calls.append(call)
        text = f"{type(layer).__name__} k={kernel} s={strides} d={dilation} {padding}"
        if hasattr(layer, "groups") and getattr(layer, "groups", 1) > 1:
            text += f" groups={layer.groups}"
        transfer = window_transfer(call, kernel, strides, dilation)
        return self.apply(graph, layer, x, transfer, text)

    def padded_window(self, graph, x):
        """ZeroPadding, then a 'valid' convolution or pooling (or a 'same' convolution)."""
        d = self.draw
        pads = tuple(
            (d(st.integers(0, 2)), d(st.integers(0, 2))) for _ in range(self.rank)
        )
        if all(p == (0, 0) for p in pads):
            pads = ((1, 0),) + pads[1:]
        consumer = d(st.sampled_from(["conv", "conv", "pool", "same-conv"]))
        name = self.name("zpad")
        cls = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D, 3: L.ZeroPadding3D}[self.rank]
        argument = pads[0] if self.rank == 1 else pads
        layer = cls(argument, data_format=self.data_format, name=name, dtype=self.dtype)
        call = Call(
            path=graph.prefix + name,
            name=name,
            class_name=type(layer).__name__,
            kind=PADDING,
            padding="zero",
            pads=pads,
            static_sizes=self.spatial(x.shape),
            feeds_valid=False,  # set below, once the consumer exists
        )
        self.calls.append(call)
        y = self.apply(graph, layer, x, zero_padding_transfer(call), f"ZeroPadding {pads}")
        if consumer == "pool":
            y = self.pool(graph, y, padding="valid")
        else:
            y = self.conv(graph, y, padding="same" if consumer == "same-conv" else "valid")
        # the consumer falls back to 'same' where 'valid' would leave nothing
        call.feeds_valid = self.calls[-1].padding == "valid"
        return y

    def pool(self, graph, x, padding=None, stride=None):
        d = self.draw
        size = (d(st.integers(2, 3)),) * self.rank
        strides = (stride or d(st.integers(1, 2)),) * self.rank
        if padding is None:
            padding = d(st.sampled_from(["same", "same", "valid"]))
        if padding == "valid" and not all(
            n >= size[0] for sizes in self.sizes(graph, x) for n in sizes
        ):
            padding = "same"
        kind = d(st.sampled_from(["Max", "Average"]))
        cls = getattr(L, f"{kind}Pooling{self.rank}D")
        layer = cls(
            pool_size=size,
            strides=strides,
            padding=padding,
            data_format=self.data_format,
            name=self.name(f"{kind.lower()}pool"),
            dtype=self.dtype,
        )
        ones = (1,) * self.rank
        return self.call_window(graph, layer, x, POOLING, padding, size, strides, ones)

    def batch_norm(self, graph, x):
        axis = 1 if self.data_format == "channels_first" else -1
        layer = L.BatchNormalization(axis=axis, name=self.name("bn"), dtype=self.dtype)
        return self.apply(graph, layer, x, identity_transfer, "BatchNormalization")

    def activation(self, graph, x, name=None):
        kind = self.draw(st.sampled_from(["relu", "tanh", "sigmoid"]))
        if name is None and self.with_ops and not graph.sequential and self.draw(st.booleans()):
            tensor = getattr(keras.ops, kind)(x.tensor)  # a keras.ops operation
            # Some are followed by an operation taking a Python constant, which the graph
            # records among its arguments: on the left (`1.0 - t`: Subtract(1.0, t)), on
            # the right, or after a tensor of another dtype (`where(t > 0.5, t, 0.25)`).
            constant = self.draw(st.sampled_from([None, "1.0 - t", "t * 2", "where"]))
            if constant == "1.0 - t":
                tensor = 1.0 - tensor
            elif constant == "t * 2":
                tensor = tensor * 2
            elif constant == "where":
                tensor = keras.ops.where(tensor > 0.5, tensor, 0.25)
            self.log(graph, f"keras.ops.{kind}, then {constant} -> {tensor.shape}")
            return _Value(Node([x.node], identity_transfer), tensor.shape, tensor)
        if name is None:
            name = self.name("act")
        layer = L.Activation(kind, name=name, dtype=self.dtype)
        return self.apply(graph, layer, x, identity_transfer, f"Activation {kind}")

    def clash(self, graph, x):
        """An activation named like a convolution's pad layer would be (`<conv>_pad`)."""
        convs = [c.name for c in self.calls if c.kind == CONVOLUTION]
        if not convs:
            return self.activation(graph, x)
        name = self.draw(st.sampled_from(convs)) + "_pad"
        if name in self.names:
            return self.activation(graph, x)
        self.names.add(name)
        return self.activation(graph, x, name=name)

    # -- structure ---------------------------------------------------------

    def merge(self, graph, values, how):
        if how == "add" and self.with_ops and not graph.sequential and self.draw(st.booleans()):
            # `a + b` on symbolic tensors: a keras.ops operation in the graph, not a layer
            node = Node([v.node for v in values], intersect_transfer)
            tensor = values[0].tensor
            for value in values[1:]:
                tensor = tensor + value.tensor
            self.log(graph, f"a + b (keras.ops) -> {tensor.shape}")
            return _Value(node, tensor.shape, tensor)
        if how == "add":
            layer = L.Add(name=self.name("add"), dtype=self.dtype)
        else:
            axis = 1 if self.data_format == "channels_first" else -1
            layer = L.Concatenate(axis=axis, name=self.name("concat"), dtype=self.dtype)
        return self.apply(graph, layer, values, intersect_transfer, how)

    def branch(self, graph, x):
        """Two paths from `x` with the same overall stride, merged by Add or Concatenate."""
        d = self.draw
        how = d(st.sampled_from(["add", "add", "concatenate"]))
        stride = d(st.sampled_from([1, 1, 2]))
        cout = d(st.integers(1, 3 if self.rank == 3 else 6))
        identity = stride == 1 and d(st.booleans())
        if identity and how == "add":
            cout = self.channels(x)
        self.log(graph, f"branch ({how}, stride {stride}{', identity' if identity else ''}):")
        paths = [x] if identity else []
        while len(paths) < 2:
            paths.append(self.branch_path(graph, x, stride, cout if how == "add" else None))
        return self.merge(graph, paths, how)

    def branch_path(self, graph, x, stride, filters):
        length = self.draw(st.integers(1, 2))
        strided = self.draw(st.integers(0, length - 1))
        y = x
        for index in range(length):
            last = index == length - 1
            padding = "same"
            if self.rank == 1 and self.draw(st.integers(0, 3)) == 0:
                padding = "causal"
            kinds = ["conv", "grouped"] if padding == "causal" else None
            y = self.conv(
                graph,
                y,
                padding=padding,
                filters=filters if last else None,
                stride=stride if index == strided else 1,
                kinds=kinds,
            )
        return y

    def shared_conv(self, graph, x):
        """One convolution called on `x` and on an activation of `x`, then Add."""
        padding = "same"
        kinds = None
        if self.rank == 1 and self.draw(st.booleans()):
            padding, kinds = "causal", ["conv"]
        kernel, strides, dilation = self.draw_window()
        if max(strides) > 1:
            dilation = (1,) * self.rank
        cls = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[self.rank]
        layer = cls(
            filters=self.draw(st.integers(1, 4)),
            kernel_size=kernel,
            strides=strides,
            padding=padding,
            dilation_rate=dilation,
            data_format=self.data_format,
            kernel_initializer="zeros",
            name=self.name("shared"),
            dtype=self.dtype,
        )
        window = (CONVOLUTION, padding, kernel, strides, dilation)
        if graph.depth == 0 and self.draw(st.integers(0, 3)) == 0:
            # the second call sees a smaller tensor: its pads may differ from the first's
            # (or be none where the first's are not), and its result is an extra output
            self.log(graph, "shared convolution, called twice, on different sizes:")
            a = self.call_window(graph, layer, x, *window)
            small = self.pool(graph, x, padding="same", stride=2)
            self.extra_outputs.append(self.call_window(graph, layer, small, *window))
            return a
        self.log(graph, "shared convolution, called twice:")
        a = self.call_window(graph, layer, x, *window)
        b = self.call_window(graph, layer, self.activation(graph, x), *window)
        return self.merge(graph, [a, b], "add")

    def nested(self, graph, x):
        """A Functional or Sequential sub-model called on `x` (sometimes twice)."""
        d = self.draw
        sequential = d(st.booleans())
        name = self.name("seq" if sequential else "sub")
        unknown = self.draw(st.integers(0, 3)) == 0  # inner sizes None although outer known
        spatial = (None,) * self.rank if unknown else self.spatial(x.shape)
        channels = self.channels(x)
        if self.data_format == "channels_first":
            shape = (channels, *spatial)
        else:
            shape = (*spatial, channels)
        tensor = keras.Input(shape=shape, name=f"{name}_input", dtype=self.dtype)
        self.names.add(f"{name}_input")
        key = f"{name}_input"
        inner_scenarios = [{key: evaluate(x.node, env, Context())} for env in graph.scenarios]
        model = keras.Sequential([tensor], name=name) if sequential else None
        inner = _Graph(
            graph.prefix + name + "/", inner_scenarios, sequential, model, graph.depth + 1
        )
        self.log(graph, f"{name}: {'Sequential' if sequential else 'Functional'} {shape}:")
        y = _Value(Node(key=key), tensor.shape, tensor)
        for _ in range(d(st.integers(1, 3))):
            y = self.step(inner, y)
        if not sequential:
            model = keras.Model(tensor, y.tensor, name=name)
        twice = not graph.sequential and d(st.integers(0, 3)) == 0

        def transfer(values, ctx):
            return evaluate(y.node, {key: values[0]}, ctx)

        first = self.apply(graph, model, x, transfer, f"call {name}")
        if not twice:
            return first
        second = self.apply(graph, model, self.activation(graph, x), transfer, f"call {name} again")
        return self.merge(graph, [first, second], "add")

    def step(self, graph, x):
        d = self.draw
        choices = ["conv"] * 5 + ["padded", "pool", "bn", "act", "clash"]
        if not graph.sequential:
            choices += ["branch"] * 3 + ["shared"] * 2
        if graph.depth < 2:
            choices += ["nested"] * 2
        kind = d(st.sampled_from(choices))
        return {
            "conv": self.conv,
            "padded": self.padded_window,
            "pool": self.pool,
            "bn": self.batch_norm,
            "act": self.activation,
            "clash": self.clash,
            "branch": self.branch,
            "shared": self.shared_conv,
            "nested": self.nested,
        }[kind](graph, x)


#: TensorFlow 2.21's CPU float64 Conv3D with padding='SAME' disagrees with an explicit
#: zero pad + 'VALID' and with a numpy reference (the explicit pad is right) when a
#: kernel extent is below its stride, e.g. (input, kernel, strides) below; float32 is
#: right. Rank-3 models are therefore drawn in float32 only.
FLOAT64_CONV3D = ((1, 1, 1, 3, 1), (1, 3, 1, 1, 1), (1, 3, 3, 3, 1))


def randomize_weights(model, seed: int):
    """Seeded weights: kernels ~ N(0, 1/fan_in), biases N(0, 0.5), BatchNorm stats non-trivial."""
    rng = np.random.default_rng(seed)
    seen = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
            continue
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, variance = (w.shape for w in weights)
            new = [
                rng.uniform(0.5, 1.5, gamma),
                rng.normal(0, 0.5, beta),
                rng.normal(0, 0.5, mean),
                rng.uniform(0.5, 2.0, variance),
            ]
        else:
            new = []
            for w in weights:
                if w.ndim == 1:
                    new.append(rng.normal(0, 0.5, w.shape))
                else:
                    fan_in = int(np.prod(w.shape[:-1]))
                    new.append(rng.normal(0, 1 / np.sqrt(max(fan_in, 1)), w.shape))
        layer.set_weights([v.astype(w.dtype) for v, w in zip(new, weights)])


@st.composite
def random_models(draw, max_steps: int = 4, with_ops: bool = False) -> ModelCase:
    """A random `ModelCase` (see the module docstring).

    With `with_ops`, some Add merges are `a + b` and some activations `keras.ops.relu`
    (etc.) on symbolic tensors: operations in the graph that are not layers.
    """
    rank = draw(st.sampled_from((1, 2, 2, 2, 2, 3)))
    data_format = draw(st.sampled_from(("channels_last",) * 3 + ("channels_first",)))
    dtype = "float32"
    # float64 only where TensorFlow's CPU kernels are right: not channels_first (Conv2D
    # refuses NCHW in float64) and not rank 3 (see FLOAT64_CONV3D).
    if rank < 3 and data_format == "channels_last":
        dtype = draw(st.sampled_from(("float32",) * 5 + ("float64",)))
    dynamic = draw(st.integers(0, 3)) == 0
    builder = _Builder(draw, rank, data_format, dtype, with_ops)
    low, high = {1: (5, 16), 2: (5, 12), 3: (5, 8)}[rank]

    n_inputs = draw(st.sampled_from((1, 1, 1, 2)))
    first_sizes = tuple(draw(st.integers(low, high)) for _ in range(rank))
    inputs, values, scenarios = [], [], [{}, {}] if dynamic else [{}]
    for index in range(n_inputs):
        name = f"in{index}"
        sizes = first_sizes if index == 0 or draw(st.booleans()) else tuple(
            draw(st.integers(low, high)) for _ in range(rank)
        )
        channels = draw(st.integers(1, 3 if rank == 3 else 4))
        spatial = (None,) * rank if dynamic else sizes
        shape = (channels, *spatial) if data_format == "channels_first" else (*spatial, channels)
        tensor = keras.Input(shape=shape, name=name, dtype=dtype)
        builder.names.add(name)
        node = Node(key=name)
        inputs.append((name, channels, node))
        values.append(_Value(node, tensor.shape, tensor))
        scenarios[0][name] = sizes
        if dynamic:
            scenarios[1][name] = tuple(n + 1 for n in sizes)
    envs = [
        {name: tuple(Axis(n, 0, n) for n in s[name]) for name in s} for s in scenarios
    ]
    graph = _Graph("", envs)

    outputs, finals = [], []
    for index, value in enumerate(values):
        builder.log(graph, f"in{index}: {value.shape}")
        steps = draw(st.integers(1, max_steps))
        middle = draw(st.integers(-1, steps - 1))  # an intermediate output, or none
        for step in range(steps):
            if index == 0 and step == 0:  # at least one convolution the rules concern
                padding = draw(st.sampled_from(("same", "causal") if rank == 1 else ("same",)))
                kinds = ["conv", "grouped"] if padding == "causal" else None
                value = builder.conv(graph, value, padding=padding, kinds=kinds)
            else:
                value = builder.step(graph, value)
            if step == middle and step < steps - 1:
                outputs.append(value)
        outputs.append(value)
        finals.append(value)
    outputs.extend(builder.extra_outputs)
    if n_inputs == 2 and draw(st.booleans()):
        a, b = finals
        if (
            builder.channels(a) == builder.channels(b)
            and builder.sizes(graph, a) == builder.sizes(graph, b)
        ):
            outputs.append(builder.merge(graph, [a, b], "add"))

    dict_outputs = len(outputs) > 1 and draw(st.booleans())
    dict_inputs = n_inputs > 1 and draw(st.booleans())
    input_tensors = [v.tensor for v in values]
    if dict_inputs:
        model_inputs = {name: t for (name, _, _), t in zip(inputs, input_tensors)}
    else:
        model_inputs = input_tensors[0] if n_inputs == 1 else input_tensors
    if dict_outputs:
        keyed = {f"out{i}": v for i, v in enumerate(outputs)}
        model_outputs = {k: v.tensor for k, v in keyed.items()}
        ordered = [keyed[k] for k in sorted(keyed)]  # keras.tree.flatten sorts dict keys
    else:
        model_outputs = outputs[0].tensor if len(outputs) == 1 else [v.tensor for v in outputs]
        ordered = outputs
    model = keras.Model(model_inputs, model_outputs, name="outer")
    seed = draw(st.integers(0, 2**31 - 1))
    randomize_weights(model, seed)
    return ModelCase(
        model=model,
        lines=builder.lines,
        rank=rank,
        data_format=data_format,
        dtype=dtype,
        dynamic=dynamic,
        inputs=inputs,
        dict_inputs=dict_inputs,
        scenarios=scenarios,
        outputs=[v.node for v in ordered],
        calls=builder.calls,
        seed=seed,
    )
