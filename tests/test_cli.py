"""The `padrewrite` command: output, exit codes and safety, through click's CliRunner."""

import json
import os
import re
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from cli_helpers import run

from padrewrite.cli import RULE_CHOICES
from padrewrite.rules import RULE_NAMES

L = keras.layers


def _save(model, path):
    model.save(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    inputs = keras.Input((16, 16, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = L.Conv2D(4, 3, strides=2, padding="same", name="c2")(x)
    tiny = _save(keras.Model(inputs, x, name="tiny"), directory / "tiny.keras")

    inputs = keras.Input((8, 8, 3))
    valid = _save(
        keras.Model(inputs, L.Conv2D(2, 3, name="only_valid")(inputs)), directory / "valid.keras"
    )
    inputs = keras.Input((2, 2, 3))
    small = _save(
        keras.Model(inputs, L.Conv2D(2, 5, padding="same", name="big")(inputs)),
        directory / "small.keras",
    )
    inputs = keras.Input((8, 8, 3))
    x = L.Lambda(lambda t: t * 2.0, name="double")(inputs)
    lam = _save(keras.Model(inputs, L.Conv2D(2, 3, padding="same")(x)), directory / "lambda.keras")
    h5 = _save(keras.models.load_model(tiny), directory / "tiny.h5")
    return {"tiny": tiny, "valid": valid, "small": small, "lambda": lam, "h5": h5}


def _files(directory):
    return sorted(p.name for p in directory.iterdir())


def tiny_table(mode):
    """The table for the `tiny` model rewritten in `mode` (the mode column fits it)."""
    width = max(len("mode"), len(mode))
    return [
        f"layer  class   action     {'mode'.ljust(width)}  pads     reason",
        f"c1     Conv2D  rewritten  {mode.ljust(width)}  1,1 1,1  explicit pads, then "
        "padding='valid' (conv-same)",
        f"c2     Conv2D  rewritten  {mode.ljust(width)}  0,1 0,1  explicit pads, then "
        "padding='valid' (conv-same)",
    ]


def test_rewrite_verify_constant_is_exact(models, tmp_path):
    out = tmp_path / "out.keras"
    result = run(models["tiny"], "--mode", "zero", "-o", out, "--verify")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [*tiny_table("constant"),
                         "rewrote 2 of 2 convolutions (constant 0); 0 skipped"]
    assert re.fullmatch(
        rf"PASSED \| keras {re.escape(str(out))} \| output 'c2' \| shape=\(None, 8, 8, 4\) "
        r"dtype=float32 max_abs vs rewritten=0\.0e\+00 max_abs vs original=0\.0e\+00 "
        r"\(tolerance \d\.\de-06\)",
        lines[4],
    ), lines[4]
    assert lines[5:] == [f"wrote {out}"]
    assert _files(tmp_path) == ["out.keras"]


def test_rewrite_to_h5_from_h5(models, tmp_path):
    out = tmp_path / "out.h5"
    result = run(models["h5"], "--mode", "edge", "-o", out, "--verify")
    assert result.exit_code == 0, result.output
    assert "rewrote 2 of 2 convolutions (replicate); 0 skipped" in result.output
    assert _files(tmp_path) == ["out.h5"]


def test_plan_writes_nothing(models, tmp_path):
    result = run(models["tiny"], "--plan", "-o", tmp_path / "out.keras")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        *tiny_table("reflect"),
        "rewrote 2 of 2 convolutions (reflect); 0 skipped",
        "plan only: nothing written",
    ]
    assert _files(tmp_path) == []


def test_json_report(models, tmp_path):
    out = tmp_path / "out.keras"
    result = run(models["tiny"], "--mode", "symmetric", "-o", out, "--json", "--verify")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert set(document) == {
        "input", "load_notes", "save_notes", "rewrite", "status", "output", "onnx", "reload",
        "verify",
        "stages"}
    assert set(document["stages"]) == {"load", "rewrite", "save", "reload", "verify", "promote"}
    assert document["reload"] == {
        "path": str(out), "method": "full", "passed": True, "error": None}
    assert document["status"] == "passed" and document["output"] == str(out)
    assert document["rewrite"]["counts"] == {
        "rewritten": 2, "fallback": 0, "skipped": 0, "unchanged": 0, "refused": 0}
    assert [layer["pads"] for layer in document["rewrite"]["layers"]] == [
        [[1, 1], [1, 1]], [[0, 1], [0, 1]]]
    assert document["verify"]["keras"]["passed"] is True
    (output,) = document["verify"]["keras"]["outputs"]
    assert output["max_abs_vs_rewritten"] <= output["tolerance"] < 1e-5
    assert output["max_abs_vs_original"] is None  # symmetric changes the outputs


def test_nothing_to_rewrite_still_writes(models, tmp_path):
    out = tmp_path / "out.keras"
    result = run(models["valid"], "-o", out)
    assert result.exit_code == 0
    assert result.output.splitlines()[-3:] == [
        "rewrote 0 of 1 convolutions (reflect); 0 skipped",
        "nothing to rewrite: no layer needs explicit padding; the model is written unchanged",
        f"wrote {out}",
    ]
    assert out.exists()


def test_version():
    from padrewrite import __version__

    result = run("--version")
    assert result.exit_code == 0 and result.output == f"padrewrite, version {__version__}\n"


def test_rule_choices_match_the_library():
    assert RULE_CHOICES == RULE_NAMES


def test_help_does_not_import_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        from padrewrite.cli import main
        try:
            main(["--help"])
        except SystemExit as exit:
            assert exit.code == 0
        heavy = [m for m in ("tensorflow", "keras", "onnxruntime", "tf2onnx") if m in sys.modules]
        print("heavy:", heavy)
        """
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "heavy: []" in output.stdout


BAD_INPUTS = [
    ("missing", lambda m, d: [d / "nope.keras", "-o", d / "o.keras"],
     "Error: {d}/nope.keras: no such file; check the path of the model to read."),
    ("directory", lambda m, d: [d, "-o", d / "o.keras"],
     "Error: {d}: is a directory; give a .keras or .h5 model file"),
    ("extension", lambda m, d: [m["tiny"], "-o", d / "o.pb"],
     "Error: {d}/o.pb: unsupported model file type '.pb'; use .keras or .h5."),
    ("input-extension", lambda m, d: [d / "model.txt", "-o", d / "o.keras"], None),
    ("value-with-reflect", lambda m, d: [m["tiny"], "--mode", "reflect", "--value", "1", "-o",
                                         d / "o.keras"],
     "Error: `constant_value` is only used with mode='constant'. Received: mode='reflect', "
     "constant_value=1.0"),
    ("same-path", lambda m, d: [m["tiny"], "-o", m["tiny"]],
     "Error: {tiny}: the model output would overwrite the input; choose another path."),
    ("onnx-same-as-output", lambda m, d: [m["tiny"], "-o", d / "o.keras", "--onnx", d / "o.keras"],
     "Error: {d}/o.keras: unsupported ONNX file type '.keras'; use .onnx."),
    ("missing-dir", lambda m, d: [m["tiny"], "-o", d / "no" / "o.keras"],
     "Error: {d}/no/o.keras: directory {d}/no does not exist; create it first."),
    ("no-output", lambda m, d: [m["tiny"]],
     "Error: missing -o/--output (or use --plan to write nothing)."),
    ("reflect-too-big", lambda m, d: [m["small"], "-o", d / "o.keras"],
     "Error: Layer 'big' (Conv2D) needs pads (2, 2) on spatial axis 0, whose size is 2; "
     "reflect padding must be less than the axis size. Use `fallback_mode` 'replicate', "
     "'constant' or 'skip' (--fallback-mode), exclude the layer, use a larger input or mode "
     "'replicate'/'constant'."),
    ("lambda", lambda m, d: [m["lambda"], "-o", d / "o.keras"],
     "Error: {lam}: the model has a Lambda layer, whose Python code would run on loading; "
     "pass --unsafe if you trust this file."),
    ("bad-input-shape", lambda m, d: [m["tiny"], "-o", d / "o.keras", "--input-shape", "x"],
     "Error: --input-shape must look like NAME=1,256,256,3. Received: 'x'"),
]


@pytest.mark.parametrize("name,make_args,message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(models, tmp_path, name, make_args, message):
    if name == "input-extension":
        (tmp_path / "model.txt").write_text("x")
        message = f"Error: {tmp_path}/model.txt: unsupported file type '.txt'; give a .keras or .h5 model file."
    before = _files(tmp_path)
    result = run(*make_args(models, tmp_path))
    assert result.exit_code == 2
    expected = message.format(d=tmp_path, tiny=models["tiny"], lam=models["lambda"])
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.output
    assert "Traceback" not in result.output
    assert _files(tmp_path) == before


def test_unknown_mode_is_a_usage_error(models, tmp_path):
    result = run(models["tiny"], "--mode", "mirror", "-o", tmp_path / "o.keras")
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: Invalid value for '--mode': `mode` must be one of constant, reflect, "
        "replicate, symmetric, circular, zero, edge, wrap. Received: mode='mirror'")


def test_lambda_loads_with_unsafe(models, tmp_path):
    result = run(models["lambda"], "--unsafe", "-o", tmp_path / "o.keras", "--mode", "zero",
                 "--verify")
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"not a zip at all"])
def test_corrupt_or_truncated_keras_file(models, tmp_path, content):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(content or models["tiny"].read_bytes()[:300])
    result = run(bad, "-o", tmp_path / "o.keras")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {bad}: ")
    assert ("corrupt or truncated" in result.output) or ("not a valid .keras" in result.output)
    assert _files(tmp_path) == ["bad.keras"]


def test_output_directory_not_writable(models, tmp_path, monkeypatch):
    import padrewrite.keras_side.io

    real_access = os.access
    monkeypatch.setattr(
        padrewrite.keras_side.io.os, "access",
        lambda path, mode: False if str(path) == str(tmp_path) and mode & os.W_OK
        else real_access(path, mode),
    )
    result = run(models["tiny"], "-o", tmp_path / "o.keras")
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path}/o.keras: directory {tmp_path} is not writable.\n"


CUSTOM_MODULE = '''
import keras

@keras.saving.register_keras_serializable(package="climod")
class Shift(keras.layers.Layer):
    def call(self, x):
        return x + 1.0
'''


def test_unregistered_custom_layer_asks_for_import(tmp_path, monkeypatch):
    (tmp_path / "climod_layers.py").write_text(CUSTOM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    model_path = tmp_path / "custom.keras"
    subprocess.run(
        [sys.executable, "-c",
         "import keras, climod_layers as c\n"
         "i = keras.Input((8, 8, 3))\n"
         "keras.Model(i, keras.layers.Conv2D(2, 3, padding='same')(c.Shift()(i)))"
         f".save({str(model_path)!r})"],
        check=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
    )
    result = run(model_path, "-o", tmp_path / "o.keras")
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: {model_path}: the model uses 'Shift' (registered as 'climod>Shift'), which is "
        "not registered in this process; pass --import MODULE")
    result = run(model_path, "-o", tmp_path / "o.keras", "--import", "climod_layers", "--mode",
                 "zero", "--verify")
    assert result.exit_code == 0, result.output
    result = run(model_path, "-o", tmp_path / "o2.keras", "--import", "no_such_module_xyz")
    assert result.exit_code == 2 and "cannot import module 'no_such_module_xyz'" in result.output


@keras.saving.register_keras_serializable(package="clitests")
class SubclassedNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(2, 3, padding="same")

    def call(self, x):
        return self.conv(x)


def test_subclassed_model_is_rewritten(tmp_path):
    net = SubclassedNet()
    net(np.zeros((1, 8, 8, 3), "float32"))
    net.save(tmp_path / "sub.keras")
    result = run(tmp_path / "sub.keras", "-o", tmp_path / "o.keras", "--verify")
    assert result.exit_code == 0, result.output
    assert "becomes a plain Functional" in result.output
    assert _files(tmp_path) == ["o.keras", "sub.keras"]
    reloaded = keras.saving.load_model(tmp_path / "o.keras")
    assert reloaded.get_layer(net.name).layer.conv.padding == "valid"


def test_debug_shows_the_traceback(models, tmp_path):
    result = run(models["small"], "-o", tmp_path / "o.keras", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.output


def test_existing_output_is_replaced_atomically(models, tmp_path):
    out = tmp_path / "out.keras"
    out.write_bytes(b"old")
    result = run(models["tiny"], "-o", out)
    assert result.exit_code == 0
    assert out.read_bytes()[:2] == b"PK"
    assert _files(tmp_path) == ["out.keras"]


def test_onnx_export_and_parity(models, tmp_path):
    out, onnx_out = tmp_path / "out.keras", tmp_path / "out.onnx"
    result = run(models["tiny"], "--mode", "replicate", "-o", out, "--onnx", onnx_out, "--verify",
                 "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["onnx"] == str(onnx_out) and document["status"] == "passed"
    assert document["export"]["path"] == str(onnx_out)
    assert document["export"]["input_names"] == ["image"]
    assert document["export"]["output_names"] == ["c2"]
    assert document["verify"]["onnx"]["passed"] is True
    assert _files(tmp_path) == ["out.keras", "out.onnx"]


def test_failed_verification_exits_1_and_writes_nothing(models, tmp_path):
    result = run(models["tiny"], "-o", tmp_path / "out.keras", "--onnx", tmp_path / "out.onnx",
                 "--verify", "--atol", "0", "--rtol", "0")
    assert result.exit_code == 1
    assert "FAILED | output 'c2' | max_abs=" in result.output
    assert "would pass with atol>=" in result.output
    assert result.output.rstrip().endswith("Error: verification FAILED; nothing was written.")
    assert _files(tmp_path) == []


def test_verify_command_passes_then_fails_on_a_changed_weight(models, tmp_path):
    import onnx
    from onnx import numpy_helper

    out, onnx_out = tmp_path / "out.keras", tmp_path / "out.onnx"
    assert run(models["tiny"], "-o", out, "--onnx", onnx_out).exit_code == 0
    result = run("verify", out, onnx_out)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "PASSED | 1 output(s), 5 samples (random, zeros, ones) | inputs: image (2, 16, 16, 3)")
    proto = onnx.load(onnx_out)
    weight = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    array = numpy_helper.to_array(weight).copy()
    array.flat[0] += 0.5
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, broken)
    result = run("verify", out, broken)
    assert result.exit_code == 1
    assert "FAILED | output 'c2'" in result.output
    result = run("verify", out, tmp_path / "missing.onnx")
    assert result.exit_code == 2
    assert result.output == f"Error: {tmp_path}/missing.onnx: no such file; give the ONNX file to check.\n"


def test_installed_command_end_to_end(models, tmp_path):
    """The console script as users run it: rewrite, export, verify, then `verify` alone."""
    import shutil

    command = shutil.which("padrewrite") or pytest.fail("the padrewrite script is not installed")
    out, onnx_out = tmp_path / "out.keras", tmp_path / "out.onnx"
    process = subprocess.run(
        [command, str(models["tiny"]), "--mode", "symmetric", "-o", str(out), "--onnx",
         str(onnx_out), "--verify"],
        capture_output=True, text=True,
    )
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    assert f"wrote {onnx_out}" in process.stdout and "FAILED" not in process.stdout
    process = subprocess.run([sys.executable, "-m", "padrewrite", "verify", str(out), str(onnx_out)],
                             capture_output=True, text=True)
    assert process.returncode == 0 and process.stdout.count("PASSED") == 2
    process = subprocess.run([command, str(tmp_path / "nope.keras"), "-o", str(out)],
                             capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr == f"Error: {tmp_path}/nope.keras: no such file; check the path of the model to read.\n"


# -- padding choices: per axis, per layer, causal, small maps -----------------------------


@pytest.fixture(scope="module")
def choice_models(tmp_path_factory):
    import corpus

    directory = tmp_path_factory.mktemp("choices")
    inputs = keras.Input((8, 10, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = L.DepthwiseConv2D((5, 3), padding="same", name="dw")(x)
    x = L.Conv2D(2, 3, strides=2, padding="same", name="c2")(x)
    tiles = _save(keras.Model(inputs, x, name="tiles"), directory / "tiles.keras")
    tcn = _save(corpus.build_wavenet_tcn(), directory / "tcn.keras")
    backbone = _save(keras.applications.MobileNetV2(input_shape=(32, 32, 3), weights=None),
                     directory / "mobilenet_v2_32.keras")
    return {"tiles": tiles, "tcn": tcn, "backbone": backbone}


def test_per_axis_mode_exports_one_pad_per_group_and_verifies(choice_models, tmp_path):
    out, onnx_out = tmp_path / "o.keras", tmp_path / "o.onnx"
    result = run(choice_models["tiles"], "--mode", "H=constant,W=circular", "--value", "0.5",
                 "-o", out, "--onnx", onnx_out, "--opset", "19", "--verify", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "passed"
    assert document["rewrite"]["mode"] == "H=constant,W=circular"
    assert [layer["mode"] for layer in document["rewrite"]["layers"]] == [
        "H=constant,W=circular"] * 3
    counts = document["export"]["node_counts"]
    assert counts["Pad"] == 6 and not {"Gather", "Compress", "Slice"} & set(counts)
    text = run(choice_models["tiles"], "--mode", "W=wrap,H=zero", "--plan").output.splitlines()
    assert text[0] == "layer  class            action     mode                   pads     reason"
    assert text[1].startswith("c1     Conv2D           rewritten  H=constant,W=circular  1,1 1,1")


def test_mode_for_sets_a_layer_mode_on_top_of_the_default(choice_models):
    result = run(choice_models["tiles"], "--mode", "reflect", "--mode-for", "c*=edge",
                 "--mode-for", "c2=H=constant,W=circular", "--plan", "--json")
    assert result.exit_code == 0, result.output
    rewrite = json.loads(result.output)["rewrite"]
    assert [(layer["name"], layer["mode"]) for layer in rewrite["layers"]] == [
        ("c1", "replicate"), ("dw", "reflect"), ("c2", "H=constant,W=circular")]
    assert rewrite["mode_for"] == [["c*", "replicate"], ["c2", "H=constant,W=circular"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mode-for", "c2"], "Error: Invalid value for '--mode-for': Each `mode_for` entry "
                               "must look like GLOB=MODE"),
        (["--mode", "H=constant,X=wrap"], "Error: Invalid value for '--mode': `mode` must be a "
                                          "mode (constant, reflect"),
        (["--causal-mode", "reflect"], "Error: Invalid value for '--causal-mode': 'reflect' is "
                                       "not one of 'replicate', 'constant', 'as-mode'."),
        (["--fallback-mode", "edge"], "Error: Invalid value for '--fallback-mode': 'edge' is "
                                      "not one of 'replicate', 'constant', 'skip'."),
    ],
)
def test_bad_choice_options_exit_2(choice_models, args, message):
    result = run(choice_models["tiles"], "--plan", *args)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith(message), result.output


def test_causal_reflect_is_refused_in_one_line(choice_models, tmp_path):
    result = run(choice_models["tcn"], "--mode", "reflect", "-o", tmp_path / "o.keras")
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert re.fullmatch(
        r"Error: Causal convolutions ('conv1d(_\d+)?', ){10}'conv1d_\d+' would read future "
        r"samples: reflect padding on the time axis copies later samples into their left pad\. "
        r"Choose `causal_mode` 'replicate' or 'constant' \(--causal-mode\) to keep them causal, "
        r"or 'as-mode' to accept it\. Received: mode='reflect', causal_mode=None", line), line
    assert _files(tmp_path) == []
    plan = run(choice_models["tcn"], "--plan")
    assert plan.exit_code == 0
    lines = plan.output.splitlines()
    assert sum(" refused " in line for line in lines) == 11
    assert lines[-2] == f"would fail without --plan (exit 2): {line[len('Error: '):]}"


def test_causal_mode_replicate_verifies(choice_models, tmp_path):
    result = run(choice_models["tcn"], "--causal-mode", "replicate", "-o", tmp_path / "o.keras",
                 "--onnx", tmp_path / "o.onnx", "--verify")
    assert result.exit_code == 0, result.output
    assert "rewrote 12 of 17 convolutions (reflect; causal replicate); 0 skipped" in result.output
    assert result.output.count("PASSED") == 3


def test_causal_mode_as_mode_is_accepted_and_reported(choice_models):
    result = run(choice_models["tcn"], "--causal-mode", "as-mode", "--plan", "--json")
    assert result.exit_code == 0, result.output
    rewrite = json.loads(result.output)["rewrite"]
    causal = [layer for layer in rewrite["layers"] if layer["rule"] == "conv-causal"]
    assert len(causal) == 11 and {layer["causal"] for layer in causal} == {False}
    assert rewrite["summary"].endswith("; 11 causal convolution(s) no longer causal")
    assert rewrite["causal_mode"] == "as-mode"


def test_plan_lists_the_layers_too_small_for_the_mode(choice_models):
    result = run(choice_models["backbone"], "--plan")
    assert result.exit_code == 0, result.output
    refused = [line.split()[0] for line in result.output.splitlines() if " refused " in line]
    assert refused == ["block_14_depthwise", "block_15_depthwise", "block_16_depthwise"]
    assert result.output.splitlines()[-2].startswith(
        "would fail without --plan (exit 2): 3 layers need pads their mode cannot give "
        "(reflect padding must be less than the axis size): 'block_14_depthwise'")
    document = json.loads(run(choice_models["backbone"], "--plan", "--json").output)
    assert document["status"] == "planned"
    assert document["rewrite"]["counts"]["refused"] == 3
    assert document["rewrite"]["refusal"].startswith("3 layers need pads")


def test_fallback_mode_replicate_exports_and_verifies(choice_models, tmp_path):
    result = run(choice_models["backbone"], "--fallback-mode", "replicate", "-o",
                 tmp_path / "o.keras", "--onnx", tmp_path / "o.onnx", "--verify")
    assert result.exit_code == 0, result.output
    fallback = [line for line in result.output.splitlines() if " fallback   " in line]
    assert len(fallback) == 3 and all(" replicate " in line for line in fallback)
    assert "; 3 with fallback replicate" in result.output
    assert result.output.count("PASSED") == 3


def test_verbose_prints_the_seconds_of_every_stage(models, tmp_path):
    out, onnx_out = tmp_path / "out.keras", tmp_path / "out.onnx"
    result = run(models["tiny"], "-o", out, "--onnx", onnx_out, "--verify", "--verbose")
    assert result.exit_code == 0, result.output
    stages = [line for line in result.output.splitlines() if line.startswith("stage ")]
    names = [line.split()[1] for line in stages]
    assert names == ["load", "rewrite", "save", "reload", "export", "verify", "parity",
                     "promote", "total"]
    seconds = [float(line.split()[2]) for line in stages]
    assert all(value >= 0 for value in seconds)
    assert abs(sum(seconds[:-1]) - seconds[-1]) < 0.01
    quiet = run(models["tiny"], "-o", tmp_path / "q.keras")
    assert not any(line.startswith("stage ") for line in quiet.output.splitlines())
