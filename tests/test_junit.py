"""`--junit PATH`: JUnit XML whose counts match the report, written on failure too."""

import json
import xml.etree.ElementTree as ET

import keras
import onnx
import pytest
from cli_helpers import run
from onnx import numpy_helper

L = keras.layers


@pytest.fixture(scope="module")
def two_outputs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("junit")
    inputs = keras.Input((10, 10, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="c1")(inputs)
    a = L.Conv2D(2, 3, padding="same", name="head_a")(x)
    b = L.Conv2D(3, 3, padding="same", name="head_b")(x)
    path = directory / "two.keras"
    keras.Model(inputs, [a, b], name="two").save(path)
    return path


def check_junit_structure(path):
    """The elements and attributes JUnit consumers read; returns the root."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    for key in ("tests", "failures", "errors", "time"):
        assert key in root.attrib
    suites = list(root)
    assert suites and all(suite.tag == "testsuite" for suite in suites)
    for suite in suites:
        for key in ("name", "tests", "failures", "errors", "skipped", "time"):
            assert key in suite.attrib
        cases = list(suite)
        assert all(case.tag == "testcase" for case in cases)
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("errors")) == len(suite.findall("testcase/error"))
        for case in cases:
            assert {"name", "classname", "time"} <= set(case.attrib)
            float(case.get("time"))
            for child in case:
                assert child.tag in ("failure", "error")
                assert child.get("message") and child.get("type")
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites)
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in suites)
    return root


def test_counts_match_the_report(two_outputs, tmp_path):
    junit = tmp_path / "report.xml"
    result = run(two_outputs, "-o", tmp_path / "o.keras", "--onnx", tmp_path / "o.onnx",
                 "--verify", "--json", "--junit", junit)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    root = check_junit_structure(junit)
    names = [case.get("name") for case in root.iter("testcase")]
    expected = (
        ["reload"]
        + [f"keras/{o['name']}" for o in report["verify"]["keras"]["outputs"]]
        + [f"onnx/{o['name']}" for o in report["verify"]["onnx"]["outputs"]]
    )
    assert names == expected == ["reload", "keras/head_a", "keras/head_b", "onnx/head_a",
                                 "onnx/head_b"]
    assert root.get("tests") == "5" and root.get("failures") == "0"
    assert root.find("testsuite").get("name") == str(two_outputs)


def test_written_when_verification_fails_with_the_numbers(two_outputs, tmp_path):
    out, good = tmp_path / "o.keras", tmp_path / "o.onnx"
    assert run(two_outputs, "-o", out, "--onnx", good).exit_code == 0
    proto = onnx.load(good)
    kernel = next(init for init in proto.graph.initializer if "/head_b_1/" in init.name)
    array = numpy_helper.to_array(kernel).copy()
    array.flat[0] += 0.5
    kernel.CopyFrom(numpy_helper.from_array(array, kernel.name))
    onnx.save(proto, tmp_path / "bad.onnx")
    junit = tmp_path / "verify.xml"
    result = run("verify", out, tmp_path / "bad.onnx", "--junit", junit, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)["onnx"]
    root = check_junit_structure(junit)
    failed = [o["name"] for o in report["outputs"] if not o["passed"]]
    assert failed == ["head_b"]
    assert root.get("tests") == "2" and root.get("failures") == "1"
    failure = root.find("testsuite/testcase[@name='onnx/head_b']/failure")
    max_abs = next(o["max_abs"] for o in report["outputs"] if o["name"] == "head_b")
    assert f"max_abs={max_abs:.3e}" in failure.get("message")
    assert "first diverging layer 'head_b'" in failure.get("message")
    assert list(tmp_path.glob(".verify.xml.*")) == []  # no temporary file left


def test_a_model_that_cannot_be_checked_is_an_error(tmp_path):
    junit = tmp_path / "error.xml"
    result = run(tmp_path / "missing.keras", "-o", tmp_path / "o.keras", "--junit", junit)
    assert result.exit_code == 2
    root = check_junit_structure(junit)
    error = root.find("testsuite/testcase/error")
    assert root.get("errors") == "1" and "missing.keras" in error.get("message")


def test_a_junit_path_in_a_missing_directory_is_refused(two_outputs, tmp_path):
    result = run(two_outputs, "--plan", "--junit", tmp_path / "nowhere" / "r.xml")
    assert result.exit_code == 2
    assert "is not a directory" in result.output
