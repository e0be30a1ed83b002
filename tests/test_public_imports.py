"""Every public name and module of padrewrite imports as the first statement of a
fresh process, and every padding layer saved there loads in another fresh process
after nothing but `import padrewrite`.

These checks need fresh processes: the other test modules import Keras first,
so in this process Keras is always loaded before padrewrite, and an import
order that breaks only when padrewrite comes first (padrewrite's post-import
hook on `keras` meeting a half-initialised `padrewrite.layers`) goes unseen.

This module itself imports only `padrewrite`, which loads no Keras, to read
the names and modules to test.
"""

import json
import os
import pkgutil
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from cli_helpers import fresh_python

import padrewrite

#: The padding layer classes `padrewrite.__all__` must name: 7 families x 3 ranks.
FAMILIES = ("", "Same", "Constant", "Reflection", "Replication", "Symmetric", "Circular")
EXPECTED_LAYER_NAMES = sorted(
    f"{family}Padding{rank}D" for family in FAMILIES for rank in (1, 2, 3)
)

PUBLIC_NAMES = list(padrewrite.__all__)
LAYER_NAMES = [name for name in PUBLIC_NAMES if re.fullmatch(r"\w*Padding[123]D", name)]
OTHER_NAMES = [name for name in PUBLIC_NAMES if name not in LAYER_NAMES]


def _public_modules(path, prefix):
    """Dotted names of the public modules under `path`, read from the file names.

    `pkgutil.walk_packages` would import each subpackage to walk into it (and
    `padrewrite.rules` imports Keras), so this recurses with `iter_modules`,
    which imports nothing. Modules whose name starts with `_` (including
    `__main__`) are private.
    """
    for info in pkgutil.iter_modules(path, prefix):
        if info.name.rsplit(".", 1)[1].startswith("_"):
            continue
        yield info.name
        if info.ispkg:
            subpath = [os.path.join(path[0], info.name.rsplit(".", 1)[1])]
            yield from _public_modules(subpath, info.name + ".")


PUBLIC_MODULES = sorted(_public_modules(padrewrite.__path__, "padrewrite."))

#: First imports kept in the default run; the other modules are the slow sweep.
#: Most of the others import no Keras (well under a second each); the ones
#: that do cost an import of TensorFlow each (about 3-5 s).
DEFAULT_RUN_MODULES = ("padrewrite.layers", "padrewrite.padded")

#: Appended to a first import: once anything has imported Keras, every
#: padding layer is registered (the post-import hook did its work).
REGISTERED_CHECK = f"""
import sys
if "keras" in sys.modules:
    import keras
    missing = [
        name for name in {EXPECTED_LAYER_NAMES!r}
        if keras.saving.get_registered_object("padrewrite>" + name) is None
    ]
    assert not missing, f"Keras is imported but these layers are not registered: {{missing}}"
"""


def assert_succeeded(process):
    assert process.returncode == 0, f"exit code {process.returncode}\n{process.stderr}"
    assert "Traceback" not in process.stderr, process.stderr


# --- what the parametrizations read ---------------------------------------------


def test_all_names_every_layer_class_and_the_lazy_functions():
    assert sorted(LAYER_NAMES) == EXPECTED_LAYER_NAMES
    assert set(OTHER_NAMES) == {
        "__version__", "rewrite_model", "export_onnx", "check_parity", "rewrite_file"
    }


def test_public_modules_are_found_without_importing_them():
    assert {"padrewrite.layers", "padrewrite.padded", "padrewrite.rewrite",
            "padrewrite.cli", "padrewrite.onnx", "padrewrite.onnx.export",
            "padrewrite.rules", "padrewrite.rules.conv"} <= set(PUBLIC_MODULES)
    assert not [name for name in PUBLIC_MODULES if "._" in name]


# --- padrewrite itself and its command line load no TensorFlow -------------------


def test_import_padrewrite_loads_neither_keras_nor_tensorflow():
    process = fresh_python(
        textwrap.dedent(
            """
            import padrewrite
            import sys
            heavy = sorted(m for m in ("keras", "tensorflow", "tf2onnx", "onnx") if m in sys.modules)
            assert not heavy, heavy
            assert "padrewrite.layers" not in sys.modules
            """
        ),
        tests_importable=False,
    )
    assert_succeeded(process)


def test_python_m_padrewrite_help_loads_neither_keras_nor_tensorflow():
    process = fresh_python(
        textwrap.dedent(
            """
            import runpy
            import sys
            sys.argv = ["padrewrite", "--help"]
            try:
                runpy.run_module("padrewrite", run_name="__main__", alter_sys=True)
            except SystemExit as exit:
                assert exit.code in (0, None), exit.code
            heavy = sorted(m for m in ("keras", "tensorflow", "tf2onnx") if m in sys.modules)
            assert not heavy, heavy
            """
        ),
        tests_importable=False,
    )
    assert_succeeded(process)
    assert "Usage:" in process.stdout


# --- every public name and module, imported first --------------------------------


@pytest.mark.parametrize("name", OTHER_NAMES)
def test_public_name_imports_first(name):
    process = fresh_python(
        f"from padrewrite import {name}\n"
        "import padrewrite\n"
        f"assert getattr(padrewrite, {name!r}) is {name}\n" + REGISTERED_CHECK,
        tests_importable=False,
    )
    assert_succeeded(process)


@pytest.mark.parametrize(
    "module",
    [
        module if module in DEFAULT_RUN_MODULES else pytest.param(module, marks=pytest.mark.slow)
        for module in PUBLIC_MODULES
    ],
)
def test_public_module_imports_first(module):
    process = fresh_python(f"import {module}\n" + REGISTERED_CHECK, tests_importable=False)
    assert_succeeded(process)


# --- each layer: imported first, saved; all loaded after `import padrewrite` ------

#: Per layer: constructor arguments and the model's input shape (`None`: known
#: only at run time). Non-default arguments, so the config round trip matters.
LAYER_SETUPS = {
    "Padding1D": ("padding=(1, 2), mode='reflect'", (6, 2)),
    "Padding2D": (
        "padding=((1, 2), (2, 1)), mode='H=constant,W=circular', constant_value=-1.5",
        (5, 6, 2),
    ),
    "Padding3D": (
        "padding=(1, (0, 2), 1), mode=('replicate', 'symmetric', 'constant'), "
        "constant_value=0.5",
        (4, 5, 3, 2),
    ),
    "SamePadding1D": ("kernel_size=3, strides=2, mode='reflect'", (None, 2)),
    "SamePadding2D": (
        "kernel_size=(3, 4), strides=(2, 1), dilation_rate=(1, 2), mode='symmetric'",
        (None, 7, 2),
    ),
    "SamePadding3D": ("kernel_size=3, strides=2, mode='circular'", (None, 5, None, 2)),
    "ConstantPadding1D": ("padding=(2, 1), constant_value=2.5", (6, 2)),
    "ConstantPadding2D": ("padding=(1, 2), constant_value=-3.0", (5, 6, 2)),
    "ConstantPadding3D": ("padding=((1, 0), 1, (0, 2)), constant_value=1.25", (4, 5, 3, 2)),
}
for _family in ("Reflection", "Replication", "Symmetric", "Circular"):
    LAYER_SETUPS[f"{_family}Padding1D"] = ("padding=(1, 2)", (6, 2))
    LAYER_SETUPS[f"{_family}Padding2D"] = ("padding=(1, 2)", (5, 6, 2))
    LAYER_SETUPS[f"{_family}Padding3D"] = ("padding=((1, 0), 1, (0, 2))", (4, 5, 3, 2))

#: The size given at run time to an axis whose size the model does not know.
RUN_TIME_SIZE = 8


def _save_code(name, directory):
    """First `from padrewrite import NAME`; then a tiny model with it, saved in `directory`.

    Writes NAME.keras, NAME.npz (an input and both outputs on it) and NAME.json
    (the padding layer's config).
    """
    arguments, shape = LAYER_SETUPS[name]
    rank = len(shape) - 1
    run_shape = tuple(RUN_TIME_SIZE if size is None else size for size in shape)
    path = os.path.join(directory, name)
    return f"from padrewrite import {name}\n" + textwrap.dedent(
        f"""
        import json
        import numpy as np
        import keras

        inputs = keras.Input(shape={shape!r})
        layer = {name}({arguments}, name="pad")
        padded = layer(inputs)
        convolved = keras.layers.Conv{rank}D(3, 2, name="conv")(padded)
        model = keras.Model(inputs, [padded, convolved])
        x = np.linspace(-1.0, 1.0, num=2 * int(np.prod({run_shape!r})))
        x = x.reshape((2, *{run_shape!r})).astype("float32")
        padded_value, convolved_value = (np.asarray(v) for v in model(x))
        assert padded_value.shape[0] == 2 and padded_value.ndim == {rank + 2}
        model.save({path + ".keras"!r})
        np.savez({path + ".npz"!r}, x=x, padded=padded_value, convolved=convolved_value)
        with open({path + ".json"!r}, "w") as file:
            json.dump(layer.get_config(), file, sort_keys=True)
        """
    ) + REGISTERED_CHECK


def _load_code(names, directory):
    """`import padrewrite`, then Keras loads every saved file; prints the failures as JSON."""
    return "import padrewrite\n" + textwrap.dedent(
        f"""
        import json
        import os
        import sys
        import numpy as np

        # The layers must be registered by the hook on `keras`, not imported here.
        assert "padrewrite.layers" not in sys.modules
        import keras

        failures = {{}}
        for name in {list(names)!r}:
            path = os.path.join({directory!r}, name)
            try:
                model = keras.saving.load_model(path + ".keras")
                layer = model.get_layer("pad")
                assert type(layer) is getattr(padrewrite, name), type(layer)
                with open(path + ".json") as file:
                    assert json.dumps(layer.get_config(), sort_keys=True) == file.read()
                saved = np.load(path + ".npz")
                padded, convolved = (np.asarray(v) for v in model(saved["x"]))
                np.testing.assert_array_equal(padded, saved["padded"])
                np.testing.assert_allclose(convolved, saved["convolved"], rtol=1e-6, atol=1e-6)
            except Exception as error:
                failures[name] = f"{{type(error).__name__}}: {{error}}"
        print(json.dumps(failures))
        """
    )


#: Fresh processes running at once while the layer files are saved: each one
#: spends most of its time importing TensorFlow on one core.
WORKERS = min(2, os.cpu_count() or 1)


@pytest.fixture(scope="module")
def saved_layers(request, tmp_path_factory):
    """Run the save process of each layer the selected tests need, `WORKERS` at a time.

    Returns the directory of the files and `{layer name: CompletedProcess}`.
    """
    selected = [
        item for item in request.session.items
        if getattr(item, "module", None) is request.module
    ]
    if any(item.originalname == "test_saved_layers_load_after_only_import_padrewrite"
           for item in selected):
        names = list(LAYER_NAMES)
    else:
        names = [
            item.callspec.params["name"]
            for item in selected
            if item.originalname == "test_layer_imports_first_and_saves"
        ]
    directory = str(tmp_path_factory.mktemp("layers"))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        processes = pool.map(
            lambda name: fresh_python(
                _save_code(name, directory), tests_importable=False, cwd=directory
            ),
            names,
        )
        return directory, dict(zip(names, processes))


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_layer_imports_first_and_saves(name, saved_layers):
    """`from padrewrite import NAME` first, then a model with it builds, runs and saves."""
    directory, processes = saved_layers
    assert_succeeded(processes[name])
    assert os.path.exists(os.path.join(directory, name + ".keras"))


def test_saved_layers_load_after_only_import_padrewrite(saved_layers):
    """Another fresh process: `import padrewrite`, then `keras.saving.load_model`
    restores each layer class with its config, and the outputs are unchanged."""
    directory, processes = saved_layers
    not_saved = [name for name, process in processes.items() if process.returncode != 0]
    assert not not_saved, f"not saved (see test_layer_imports_first_and_saves): {not_saved}"
    assert sorted(processes) == EXPECTED_LAYER_NAMES
    process = fresh_python(
        _load_code(sorted(processes), directory), tests_importable=False, cwd=directory
    )
    assert_succeeded(process)
    assert json.loads(process.stdout.strip().splitlines()[-1]) == {}
