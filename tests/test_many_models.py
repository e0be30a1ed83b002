"""Several models in one run: a directory of outputs, one summary, the worst exit code."""

import json
import xml.etree.ElementTree as ET

import keras
import pytest
from cli_helpers import run

from padrewrite.pipeline import rewrite_files

L = keras.layers


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("many")
    paths = []
    for index, channels in enumerate((2, 3)):
        image = keras.Input((10, 10, 3), name="image")
        x = L.Conv2D(channels, 3, padding="same", name="c1")(image)
        path = directory / f"m{index}.keras"
        keras.Model(image, x, name=f"m{index}").save(path)
        paths.append(path)
    broken = directory / "broken.keras"
    broken.write_text("not a model")
    return paths[0], broken, paths[1]


def test_every_model_runs_and_the_exit_code_is_the_worst(inputs, tmp_path):
    out = tmp_path / "out"
    junit = tmp_path / "checks.xml"
    result = run(*inputs, "--mode", "reflect", "-o", out, "--onnx", "--verify", "--json",
                 "--junit", junit)
    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2
    records = document["models"]
    assert [r["input"] for r in records] == [str(p) for p in inputs]
    assert [r["exit_code"] for r in records] == [0, 2, 0]
    assert [r["status"] for r in records] == ["passed", "error", "passed"]
    assert "not a valid .keras file" in records[1]["error"]
    assert records[2]["verify"]["onnx"]["passed"]
    assert sorted(p.name for p in out.iterdir()) == ["m0.keras", "m0.onnx", "m1.keras",
                                                     "m1.onnx"]
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == [str(p) for p in inputs]
    assert [s.get("errors") for s in suites] == ["0", "1", "0"]
    assert [s.get("tests") for s in suites] == ["3", "1", "3"]


def test_the_text_ends_with_one_summary_table(inputs, tmp_path):
    result = run(*inputs, "-o", tmp_path / "out", "--onnx")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines.count(f"== {inputs[0]} ==") == 1
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert lines[header].split() == ["model", "status", "rewritten", "keras", "onnx",
                                     "seconds", "exit"]
    rows = [line.split() for line in lines[header + 1:]]
    assert [(row[0], row[1], row[2], row[-1]) for row in rows] == [
        (str(inputs[0]), "written", "1/1", "0"),
        (str(inputs[1]), "error", "-", "2"),
        (str(inputs[2]), "written", "1/1", "0"),
    ]
    assert [row[4] for row in rows] == ["written", "-", "written"]
    assert f"[2/3] {inputs[1]}: error" in result.stderr
    assert "1 of 3 models failed (exit code 2, the worst)" in result.stderr


def test_all_passing_exits_0_and_plan_writes_nothing(inputs, tmp_path):
    good = (inputs[0], inputs[2])
    result = run(*good, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m0.keras", "m1.keras"]
    result = run(*good, "--plan")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("plan only: nothing written") == 2


def test_a_verification_failure_is_exit_1(inputs, tmp_path):
    outcomes = rewrite_files((inputs[0], inputs[2]), tmp_path / "o", onnx=True, verify=True,
                             atol=0.0, rtol=0.0)
    codes = [o.exit_code for o in outcomes]
    assert codes == [0 if o.report else 1 for o in outcomes]
    assert all(o.report is not None for o in outcomes)


def test_colliding_names_and_an_onnx_path_are_refused_before_any_work(inputs, tmp_path):
    copy = tmp_path / "other" / "m0.keras"
    copy.parent.mkdir()
    copy.write_bytes(inputs[0].read_bytes())
    result = run(inputs[0], copy, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "would both be written as" in result.output
    assert not (tmp_path / "out").exists()
    result = run(inputs[0], inputs[2], "-o", tmp_path / "out", "--onnx", tmp_path / "x.onnx")
    assert result.exit_code == 2
    assert "with several models --onnx takes no PATH" in result.output
    result = run(inputs[0], "-o", tmp_path / "single.keras", "--onnx")
    assert result.exit_code == 2
    assert "--onnx needs a PATH with a single model" in result.output
