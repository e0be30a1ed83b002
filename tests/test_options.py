"""The file job's options as values (`padrewrite.options`) and atomic writes
(`padrewrite.atomic`): no Keras."""

import os
from pathlib import Path

import pytest

from padrewrite.atomic import atomic_path, staged_path, write_bytes_atomically
from padrewrite.options import ExportOptions, JobOptions, RewriteChoices, VerifyOptions


def test_keywords_go_to_the_option_value_with_their_field():
    options = JobOptions.from_keywords(
        mode="edge", constant_value=1.5, include=["dec*"], opset=19, hoist=False,
        runtime="openvino", verify=True, samples=1, input_shapes={"image": (1, 8, 8, 3)},
        bisect=True, imports=["mylayers"], safe_mode=False, plan=True,
    )
    assert options == JobOptions(
        rewrite=RewriteChoices(mode="edge", constant_value=1.5, include=("dec*",)),
        export=ExportOptions(opset=19, hoist=False, runtime="openvino"),
        checks=VerifyOptions(verify=True, samples=1, input_shapes={"image": (1, 8, 8, 3)},
                             bisect=True),
        imports=("mylayers",), safe_mode=False, plan=True,
    )
    assert options.checks.shapes == {"image": (1, 8, 8, 3)}
    assert options.rewrite.selection() == {
        "include": ("dec*",), "exclude": (), "rules": (), "skip_rules": (), "mode_for": (),
        "causal_mode": None, "fallback_mode": None,
    }
    assert len({options.export, options.checks, options.rewrite}) == 3  # hashable values


def test_defaults_match_rewrite_file():
    options = JobOptions.from_keywords()
    assert options.rewrite.mode == "reflect" and options.rewrite.constant_value == 0.0
    assert (options.export.opset, options.export.hoist) == (18, True)
    assert options.checks.shapes is None and not options.checks.drift and not options.plan


def test_a_heat_map_implies_drift():
    checks = VerifyOptions(drift_png="maps/drift.png")
    assert checks.drift and checks.drift_png == Path("maps/drift.png")


def test_an_unknown_keyword_is_a_type_error_naming_the_function():
    with pytest.raises(TypeError, match=r"^rewrite_file\(\) got an unexpected keyword "
                                        r"argument 'atoll'$"):
        JobOptions.from_keywords(atoll=1e-3)
    with pytest.raises(TypeError, match=r"^rewrite_files\(\) .* 'checks'$"):
        JobOptions.from_keywords("rewrite_files", checks=VerifyOptions())


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        JobOptions().plan = True


def test_write_bytes_atomically_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.onnx"
    target.write_bytes(b"old")
    write_bytes_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.onnx"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_keeps_the_target_and_removes_the_temporary_file(tmp_path):
    target = tmp_path / "report.xml"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".report.xml.")
        assert temporary.suffix == ".xml" and not temporary.exists()
        temporary.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["report.xml"]


def test_a_staged_file_not_promoted_is_removed(tmp_path):
    with staged_path(tmp_path / "model.keras") as temporary:
        temporary.write_bytes(b"model")
    assert os.listdir(tmp_path) == []


def test_a_relative_target_is_staged_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_bytes_atomically("plain.bin", b"1")
    assert os.listdir(tmp_path) == ["plain.bin"]
