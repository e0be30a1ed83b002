"""Smoke tests: every private Keras API padrewrite relies on still exists and behaves.

When a Keras release changes one, the test named after it fails, and
`padrewrite.keras_side.keras_internals` raises `KerasInternalsError` naming it.
"""

import pathlib
import re

import keras
import pytest

from padrewrite.keras_side import keras_internals as internals

L = keras.layers


@pytest.fixture(scope="module")
def graph():
    inputs = keras.Input((6, 6, 3), name="image")
    conv = L.Conv2D(3, 3, padding="same", name="conv")
    x = conv(inputs)
    outputs = L.Add(name="add")([x, conv(x)])
    return keras.Model(inputs, outputs, name="g"), conv


def test_is_functional(graph):
    model, _ = graph
    assert internals.is_functional(model)
    assert not internals.is_functional(L.Dense(2))
    assert not internals.is_functional(keras.Sequential([L.Dense(2)]))


def test_sequential_graph():
    unbuilt = keras.Sequential([L.Dense(2)])
    assert internals.sequential_graph(unbuilt) is None
    built = keras.Sequential([keras.Input((4,)), L.Dense(2, name="d")])
    graph = internals.sequential_graph(built)
    assert internals.is_functional(graph)
    assert [layer.name for layer in graph.layers][-1] == "d"


def test_run_through_graph_calls_every_node(graph):
    model, conv = graph
    seen = []

    def call(layer, *args, **kwargs):
        seen.append(layer.name)
        return layer(*args, **kwargs)

    outputs = internals.run_through_graph(model, keras.Input((6, 6, 3)), call)
    assert seen == ["conv", "conv", "add"]
    assert tuple(outputs.shape) == (None, 6, 6, 3)


def test_nodes_by_depth_and_inbound_nodes(graph):
    model, conv = graph
    by_depth = internals.nodes_by_depth(model)
    nodes = [node for depth in sorted(by_depth) for node in by_depth[depth]]
    conv_nodes = [node for node in nodes if node.operation is conv]
    assert len(conv_nodes) == 2
    assert all(node in internals.inbound_nodes(conv) for node in conv_nodes)


def test_graph_calls_in_topological_order(graph):
    model, conv = graph
    calls = internals.graph_calls(model)
    assert [layer.name for layer, _, _ in calls] == ["conv", "conv", "add"]
    assert calls[0][0] is conv
    assert calls[0][1][0] is model.inputs[0]
    assert calls[1][1][0] is calls[0][2][0]
    assert [len(inputs) for _, inputs, _ in calls] == [1, 1, 2]
    assert calls[-1][2][0] is model.outputs[0]


def test_flatten_layers_reaches_attributes():
    class Block(L.Layer):
        def __init__(self):
            super().__init__()
            self.convs = [L.Conv2D(2, 3, name="a"), L.Conv2D(2, 3, name="b")]

    assert [layer.name for layer in internals.flatten_layers(Block())] == ["a", "b"]


def test_replace_sublayer_keeps_the_weight_order():
    class Block(L.Layer):
        def __init__(self):
            super().__init__()
            self.first = L.Dense(2, name="first")
            self.second = L.Dense(3, name="second")

    block = Block()
    new = L.Dense(4, name="new")
    internals.replace_sublayer(block, block.first, new)
    block.first = new
    assert [layer.name for layer in block._layers] == ["new", "second"]
    with pytest.raises(internals.KerasInternalsError, match="not a tracked sub-layer"):
        internals.replace_sublayer(block, L.Dense(1, name="stranger"), L.Dense(1))


def test_producing_layer(graph):
    model, _ = graph
    assert internals.producing_layer(model.outputs[0]).name == "add"
    assert internals.producing_layer(model.inputs[0]).name == "image"
    assert internals.producing_layer(object()) is None


def test_unsafe_deserialization_rebuilds_a_lambda():
    layer = L.Lambda(lambda t: t * 2.0, name="double")
    with internals.unsafe_deserialization():
        copy = L.Lambda.from_config(layer.get_config())
    assert float(copy(keras.ops.ones((1,)))[0]) == 2.0


def test_function_loader_module_is_where_loaded_lambdas_get_their_globals():
    layer = L.Lambda(lambda t: t * 2.0, name="double", output_shape=lambda s: s)
    with internals.unsafe_deserialization():
        copy = L.Lambda.from_config(layer.get_config())
    assert copy.function.__globals__["__name__"] == internals.function_loader_module()


def test_map_lambda_functions_reaches_the_function_and_the_output_shape():
    layer = L.Lambda(lambda t: t * 2.0, name="double", output_shape=lambda s: s)
    seen = []
    internals.map_lambda_functions(layer, lambda f: seen.append(f) or (lambda *a: "swapped"))
    assert len(seen) == 2
    assert layer.function(None) == "swapped"
    assert layer.compute_output_shape((1, 2)) == "swapped"


def test_model_from_config_json(graph, tmp_path):
    import zipfile

    model, _ = graph
    model.save(tmp_path / "g.keras")
    with zipfile.ZipFile(tmp_path / "g.keras") as archive:
        config_json = archive.read("config.json").decode()
    rebuilt = internals.model_from_config_json(config_json)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]


def test_a_missing_private_name_fails_loudly_by_name(monkeypatch):
    monkeypatch.delattr(L.Layer, "_flatten_layers")
    with pytest.raises(internals.KerasInternalsError, match=r"has no `Layer\._flatten_layers`"):
        internals.flatten_layers(L.Dense(2))


PRIVATE_KERAS = re.compile(
    r"keras\.src|\._(run_through_graph|inbound_nodes|nodes_by_depth|functional|"
    r"flatten_layers|keras_history|tracker|model_from_config)\b"
)


def test_private_keras_names_live_in_one_module():
    package = pathlib.Path(internals.__file__).parent
    users = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if PRIVATE_KERAS.search(path.read_text())
    )
    assert users == ["keras_internals.py"]
