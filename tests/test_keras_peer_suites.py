"""Keras' own ZeroPadding{1,2,3}D test suites, run on padrewrite's ConstantPadding{1,2,3}D.

The test modules shipped in the installed Keras package
(keras/src/layers/reshaping/zero_padding{1,2,3}d_test.py) are executed here
with their `layers` bound to a view of `keras.src.layers` in which
`ZeroPadding{N}D` is padrewrite's `ConstantPadding{N}D`. Their TestCase
classes land in this module's namespace, so pytest collects and runs every
Keras test as a test of this module. Where padrewrite deliberately differs
from ZeroPadding, exactly that assertion is adapted (`ADAPTATIONS`, each with
its reason); a changed Keras file that an adaptation no longer matches stops
the collection instead of silently running something else.
"""

# padrewrite first: when this module is the first to import Keras, Keras is
# loaded from inside padrewrite.layers (the order a user's script may have).
import importlib
import importlib.util
import linecache
import os
import re
import unittest

from cli_helpers import fresh_python
from keras.src import layers as keras_src_layers

from padrewrite import ConstantPadding1D, ConstantPadding2D, ConstantPadding3D

RANKS = (1, 2, 3)
PEERS = {
    "ZeroPadding1D": ConstantPadding1D,
    "ZeroPadding2D": ConstantPadding2D,
    "ZeroPadding3D": ConstantPadding3D,
}
IMPORT_LAYERS = "from keras.src import layers\n"

#: (rank, Keras' source text, its replacement, why padrewrite differs). Each
#: source text must occur exactly once in Keras' file.
ADAPTATIONS = [
    *(
        (
            rank,
            "        self.assertEqual(layer.get_config(), expected_config)\n",
            '        self.assertEqual(layer.get_config(), {**expected_config, "constant_value": 0.0})\n',
            # ZeroPadding has no fill value; ConstantPadding's config holds
            # its `constant_value` (0.0 unless given).
            "the config also holds constant_value",
        )
        for rank in RANKS
    ),
    (
        1,
        '            "padding": (1, 2),\n',
        '            "padding": ((1, 2),),\n',
        # ZeroPadding1D keeps `padding` as a bare (before, after) pair;
        # padrewrite's layers keep one (before, after) pair per spatial axis
        # in every rank, so a 1D layer's is a 1-tuple of pairs.
        "the 1D padding is one pair per axis",
    ),
    (
        1,
        "        with self.assertRaises(ValueError):\n"
        "            layers.ZeroPadding1D(padding)\n",
        "        if padding == (1,):\n"
        "            self.assertEqual(layers.ZeroPadding1D(padding).padding, ((1, 1),))\n"
        "            return\n"
        "        with self.assertRaises(ValueError):\n"
        "            layers.ZeroPadding1D(padding)\n",
        # ZeroPadding1D takes an int or one (before, after) pair and refuses
        # (1,). padrewrite reads `padding` the same way in every rank (an int,
        # one int per spatial axis, or one pair per spatial axis), so for 1D
        # (1,) is one int for the one axis: 1 before and 1 after. The other
        # invalid values still must raise ValueError.
        "(1,) is one int per spatial axis",
    ),
]


def keras_module_name(rank):
    return f"keras.src.layers.reshaping.zero_padding{rank}d_test"


def keras_test_file(rank):
    return importlib.util.find_spec(keras_module_name(rank)).origin


class PeerLayers:
    """`keras.src.layers`, with `ZeroPadding{1,2,3}D` resolving to padrewrite's
    `ConstantPadding{1,2,3}D`."""

    def __getattr__(self, name):
        if name in PEERS:
            return PEERS[name]
        return getattr(keras_src_layers, name)


def peer_source(rank):
    """Keras' test module source, its `layers` import bound to `PeerLayers`, adapted."""
    path = keras_test_file(rank)
    with open(path) as file:
        source = file.read()
    edits = [(IMPORT_LAYERS, "layers = _PEER_LAYERS\n", "use padrewrite's layer")]
    edits += [(old, new, why) for r, old, new, why in ADAPTATIONS if r == rank]
    for old, new, why in edits:
        count = source.count(old)
        if count != 1:
            raise RuntimeError(
                f"{path}: expected the text below exactly once, found it {count} times; "
                f"Keras' test changed, review this edit ({why}):\n{old}"
            )
        source = source.replace(old, new)
    return source


def load_peer_suite(rank):
    """Run the adapted Keras test module; return its namespace."""
    source = peer_source(rank)
    filename = f"<{os.path.basename(keras_test_file(rank))} on ConstantPadding{rank}D>"
    # Tracebacks show the lines that ran.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": __name__, "_PEER_LAYERS": PeerLayers()}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


PEER_NAMESPACES = {rank: load_peer_suite(rank) for rank in RANKS}
PEER_SUITES = {}
for _rank, _namespace in PEER_NAMESPACES.items():
    (_suite,) = [
        value
        for value in _namespace.values()
        if isinstance(value, type) and issubclass(value, unittest.TestCase)
        and value.__module__ == __name__
    ]
    PEER_SUITES[_rank] = _suite
    # pytest collects the unittest classes found in a test module's namespace.
    globals()[_suite.__name__] = _suite
del _rank, _namespace, _suite


def test_peer_suites_build_padrewrite_layers():
    for rank, namespace in PEER_NAMESPACES.items():
        layers = namespace["layers"]
        assert getattr(layers, f"ZeroPadding{rank}D") is PEERS[f"ZeroPadding{rank}D"]
        assert layers.Input is keras_src_layers.Input
        # No other way to ZeroPadding is left in the source that ran.
        references = set(re.findall(r"[\w.]*ZeroPadding\dD\w*", peer_source(rank)))
        assert references == {f"layers.ZeroPadding{rank}D", f"ZeroPadding{rank}DTest"}


def _test_names(suite):
    return list(unittest.TestLoader().getTestCaseNames(suite))


def _keras_suite(rank):
    module = importlib.import_module(keras_module_name(rank))
    (suite,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, unittest.TestCase)
        and value.__module__ == module.__name__
    ]
    return suite


def test_every_keras_test_has_its_peer():
    for rank in RANKS:
        keras_suite = _keras_suite(rank)
        assert PEER_SUITES[rank].__name__ == keras_suite.__name__
        assert _test_names(keras_suite)
        assert _test_names(PEER_SUITES[rank]) == _test_names(keras_suite)


def test_pytest_collects_every_keras_test_when_this_module_imports_keras_first():
    """A fresh pytest collects this module with Keras not yet imported, and
    finds one test per test of Keras' three files."""
    code = f"""
import sys
import pytest


class KerasBeforeCollection:
    def pytest_collection(self, session):
        print("keras imported before collection:", "keras" in sys.modules)


sys.exit(pytest.main(
    ["--collect-only", "-q", "-p", "no:cacheprovider", {__file__!r}],
    plugins=[KerasBeforeCollection()],
))
"""
    process = fresh_python(code, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert process.returncode == 0, process.stdout + process.stderr
    assert "keras imported before collection: False" in process.stdout
    collected = re.findall(r"::(ZeroPadding[123]DTest::\w+)$", process.stdout, re.M)
    expected = [
        f"{suite.__name__}::{name}" for suite in map(_keras_suite, RANKS)
        for name in _test_names(suite)
    ]
    assert sorted(collected) == sorted(expected)
    print(f"{len(collected)} Keras tests collected")
