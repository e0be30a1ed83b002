"""check_parity: Keras vs onnxruntime on every mode, rank and model shape."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx_models import MODES, exported, mobilenet_v2

from padrewrite.errors import InputError
from padrewrite.keras_side.cpu import unrunnable_layers
from padrewrite.onnx import export_onnx
from padrewrite.verify.parity import (
    DEFAULT_DYNAMIC_SIZE,
    ParityReport,
    check_parity,
    render_parity,
)

FORBIDDEN = {"Gather", "GatherElements", "GatherND", "Compress", "ScatterElements", "ScatterND"}
RANKED_KINDS = ["conv1d", "conv2d", "conv3d", "depthwise2d", "conv2d_channels_first"]


def assert_passes(report):
    assert report, "\n".join(render_parity(report))
    assert isinstance(report, ParityReport)


@pytest.mark.parametrize("kind", RANKED_KINDS)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_and_rank(kind, mode):
    model, export = exported(kind, mode)
    refused = unrunnable_layers(model)
    if refused:  # this CPU's kernels without oneDNN (`padrewrite.keras_side.cpu`)
        with pytest.raises(InputError, match=rf"cannot run layer\(s\) '{refused[0].name}'"):
            check_parity(model, export.path)
        return
    report = check_parity(model, export.path)
    assert_passes(report)
    assert report.samples == 5
    (output,) = report.outputs
    assert output.name == "logits" and output.max_abs < 1e-4


@pytest.mark.parametrize("mode", MODES)
def test_hoisted_pads(mode):
    model, export = exported("expand", mode)
    assert_passes(check_parity(model, export.path))


@pytest.mark.parametrize("kind", ["conv1d", "conv2d"])
def test_circular_at_opset_19(kind):
    model, export = exported(kind, "circular", 19)
    assert_passes(check_parity(model, export.path))


def test_dict_inputs_and_outputs_are_matched_by_name():
    model, export = exported("multi_io")
    report = check_parity(model, export.path, batch_size=3)
    assert_passes(report)
    assert [o.name for o in report.outputs] == ["logits", "features"]
    assert report.input_shapes == {"image": (3, 10, 10, 3), "signal": (3, 16, 2)}


@pytest.mark.parametrize("kind", ["nested", "sequential"])
def test_nested_and_sequential_models(kind):
    model, export = exported(kind)
    assert_passes(check_parity(model, export.path))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [31, 32])
def test_dynamic_size_with_stride_2_same_padding(mode, size):
    model, export = exported("dynamic", mode)
    report = check_parity(
        model, export.path, input_shapes={"image": (1, size, size + 1, 3)}, samples=1
    )
    assert_passes(report)
    assert report.input_shapes == {"image": (1, size, size + 1, 3)}


def test_dynamic_sizes_default_to_32_and_batch_size():
    model, export = exported("dynamic", "reflect")
    report = check_parity(model, export.path, samples=1, batch_size=1)
    assert report.input_shapes == {"image": (1, DEFAULT_DYNAMIC_SIZE, DEFAULT_DYNAMIC_SIZE, 3)}


def test_a_changed_weight_fails_parity_with_the_atol_that_would_pass(tmp_path):
    model, export = exported("conv2d", "symmetric")
    broken = onnx.load(export.path)
    kernels = [t for t in broken.graph.initializer if t.dims and len(t.dims) == 4]
    weights = numpy_helper.to_array(kernels[0]).copy()
    weights.flat[0] += 0.5
    kernels[0].CopyFrom(numpy_helper.from_array(weights, kernels[0].name))
    path = tmp_path / "broken.onnx"
    onnx.save(broken, path)

    report = check_parity(model, path)
    assert not report and not report.passed
    (output,) = report.outputs
    assert not output.passed and output.max_abs > 1e-2
    assert output.min_atol_to_pass > report.atol
    lines = render_parity(report)
    assert re.fullmatch(
        r"FAILED \| output 'logits' \| max_abs=\d\.\de[-+]\d\d max_rel=\d\.\de[-+]\d\d "
        r"\(atol=1e-04, rtol=1e-03\) \| would pass with atol>=(\d\.\de[-+]\d\d)",
        lines[0],
    )
    # The printed atol is rounded up, so it does pass.
    printed = float(re.search(r"atol>=(\S+)", lines[0]).group(1))
    assert printed >= output.min_atol_to_pass
    assert check_parity(model, path, atol=printed)
    assert lines[-1].startswith("FAILED | 1 output(s), 5 samples")


def test_render_passed_lines():
    model, export = exported("nested")
    lines = render_parity(check_parity(model, export.path, atol=2.5e-4, rtol=0))
    assert re.fullmatch(
        r"PASSED \| output 'head' \| max_abs=\d\.\de[-+]\d\d max_rel=\d\.\de[-+]\d\d "
        r"\(atol=2\.5e-04, rtol=0e\+00\)",
        lines[0],
    )
    assert lines[1] == "PASSED | 1 output(s), 5 samples (random, zeros, ones) | inputs: image (2, 10, 10, 3)"


def test_report_to_dict_is_json():
    model, export = exported("multi_io")
    data = json.loads(json.dumps(check_parity(model, export.path, samples=0).to_dict()))
    assert data["passed"] is True and data["samples"] == 2
    assert [o["name"] for o in data["outputs"]] == ["logits", "features"]
    assert set(data["outputs"][0]) == {
        "name", "max_abs", "max_rel", "min_atol_to_pass", "passed", "error",
        "floor", "ill_conditioned"
    }


def test_mismatched_models_are_refused():
    model, _ = exported("conv2d", "reflect")
    _, other = exported("nested")
    with pytest.raises(ValueError, match=r"outputs do not match .* Expected: \['logits'\]\. Received: outputs=\['head'\]"):
        check_parity(model, other.path)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"input_shapes": {"img": (1, 10, 10, 3)}}, r"inputs are \['image'\]\. Received: input_shapes="),
        ({"input_shapes": {"image": (1, 11, 10, 3)}}, r"matching \(None, 10, 10, 3\)\. Received:"),
        ({"input_shapes": {"image": (10, 10, 3)}}, r"full shape \(batch first\)"),
        ({"atol": -1.0}, r"`atol` must be a number >= 0\. Received: atol=-1\.0"),
        ({"samples": -1}, r"`samples` must be an int >= 0\. Received: samples=-1"),
        ({"batch_size": 0}, r"`batch_size` must be an int >= 1\. Received: batch_size=0"),
    ],
)
def test_bad_arguments(kwargs, message):
    model, export = exported("conv2d", "reflect")
    with pytest.raises(ValueError, match=message):
        check_parity(model, export.path, **kwargs)


def check_exported(model, path, **kwargs):
    """Export `model` to `path`, check the file and parity.

    The rewrite engine's tests can pass a rewritten model here.
    """
    export = export_onnx(model, path)
    onnx.checker.check_model(export.path, full_check=True)
    assert not FORBIDDEN & set(export.node_counts)
    return export, check_parity(model, export.path, **kwargs)


def test_mobilenet_v2_export_and_parity(tmp_path):
    model = mobilenet_v2(96)
    export, report = check_exported(model, tmp_path / "mobilenet_v2.onnx", samples=1)
    assert_passes(report)
    assert export.input_names == (model.layers[0].name,)
    assert export.output_names == ("predictions",)
    assert [o.name for o in report.outputs] == ["predictions"]
    logits = model(np.ones((1, 96, 96, 3), "float32")).numpy()
    assert logits.std() > 0.1  # not a degenerate model that anything matches


@pytest.mark.slow
@pytest.mark.parametrize("mode,opset", [(m, 18) for m in MODES] + [("circular", 19)])
@pytest.mark.parametrize("hoist", [True, False])
def test_rewritten_mobilenet_v2_parity(mode, opset, hoist, tmp_path):
    from padrewrite.rewrite import rewrite_model

    model = mobilenet_v2(96, transform=lambda m: rewrite_model(m, mode=mode).model)
    path = tmp_path / "mobilenet_v2.onnx"
    export = export_onnx(model, path, opset=opset, hoist=hoist)
    onnx.checker.check_model(export.path, full_check=True)
    assert not FORBIDDEN & set(export.node_counts)
    if mode in export.pads_rewritten:
        assert export.pads_rewritten[mode] > 0
    if hoist and mode != "constant":
        assert export.pads_hoisted > 0
    assert_passes(check_parity(model, export.path, samples=1))


def test_differences_follow_numpy_allclose_with_keras_as_reference():
    from padrewrite.verify.compare import Comparison

    expected = np.array([1.0, 100.0, 0.0, np.inf, np.nan])
    got = np.array([1.0005, 100.25, 5e-5, np.inf, np.nan])
    stats = Comparison(atol=1e-4, rtol=1e-3)
    stats.add(expected, got)
    result = stats.result()
    assert result.passed is bool(np.allclose(got, expected, 1e-3, 1e-4, equal_nan=True)) is False
    assert result.max_abs == pytest.approx(0.25)
    assert result.max_rel == pytest.approx(0.0025)
    assert result.min_atol == pytest.approx(0.25 - 0.1)
    passing = Comparison(atol=result.min_atol + 1e-12, rtol=1e-3)
    passing.add(expected, got)
    assert passing.result().passed
    stats.add(np.array([1.0]), np.array([np.nan]))
    assert stats.result().max_abs == np.inf
