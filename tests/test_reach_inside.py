"""Convolutions held by other layers: custom layers (nested, in lists and dicts),
Keras wrappers and subclassed models are rewritten through their attributes.

Checked: zero mode reproduces the original exactly; the report names each
convolution by its attribute path; the input model is untouched; the weights
are the original's variables (a weight list of either model loads into the
other); a saved rewrite loads back rewritten in a fresh process; reflect
exports to ONNX with one native Pad per convolution and passes parity.
"""

import json
import textwrap

import keras
import numpy as np
import onnx
import pytest
from cli_helpers import fresh_python, run
from hypothesis import given, settings
from hypothesis import strategies as st

import padrewrite
from padrewrite.padded import PaddedConv2D, RewrittenLayer

L = keras.layers


def _run(model, x):
    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _randomize(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3
                       for w in model.get_weights()])


# -- a registered custom layer nesting others: two deep, in a list and in a dict -----------


@keras.saving.register_keras_serializable(package="reachtest")
class Nest(L.Layer):
    """Holds children built from `spec`: ["conv", kernel, stride, dilation] or
    ["list", [...]] / ["dict", {...}] / ["nest", spec] (a Nest inside) /
    ["seq", [...]] (a keras.Sequential of the children, no Input: built on call)."""

    def __init__(self, spec, filters=4, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.filters = spec, filters
        kind, body = spec[0], spec[1:]
        if kind == "list":
            self.children_ = [self._make(s, i) for i, s in enumerate(body[0])]
        elif kind == "dict":
            self.children_ = {k: self._make(s, k) for k, s in sorted(body[0].items())}
        elif kind == "seq":
            self.children_ = [keras.Sequential(
                [self._make(s, i) for i, s in enumerate(body[0])], name="seq")]
        else:  # "nest": one Nest inside
            self.children_ = [self._make(body[0], 0)]

    def _make(self, spec, key):
        if spec[0] == "conv":
            _, k, s, d = spec
            return L.Conv2D(self.filters, k, strides=s, dilation_rate=d, padding="same",
                            name=f"conv_{key}")
        if spec[0] == "nest":
            return Nest(spec, self.filters, name=f"nest_{key}")
        return Nest(spec, self.filters, name=f"{spec[0]}_{key}")

    def _ordered(self):
        children = self.children_
        return list(children.values()) if isinstance(children, dict) else list(children)

    def call(self, x):
        for child in self._ordered():
            x = child(x)
        return x

    def get_config(self):
        return {**super().get_config(), "spec": self.spec, "filters": self.filters}


def _nest_model(spec, size=11):
    inputs = keras.Input((size, size, 4), name="image")
    outputs = Nest(spec, name="outer")(inputs)
    return keras.Model(inputs, outputs, name="nested")


NESTED = ["list", [["conv", 3, 1, 1],
                   ["dict", {"a": ["conv", 4, 2, 1], "b": ["nest", ["conv", 3, 1, 2]]}]]]


def test_nested_custom_layers_are_rewritten_by_attribute_path():
    model = _nest_model(NESTED)
    _randomize(model)
    x = _x((2, 11, 11, 4))
    before = [w.copy() for w in model.get_weights()]
    result = padrewrite.rewrite_model(model, "constant")
    paths = [r.path for r in result.report.rewritten]
    assert paths == ["outer/children_/0", "outer/children_/1/children_/a",
                     "outer/children_/1/children_/b/children_/0"]
    assert [r.pads for r in result.report.rewritten] == [
        ((1, 1), (1, 1)), (None, None), ((2, 2), (2, 2))]
    np.testing.assert_array_equal(_run(result.model, x), _run(model, x))
    # The input model is untouched: same classes, paddings and weights.
    assert all(layer.padding == "same" for layer in model._flatten_layers()
               if isinstance(layer, L.Conv2D))
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    outer = result.model.get_layer("outer")
    assert isinstance(outer, RewrittenLayer)
    convs = [l for l in outer._flatten_layers() if isinstance(l, L.Conv2D)]
    assert len(convs) == 3 and all(isinstance(c, PaddedConv2D) for c in convs)
    assert all(c.padding == "valid" for c in convs)


def test_reflect_differs_and_weights_are_interchangeable():
    model = _nest_model(NESTED)
    _randomize(model)
    x = _x((2, 11, 11, 4))
    rewritten = padrewrite.rewrite_model(model, "reflect").model
    assert np.abs(_run(rewritten, x) - _run(model, x)).max() > 1e-3
    assert [tuple(w.shape) for w in rewritten.weights] == [tuple(w.shape) for w in model.weights]
    assert [w.path.split("/")[-1] for w in rewritten.weights] == \
        [w.path.split("/")[-1] for w in model.weights]
    # A weight list of the original loads into the rewrite, and back.
    other = _nest_model(NESTED)
    _randomize(other, seed=7)
    rewritten.set_weights(other.get_weights())
    zero = padrewrite.rewrite_model(other, "constant").model
    zero.set_weights(rewritten.get_weights())
    np.testing.assert_array_equal(_run(zero, x), _run(other, x))


# -- hypothesis: random nestings ---------------------------------------------------------


def _conv_spec():
    return st.tuples(st.just("conv"), st.integers(1, 4), st.integers(1, 2),
                     st.integers(1, 2)).filter(lambda t: t[2] == 1 or t[3] == 1).map(list)


_specs = st.recursive(
    _conv_spec(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: ["list", xs]),
        st.dictionaries(st.sampled_from("abc"), inner, min_size=1, max_size=2).map(
            lambda d: ["dict", d]),
        inner.map(lambda s: ["nest", s]),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: ["seq", xs]),
    ),
    max_leaves=5,
)


def _count(spec):
    if spec[0] == "conv":
        return 1
    if spec[0] in ("list", "seq"):
        return sum(_count(s) for s in spec[1])
    if spec[0] == "dict":
        return sum(_count(s) for s in spec[1].values())
    return _count(spec[1])


@settings(max_examples=8, deadline=None)
@given(spec=_specs.map(lambda s: s if s[0] != "conv" else ["list", [s]]),
       size=st.integers(5, 9))
def test_random_nestings_rewrite_exactly_and_survive_a_save(spec, size, tmp_path_factory):
    model = _nest_model(spec, size)
    _randomize(model)
    x = _x((1, size, size, 4))
    zero = padrewrite.rewrite_model(model, "constant")
    convolutions = [r for r in zero.report.records if r.kind == "convolution"]
    assert len(convolutions) == _count(spec)
    assert all(r.action in ("rewritten", "unchanged") for r in convolutions)
    assert len({r.path for r in convolutions}) == len(convolutions)
    np.testing.assert_array_equal(_run(zero.model, x), _run(model, x))
    # Held layers may be called at other sizes: strided pads follow the run-time size.
    other = _x((1, size + 1, size + 1, 4), seed=3)
    np.testing.assert_array_equal(
        _run(zero.model.get_layer("outer"), other), _run(model.get_layer("outer"), other))
    replicate = padrewrite.rewrite_model(model, "replicate").model
    path = tmp_path_factory.mktemp("nest") / "m.keras"
    replicate.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(_run(loaded, x), _run(replicate, x))
    still_same = [l for l in loaded._flatten_layers()
                  if isinstance(l, L.Conv2D) and l.padding == "same"]
    assert len(still_same) == len(zero.report.unchanged)  # those pad nothing (1x1)
    assert all(l.kernel_size == (1, 1) for l in still_same)


# -- Keras wrappers ------------------------------------------------------------------------


def _time_distributed():
    inputs = keras.Input((3, 10, 10, 4))
    x = L.TimeDistributed(L.Conv2D(4, 3, padding="same"), name="td_conv")(inputs)
    x = L.TimeDistributed(L.DepthwiseConv2D(4, strides=2, padding="same"), name="td_dw")(x)
    return keras.Model(inputs, x)


def test_time_distributed_convolutions_are_rewritten(tmp_path):
    model = _time_distributed()
    _randomize(model)
    x = _x((2, 3, 10, 10, 4))
    zero = padrewrite.rewrite_model(model, "constant")
    assert [(r.path, r.class_name, r.action) for r in zero.report.records] == [
        ("td_conv/layer", "Conv2D", "rewritten"),
        ("td_dw/layer", "DepthwiseConv2D", "rewritten")]
    np.testing.assert_array_equal(_run(zero.model, x), _run(model, x))
    reflect = padrewrite.rewrite_model(model, "reflect").model
    # A Keras wrapper serializes its inner layer: no RewrittenLayer is needed.
    assert type(reflect.get_layer("td_conv")) is L.TimeDistributed
    reflect.save(tmp_path / "td.keras")
    loaded = keras.saving.load_model(tmp_path / "td.keras")
    assert isinstance(loaded.get_layer("td_dw").layer, padrewrite.padded.PaddedDepthwiseConv2D)
    np.testing.assert_array_equal(_run(loaded, x), _run(reflect, x))
    assert np.abs(_run(reflect, x) - _run(model, x)).max() > 1e-3


# -- subclassed models ---------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="reachtest")
class Net(keras.Model):
    """A subclassed model: strided, dilated and even-kernel convolutions in call()."""

    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.even = L.Conv2D(width, 4, padding="same", name="even")
        self.blocks = [L.Conv2D(width, 3, strides=2, padding="same", name="strided"),
                       L.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="dilated")]
        self.head = L.SeparableConv2D(2, 3, padding="same", name="head")

    def call(self, x):
        x = self.even(x)
        for block in self.blocks:
            x = keras.ops.relu(block(x))
        return self.head(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def _net(size=13):
    net = Net(name="net")
    net(_x((1, size, size, 3)))
    _randomize(net)
    return net


def test_a_subclassed_model_is_rewritten_through_its_attributes():
    net = _net()
    x = _x((2, 13, 13, 3))
    zero = padrewrite.rewrite_model(net, "constant")
    assert [(r.path, r.pads) for r in zero.report.rewritten] == [
        ("even", ((1, 2), (1, 2))), ("blocks/0", (None, None)),
        ("blocks/1", ((2, 2), (2, 2))), ("head", ((1, 1), (1, 1)))]
    np.testing.assert_array_equal(_run(zero.model, x), _run(net, x))
    (note,) = zero.report.notes
    assert note.change == "class-changed" and note.new_class_name == "Functional"
    assert "RewrittenLayer" in note.reason
    assert isinstance(zero.model.get_layer("net").layer, Net)
    assert net.even.padding == "same"  # untouched


def test_an_unbuilt_subclassed_model_is_refused_with_what_to_do():
    with pytest.raises(padrewrite.rewrite.RewriteError, match="is not built: call it once"):
        padrewrite.rewrite_model(Net(name="n"), "reflect")


def _pad_nodes(path):
    return [n for n in onnx.load(str(path)).graph.node if n.op_type == "Pad"]


def test_subclassed_reflect_exports_with_native_pads_and_passes_parity(tmp_path):
    net = _net()
    model = padrewrite.rewrite_model(net, "reflect").model
    report = padrewrite.export_onnx(model, tmp_path / "net.onnx")
    pads = _pad_nodes(tmp_path / "net.onnx")
    assert len(pads) == 4, report.to_dict()
    assert {next(a.s for a in n.attribute if a.name == "mode") for n in pads} == {b"reflect"}
    assert padrewrite.check_parity(model, tmp_path / "net.onnx")


def test_cli_subclassed_file_onnx_verify_and_fresh_process_load(tmp_path):
    source = tmp_path / "net.keras"
    _net().save(source)
    out, onnx_path = tmp_path / "r.keras", tmp_path / "r.onnx"
    result = run(source, "--mode", "reflect", "-o", out, "--onnx", onnx_path,
                 "--verify", "--json", "--import", "test_reach_inside")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "passed"
    assert [r["path"] for r in document["rewrite"]["layers"]] == [
        "even", "blocks/0", "blocks/1", "head"]
    assert document["export"]["pads"] if "pads" in document["export"] else True
    x = _x((1, 13, 13, 3), seed=3)
    np.save(tmp_path / "x.npy", x)
    expected = _run(keras.saving.load_model(out), x)
    code = textwrap.dedent(f"""
        import numpy as np, keras, padrewrite
        import test_reach_inside
        model = keras.saving.load_model({str(out)!r})
        y = np.asarray(model(np.load({str(tmp_path / 'x.npy')!r})))
        np.save({str(tmp_path / 'y.npy')!r}, y)
        convs = [l for l in model._flatten_layers() if hasattr(l, 'padding')]
        print(sorted({{(type(l).__name__, l.padding) for l in convs}}))
    """)
    process = fresh_python(code)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip() == (
        "[('PaddedConv2D', 'valid'), ('PaddedDepthwiseConv2D', 'valid'), "
        "('PaddedSeparableConv2D', 'valid')]")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


# -- graph models held by a custom layer ----------------------------------------------------


@keras.saving.register_keras_serializable(package="reachtest")
class GraphHolder(L.Layer):
    """Holds a Sequential built on its first call (no Input), a Functional with unknown
    sizes and a convolution of its own, as user code ports `nn.Sequential` blocks."""

    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.block = keras.Sequential(
            [L.Conv2D(width, 3, padding="same", name="c1"), L.ReLU(name="relu"),
             L.Conv2D(width, 3, strides=2, padding="same", name="c2")], name="block")
        inputs = keras.Input((None, None, width))
        self.head = keras.Model(
            inputs, L.DepthwiseConv2D(5, padding="same", name="dw")(inputs), name="head")
        self.tail = L.Conv2D(2, 3, padding="same", name="tail")

    def call(self, x):
        return self.tail(self.head(self.block(x)))

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def _graph_holder_model():
    inputs = keras.Input((15, 15, 3))
    model = keras.Model(inputs, GraphHolder(name="holder")(inputs))
    _randomize(model)
    return model


def test_graph_models_held_by_a_custom_layer_are_rebuilt_and_rewritten():
    model = _graph_holder_model()
    result = padrewrite.rewrite_model(model, "constant")
    assert [(r.path, r.pads) for r in result.report.rewritten] == [
        ("holder/block/c1", ((1, 1), (1, 1))),
        ("holder/block/c2", (None, None)),  # strided, held: pads from the run-time size
        ("holder/head/dw", ((2, 2), (2, 2))),
        ("holder/tail", ((1, 1), (1, 1))),
    ]
    x = _x((2, 15, 15, 3))
    np.testing.assert_array_equal(_run(result.model, x), _run(model, x))
    other = _x((1, 18, 18, 3), seed=4)
    np.testing.assert_array_equal(
        _run(result.model.get_layer("holder"), other), _run(model.get_layer("holder"), other))
    holder = result.model.get_layer("holder")
    assert isinstance(holder, RewrittenLayer)
    assert [type(l).__name__ for l in holder.layer.block.layers] == [
        "Padding2D", "Conv2D", "ReLU", "SamePadding2D", "Conv2D"]
    assert [tuple(w.shape) for w in result.model.weights] == [
        tuple(w.shape) for w in model.weights]


def test_cli_graph_holder_reflect_onnx_verify_and_fresh_process_load(tmp_path):
    source = tmp_path / "holder.keras"
    _graph_holder_model().save(source)
    out, onnx_path = tmp_path / "r.keras", tmp_path / "r.onnx"
    result = run(source, "--mode", "reflect", "-o", out, "--onnx", onnx_path,
                 "--verify", "--import", "test_reach_inside")
    assert result.exit_code == 0, result.output
    pads = _pad_nodes(onnx_path)
    assert len(pads) == 4
    assert {next(a.s for a in n.attribute if a.name == "mode") for n in pads} == {b"reflect"}
    x = _x((1, 15, 15, 3), seed=3)
    np.save(tmp_path / "x.npy", x)
    expected = _run(keras.saving.load_model(out), x)
    code = textwrap.dedent(f"""
        import numpy as np, keras, padrewrite
        import test_reach_inside
        model = keras.saving.load_model({str(out)!r})
        np.save({str(tmp_path / 'y.npy')!r}, np.asarray(model(np.load({str(tmp_path / 'x.npy')!r}))))
        block = model.get_layer("holder").layer.block
        print([type(l).__name__ for l in block.layers])
    """)
    process = fresh_python(code)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.strip().splitlines()[-1] == (
        "['Padding2D', 'Conv2D', 'ReLU', 'SamePadding2D', 'Conv2D']")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_an_unbuilt_sequential_held_by_a_custom_layer_is_reported_skipped():
    class Lazy(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = keras.Sequential([L.Conv2D(2, 3, padding="same", name="c")])

        def call(self, x):
            return x

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, Lazy(name="lazy")(inputs))
    (record,) = padrewrite.rewrite_model(model, "reflect").report.records
    assert (record.path, record.action) == ("lazy/block/c", "skipped")
    assert "is not built" in record.reason


def test_cli_subclassed_file_without_its_class_says_to_import(tmp_path):
    source = tmp_path / "net.keras"
    _net().save(source)
    config = json.loads(__import__("zipfile").ZipFile(source).read("config.json"))
    assert config["registered_name"] == "reachtest>Net"
    code = textwrap.dedent(f"""
        from click.testing import CliRunner
        from padrewrite.cli import main
        r = CliRunner().invoke(main, [{str(source)!r}, '--plan'])
        print(r.exit_code); print(r.output)
    """)
    process = fresh_python(code, tests_importable=False)
    lines = process.stdout.splitlines()
    assert lines[0] == "2", process.stdout + process.stderr[-2000:]
    assert "--import" in process.stdout


# -- keras-hub's SD3 VAE: every convolution lives in custom layers ---------------------------


@pytest.mark.slow
def test_hub_vae_circular_onnx_verify(tmp_path):
    import corpus

    # Random weights, default tolerances. On the all-ones parity sample a circular pad keeps
    # every map constant, so GroupNormalization divides float noise by sqrt(epsilon): the
    # ONNX difference there is 1.9e-4 to 1.6e-3 (random inputs: 1e-5); the check judges
    # that sample against its error floor (padrewrite.verify.conditioning).
    source = tmp_path / "vae.keras"
    corpus.build_hub_vae().save(source)
    result = run(source, "--mode", "circular", "-o", tmp_path / "c.keras",
                 "--onnx", tmp_path / "c.onnx", "--verify", "--json")
    assert result.exit_code == 0, result.output[-3000:]
    document = json.loads(result.output)
    assert document["status"] == "passed"
    assert document["rewrite"]["counts"]["rewritten"] == 26
    rewritten = [r["path"] for r in document["rewrite"]["layers"] if r["action"] == "rewritten"]
    assert "encoder/blocks/0/conv1" in rewritten
    assert all(r["action"] != "skipped" for r in document["rewrite"]["layers"])
    assert document["verify"]["keras"]["passed"]
    assert [n["change"] for n in document["rewrite"]["notes"]] == [
        "config-completed", "class-changed"]


# -- layers a holder makes in build() ---------------------------------------------------------


@keras.saving.register_keras_serializable(package="reachtest")
class BuildsInBuild(L.Layer):
    """Makes its layers in build(), as keras-hub's DeepLabV3 SpatialPyramidPooling (a list
    of Sequential branches) and RetinaNet's FeaturePyramid (dicts of convolutions) do,
    and a weight of its own."""

    def __init__(self, width=3, **kwargs):
        super().__init__(**kwargs)
        self.width = width

    def build(self, shape):
        self.scale = self.add_weight(shape=(self.width,), initializer="ones", name="scale")
        self.conv = L.Conv2D(self.width, 4, padding="same", name="even")
        self.conv.build(shape)
        self.branches = [keras.Sequential(
            [L.Conv2D(self.width, 3, dilation_rate=2, padding="same", name="dilated"),
             L.ReLU(name="relu")], name="branch")]
        self.branches[0].build(shape[:-1] + (self.width,))
        self.by_level = {"P1": L.DepthwiseConv2D(3, strides=2, padding="same", name="coarse")}
        self.by_level["P1"].build(shape[:-1] + (self.width,))

    def call(self, x):
        x = self.branches[0](self.conv(x)) * self.scale
        return self.by_level["P1"](x)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def _builds_in_build_model():
    inputs = keras.Input((9, 9, 3))
    model = keras.Model(inputs, BuildsInBuild(name="holder")(inputs))
    _randomize(model)
    return model


def test_layers_a_holder_creates_in_build_are_rewritten_exactly_and_reload(tmp_path):
    model = _builds_in_build_model()
    x = _x((2, 9, 9, 3))
    zero = padrewrite.rewrite_model(model, "constant")
    assert [(r.path, r.action, r.pads) for r in zero.report.records] == [
        ("holder/conv", "rewritten", ((1, 2), (1, 2))),
        ("holder/branches/0/dilated", "rewritten", ((2, 2), (2, 2))),
        ("holder/by_level/P1", "rewritten", (None, None)),
    ]
    np.testing.assert_array_equal(_run(zero.model, x), _run(model, x))
    # Every weight is there once, in the same order, with the original's values.
    assert zero.model.count_params() == model.count_params()
    assert [w.path.split("/")[-1] for w in zero.model.weights] == [
        w.path.split("/")[-1] for w in model.weights]
    for new, old in zip(zero.model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(new, old)
    holder = zero.model.get_layer("holder")
    assert isinstance(holder, RewrittenLayer)
    assert holder.get_config()["built_with"] == {"input_shape": [None, 9, 9, 3]}
    assert isinstance(holder.layer.conv, PaddedConv2D)
    assert [type(l).__name__ for l in holder.layer.branches[0].layers] == [
        "Padding2D", "Conv2D", "ReLU"]
    assert model.get_layer("holder").conv.padding == "same"  # the input model is untouched

    reflect = padrewrite.rewrite_model(model, "reflect").model
    assert np.abs(_run(reflect, x) - _run(model, x)).max() > 1e-3
    inspected = _reloaded_in_fresh_process(reflect, x, tmp_path, """
        inner = model.get_layer("holder").layer
        print(model.count_params(), type(inner.conv).__name__, type(inner.by_level["P1"]).__name__,
              [type(l).__name__ for l in inner.branches[0].layers])
    """)
    classes = f"{model.count_params()} PaddedConv2D PaddedDepthwiseConv2D " \
        "['Padding2D', 'Conv2D', 'ReLU']"
    assert inspected == classes


@keras.saving.register_keras_serializable(package="reachtest")
class BuildsFromUnsavedState(L.Layer):
    """Its build() reads `filters`, set after construction and not in its config."""

    def build(self, shape):
        self.conv = L.Conv2D(self.filters, 3, padding="same", name="late")
        self.conv.build(shape)

    def call(self, x):
        return self.conv(x)


def test_a_holder_whose_copy_cannot_be_built_as_the_original_is_skipped_with_the_cause():
    holder = BuildsFromUnsavedState(name="holder")
    holder.filters = 2
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, holder(inputs))
    _randomize(model)
    result = padrewrite.rewrite_model(model, "reflect")
    (record,) = result.report.records
    assert (record.path, record.action) == ("holder/conv", "skipped")
    assert record.reason.startswith(
        "held by 'holder' (BuildsFromUnsavedState), which makes it in build(); building "
        "its copy as the original was built raised AttributeError:")
    assert "'filters'" in record.reason and record.reason.endswith("; left as it is")
    # No copy of it can be built: the very instance is kept, and said.
    (note,) = result.report.notes
    assert (note.path, note.change) == ("holder", "layer-shared")
    assert result.model.get_layer("holder") is holder
    x = _x((1, 8, 8, 3))
    np.testing.assert_array_equal(_run(result.model, x), _run(model, x))


# -- a holder whose get_config cannot rebuild it ------------------------------------------------


class MixBlock(L.Layer):
    """A sub-layer without a config of its own (keras-hub MiT's MixFFN)."""

    def __init__(self, width, dilation):
        super().__init__()
        self.conv = L.Conv2D(width, 3, dilation_rate=dilation, padding="same")

    def call(self, x):
        return self.conv(x)


@keras.saving.register_keras_serializable(package="reachtest")
class Forgetful(L.Layer):
    """keras-hub MiT's HierarchicalTransformerEncoder pattern: get_config adds a key the
    constructor refuses (`inner`) and leaves out an argument with a default (`dilation`)."""

    def __init__(self, width, dilation=1, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.inner = MixBlock(width, dilation)

    def call(self, x):
        return self.inner(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width,
                "inner": keras.saving.serialize_keras_object(self.inner)}


def _forgetful_model(width=3):
    inputs = keras.Input((10, 10, 3))
    model = keras.Model(inputs, Forgetful(width, dilation=2, name="holder")(inputs))
    _randomize(model)
    return model


def test_a_holder_with_an_incomplete_config_is_rebuilt_from_its_recorded_arguments(tmp_path):
    model = _forgetful_model()
    with pytest.raises(TypeError, match="Unrecognized keyword arguments"):
        Forgetful.from_config(model.get_layer("holder").get_config())
    x = _x((2, 10, 10, 3))
    zero = padrewrite.rewrite_model(model, "constant")
    (record,) = zero.report.records
    assert (record.path, record.action, record.pads) == (
        "holder/inner/conv", "rewritten", ((2, 2), (2, 2)))  # dilation 2 kept
    (note,) = zero.report.notes
    assert (note.path, note.change) == ("holder", "config-completed")
    assert "Unrecognized keyword arguments passed to Forgetful" in note.reason
    assert "constructor arguments Keras recorded when it was made (width=3, dilation=2)" \
        in note.reason
    np.testing.assert_array_equal(_run(zero.model, x), _run(model, x))
    assert zero.model.count_params() == model.count_params()
    for new, old in zip(zero.model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(new, old)
    holder = zero.model.get_layer("holder")
    assert holder.get_config()["layer_config"]["dilation"] == 2

    reflect = padrewrite.rewrite_model(model, "reflect").model
    inspected = _reloaded_in_fresh_process(reflect, x, tmp_path, """
        inner = model.get_layer("holder").layer.inner
        print(type(inner.conv).__name__, inner.conv.dilation_rate)
    """)
    assert inspected == "PaddedConv2D (2, 2)"


def test_a_holder_with_an_incomplete_config_and_no_recorded_arguments_is_skipped():
    """Keras records constructor arguments only when all are plain values."""
    model = _forgetful_model(width=np.int64(3))
    assert padrewrite.keras_side.keras_internals.constructor_arguments(model.get_layer("holder")) is None
    result = padrewrite.rewrite_model(model, "reflect")
    (record,) = result.report.records
    assert (record.path, record.action) == ("holder/inner/conv", "skipped")
    # np.int64 reaches MixBlock too: its config, and so the holder's, cannot be made.
    assert record.reason.startswith(
        "held by 'holder' (Forgetful), which cannot be rebuilt from its config (its "
        "get_config() fails: NotImplementedError: Object MixBlock was created by passing "
        "non-serializable argument values")
    assert record.reason.endswith("give it a complete get_config() to rewrite it")


def test_constructor_arguments_are_what_keras_recorded():
    layer = Forgetful(3, name="f")
    assert padrewrite.keras_side.keras_internals.constructor_arguments(layer) == {"width": 3, "dilation": 1}
    assert padrewrite.keras_side.keras_internals.constructor_arguments(layer.inner) == {
        "width": 3, "dilation": 1}
    assert padrewrite.keras_side.keras_internals.constructor_arguments(L.Conv2D(2, 3))["filters"] == 2


# -- keras-hub: DeepLabV3 and RetinaNet make their convolutions in build(), MiT's config ------


def _fresh_process_reload(path, x, expected, tmp_path):
    """Load `path` in a new process and check it computes `expected` on `x`; the
    padrewrite classes of its layers."""
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import numpy as np, keras, padrewrite
        model = keras.saving.load_model({str(path)!r})
        y = model(np.load({str(tmp_path / 'x.npy')!r}), training=False)
        np.save({str(tmp_path / 'y.npy')!r},
                np.concatenate([np.asarray(v).ravel() for v in keras.tree.flatten(y)]))
        print(sorted({{type(l).__name__ for l in model._flatten_layers()
                       if type(l).__module__.startswith('padrewrite')}}))
    """)
    process = fresh_python(code, tests_importable=False)
    assert process.returncode == 0, process.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
    return process.stdout.strip().splitlines()[-1]


def _flat_outputs(model, x):
    return np.concatenate(
        [np.asarray(v).ravel() for v in keras.tree.flatten(model(x, training=False))])


def _hub_cli(tmp_path, model, mode, *options):
    source = tmp_path / "source.keras"
    if not source.exists():
        model.save(source)
    out = tmp_path / f"{mode}.keras"
    result = run(source, "--mode", mode, "-o", out, "--verify", "--json", *options)
    assert result.exit_code == 0, result.output[-3000:]
    document = json.loads(result.output)
    assert document["status"] == "passed"
    assert document["verify"]["keras"]["passed"]
    return document, out


HUB_HOLDERS = {
    # model: (builder, holder, {path under the holder: pads}, paths that pad nothing)
    "deeplab_v3": ("build_hub_deeplab_v3", "spatial_pyramid_pooling", {
        "aspp_parallel_channels/1/aspp_conv_2": [[2, 2], [2, 2]],
        "aspp_parallel_channels/2/aspp_conv_3": [[4, 4], [4, 4]],
        "aspp_parallel_channels/3/aspp_conv_4": [[6, 6], [6, 6]],
    }, []),
    "retinanet": ("build_hub_retinanet", "fpn", {
        "output_conv_layers/P3": [[1, 1], [1, 1]],
        "output_conv_layers/P4": [[1, 1], [1, 1]],
        "output_conv_layers/P5": [[1, 1], [1, 1]],
        "output_conv_layers/P6": [None, None],  # stride 2: pads from the run-time size
        "output_conv_layers/P7": [None, None],
    }, ["lateral_conv_layers/P3", "lateral_conv_layers/P4", "lateral_conv_layers/P5"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HUB_HOLDERS))
def test_hub_holders_making_convolutions_in_build_cli_onnx_verify(tmp_path, name):
    import corpus

    builder, holder, expected, pads_nothing = HUB_HOLDERS[name]
    model = getattr(corpus, builder)()
    x = _x((1, *model.input.shape[1:]), seed=5)
    for mode in ("constant", "reflect"):
        document, out = _hub_cli(tmp_path, model, mode, "--onnx", tmp_path / f"{mode}.onnx")
        layers = {r["path"]: r for r in document["rewrite"]["layers"]}
        # A loaded keras-hub model may name its layers with a suffix (`_1`).
        held = {p.split("/", 1)[1]: r for p, r in layers.items()
                if "/" in p and p.split("/")[0].startswith(holder)}
        assert {p: r["pads"] for p, r in held.items() if r["action"] == "rewritten"} == expected
        assert [p for p, r in held.items() if r["action"] == "unchanged"
                and r["reason"].startswith("'same' pads nothing")] == pads_nothing
        assert not [p for p, r in layers.items()
                    if r["action"] == "skipped" and r["kind"] == "convolution"]
        assert document["verify"]["onnx"]["passed"]
        assert document["export"]["node_counts"]["Pad"] >= len(expected)
        if mode == "constant":  # exact: the reloaded file equals the original
            assert {o["max_abs_vs_original"] for o in document["verify"]["keras"]["outputs"]} \
                == {0.0}
    reflect = keras.saving.load_model(out)
    assert reflect.count_params() == model.count_params()
    classes = _fresh_process_reload(out, x, _flat_outputs(reflect, x), tmp_path)
    assert "RewrittenLayer" in classes


@pytest.mark.slow
def test_hub_mit_encoder_blocks_rebuilt_from_recorded_arguments_cli_verify(tmp_path):
    """keras-hub's HierarchicalTransformerEncoder config does not rebuild it (an `mlp` its
    constructor refuses, `sr_ratio` left out). No --onnx: tf2onnx's export of MiT does
    not run in onnxruntime, rewritten or not (tests/test_real_models.py)."""
    import corpus

    model = corpus.build_hub_mit()
    x = _x((1, 64, 64, 3), seed=5)
    for mode in ("constant", "reflect"):
        document, out = _hub_cli(tmp_path, model, mode)
        rewritten = [r["path"] for r in document["rewrite"]["layers"]
                     if r["action"] == "rewritten"]
        assert rewritten == [f"hierarchical_encoder_{i}_{k}/mlp/dwconv"
                             for i in range(2) for k in range(2)]
        assert document["rewrite"]["counts"]["skipped"] == 0
        notes = document["rewrite"]["notes"]
        assert [n["change"] for n in notes] == ["config-completed"] * 4 + ["class-changed"]
        assert "sr_ratio=4" in notes[0]["reason"]
        if mode == "constant":
            assert {o["max_abs_vs_original"] for o in document["verify"]["keras"]["outputs"]} \
                == {0.0}
    reflect = keras.saving.load_model(out)
    assert reflect.count_params() == model.count_params()
    classes = _fresh_process_reload(out, x, _flat_outputs(reflect, x), tmp_path)
    assert classes == "['PaddedDepthwiseConv2D', 'RewrittenLayer']"


def _reloaded_in_fresh_process(model, x, tmp_path, inspect: str) -> str:
    """Save `model`, load it in a fresh process (with only this module's layers
    registered), run `inspect` there on the loaded `model`, save and load it once more;
    assert both loaded copies compute what `model` computes on `x`. Returns the line
    `inspect` printed."""
    path = tmp_path / "r.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import numpy as np, keras, padrewrite
        import test_reach_inside
        model = keras.saving.load_model({str(path)!r})
        np.save({str(tmp_path / 'y.npy')!r}, np.asarray(model(np.load({str(tmp_path / 'x.npy')!r}))))
    """) + textwrap.dedent(inspect) + textwrap.dedent(f"""
        model.save({str(tmp_path / 'again.keras')!r})  # a loaded rewrite saves again
        again = keras.saving.load_model({str(tmp_path / 'again.keras')!r})
        print(np.abs(np.asarray(again(np.load({str(tmp_path / 'x.npy')!r})))
                     - np.load({str(tmp_path / 'y.npy')!r})).max())
    """)
    process = fresh_python(code)
    assert process.returncode == 0, process.stderr[-2000:]
    inspected, difference = process.stdout.strip().splitlines()[-2:]
    assert difference == "0.0"
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), _run(model, x))
    return inspected
