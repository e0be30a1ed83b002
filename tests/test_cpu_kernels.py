"""Models whose layers TensorFlow's CPU kernels without oneDNN refuse, on both kernel paths.

TensorFlow turns oneDNN off on x86 CPUs without AVX-512; `TF_ENABLE_ONEDNN_OPTS=0`
gives any machine those kernels. The command asks for oneDNN when the user has not
chosen, so with the default environment these models go through on every CPU; when
the user turned it off, the check names the layers and the remedy (exit 2).
"""

import json
import os

import keras
import numpy as np
import pytest
from cli_helpers import fresh_python, run
from keras import layers as L

from padrewrite.keras_side.cpu import (
    ONEDNN_VARIABLE,
    onednn_enabled,
    prefer_onednn,
    unrunnable_layers,
)


def _channels_first_1d():
    inputs = keras.Input((3, 32), name="signal")
    x = L.Conv1D(4, 3, padding="same", data_format="channels_first", name="cf_conv1d")(inputs)
    x = L.Conv1DTranspose(4, 3, strides=2, padding="same", data_format="channels_first",
                          name="cf_conv1d_transpose")(x)
    x = L.Conv1D(2, 5, strides=2, padding="same", data_format="channels_first",
                 name="cf_conv1d_strided")(x)
    return keras.Model(inputs, x, name="channels_first_1d")


def _channels_first_2d():
    inputs = keras.Input((3, 24, 20), name="image")
    x = L.Conv2D(6, 3, padding="same", data_format="channels_first", name="cf_conv2d")(inputs)
    x = L.Conv2D(6, 3, strides=2, padding="same", data_format="channels_first",
                 name="cf_conv2d_strided")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", data_format="channels_first",
                          name="cf_conv2d_transpose")(x)
    return keras.Model(inputs, x, name="channels_first_2d")


def _channels_first_3d():
    inputs = keras.Input((2, 8, 10, 12), name="volume")
    x = L.Conv3D(4, 3, padding="same", data_format="channels_first", name="cf_conv3d")(inputs)
    x = L.Conv3DTranspose(3, 3, strides=2, padding="same", data_format="channels_first",
                          name="cf_conv3d_transpose")(x)
    return keras.Model(inputs, x, name="channels_first_3d")


def _unequal_strides():
    inputs = keras.Input((24, 20, 3), name="image")
    x = L.SeparableConv2D(8, 3, strides=(2, 1), padding="same", name="sep_2_1")(inputs)
    x = L.DepthwiseConv2D(3, strides=(1, 2), padding="same", name="dw_1_2")(x)
    return keras.Model(inputs, x, name="unequal_strides")


MODELS = {
    "channels_first_1d": (_channels_first_1d, {"cf_conv1d", "cf_conv1d_transpose",
                                               "cf_conv1d_strided"}),
    "channels_first_2d": (_channels_first_2d, {"cf_conv2d", "cf_conv2d_strided",
                                               "cf_conv2d_transpose"}),
    "channels_first_3d": (_channels_first_3d, {"cf_conv3d_transpose"}),
    "unequal_strides": (_unequal_strides, {"sep_2_1", "dw_1_2"}),
}


def _save_all(directory):
    paths = []
    for name, (build, _) in MODELS.items():
        model = build()
        rng = np.random.default_rng(len(name))
        model.set_weights([rng.normal(0, 0.3, w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        path = directory / f"{name}.keras"
        model.save(path)
        paths.append(path)
    return paths


def _env_without_choice():
    return {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}


def test_prefer_onednn_sets_the_variable_only_when_unset():
    environ = {}
    assert prefer_onednn(environ) is False  # TensorFlow is already imported here
    code = (
        "import os\nfrom padrewrite.keras_side.cpu import prefer_onednn\n"
        "a = {}\nprint(prefer_onednn(a), a)\n"
        "b = {'TF_ENABLE_ONEDNN_OPTS': '0'}\nprint(prefer_onednn(b), b)\n"
    )
    result = fresh_python(code, tests_importable=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "True {'TF_ENABLE_ONEDNN_OPTS': '1'}",
        "False {'TF_ENABLE_ONEDNN_OPTS': '0'}",
    ]


@pytest.mark.parametrize("variable, expected", [(None, "1 True"), ("0", "0 False")])
def test_the_command_asks_for_onednn_unless_the_user_chose(variable, expected):
    env = _env_without_choice()
    if variable is not None:
        env[ONEDNN_VARIABLE] = variable
    code = (
        "import os\nfrom padrewrite import cli\ncli._quiet_tensorflow()\n"
        "from padrewrite.keras_side.cpu import onednn_enabled\n"
        f"print(os.environ['{ONEDNN_VARIABLE}'], onednn_enabled())\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_unrunnable_layers_follow_this_process_kernels():
    for build, refused in MODELS.values():
        found = {layer.name for layer in unrunnable_layers(build())}
        assert found == (set() if onednn_enabled() else refused)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_default_environment_serves_them_on_every_cpu(tmp_path, mode):
    """What a user without AVX-512 gets: the command with TF_ENABLE_ONEDNN_OPTS unset."""
    paths = _save_all(tmp_path)
    out = tmp_path / "out"
    import subprocess
    import sys

    env = _env_without_choice()
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-m", "padrewrite", *map(str, paths), "--mode", mode, "-o", str(out),
         "--onnx", "--verify", "--json"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads(result.stdout)
    models = document["models"] if isinstance(document, dict) else document
    assert len(models) == len(MODELS)
    for model in models:
        assert model["status"] == "passed", model
        assert model["verify"]["keras"]["passed"] and model["verify"]["onnx"]["passed"]
        rewritten = [r for r in model["rewrite"]["layers"] if r["action"] == "rewritten"]
        assert rewritten, model["input"]


def test_onednn_turned_off_names_the_layers_and_the_remedy(tmp_path):
    paths = _save_all(tmp_path)
    import subprocess
    import sys

    env = _env_without_choice()
    env[ONEDNN_VARIABLE] = "0"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-m", "padrewrite", str(paths[1]), "--mode", "reflect",
         "-o", str(tmp_path / "o.keras"), "--onnx", str(tmp_path / "o.onnx"), "--verify"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip().splitlines()
    assert len(error) == 1
    assert "'cf_conv2d' (Conv2D, data_format='channels_first'" in error[0]
    assert "'cf_conv2d_transpose' (Conv2DTranspose, a channels_first transposed" in error[0]
    assert "TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off; unset it or set it to 1" in error[0]
    assert not (tmp_path / "o.keras").exists() and not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_in_this_process_either_passes_or_names_the_layers(tmp_path, name):
    """The suite runs on both kernel paths (CI's oneDNN-off leg): in-process the
    answer follows this process' kernels."""
    build, refused = MODELS[name]
    model = build()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    result = run(path, "--mode", "reflect", "-o", tmp_path / "o.keras", "--onnx",
                 tmp_path / "o.onnx", "--verify")
    if onednn_enabled() or not refused:
        assert result.exit_code == 0, result.output
        assert "FAILED" not in result.output
    else:
        assert result.exit_code == 2, result.output
        assert "cannot run layer(s)" in result.output
        for layer in refused:
            assert f"'{layer}'" in result.output
