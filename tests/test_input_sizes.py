"""A model that cannot run on the checks' inputs: the input's (exit 2), or a bug (exit 3).

Unknown sizes default to batch 2 (1 in the reload check) and size 32. A keras-hub
Whisper backbone built with `max_encoder_sequence_length=6` overflows its
PositionEmbedding at 32 frames; here a PositionEmbedding of 8 positions does so.
"""

import json

import keras
import pytest
from cli_helpers import run

from padrewrite.errors import InputError, InternalError
from padrewrite.pipeline import rewrite_file
from padrewrite.verify.parity import make_inputs, run_on_inputs

keras_hub = pytest.importorskip("keras_hub")
L = keras.layers

CAUSE = "Keras: InvalidArgumentError in PositionEmbedding.call(): Expected size[0] in [0, 8]"


def _positions(length=8):
    """Frames of any length, a 'same' Conv1D, then position embeddings of `length` rows."""
    frames = keras.Input((None, 4), name="frames")
    x = L.Conv1D(4, 3, padding="same", name="conv")(frames)
    positions = keras_hub.layers.PositionEmbedding(sequence_length=length, name="positions")(x)
    return keras.Model(frames, L.Add(name="add")([x, positions]), name="positions_net")


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """The model, and its rewrite with an ONNX file, written with sizes it accepts."""
    directory = tmp_path_factory.mktemp("input_sizes")
    _positions().save(directory / "short.keras")
    report = rewrite_file(directory / "short.keras", directory / "out.keras", "reflect",
                          onnx_path=directory / "out.onnx", verify=True,
                          input_shapes={"frames": (1, 8, 4)})
    assert report, report.to_dict()
    return directory


def _error_line(result):
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("check, batch", [("--verify", 1), ("--drift", 2)])
def test_default_sizes_the_model_cannot_run_are_the_input_with_the_remedy(
        short, tmp_path, check, batch):
    result = run(short / "short.keras", "--mode", "reflect", "-o", tmp_path / "o.keras", check)
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert line.startswith(
        "Error: The model cannot run on the check's inputs: the sizes the model leaves "
        f"unknown took the defaults batch {batch} and size 32 (input 'frames' ({batch}, 32, 4)); "
        f"{CAUSE}, but got 32 [Op:Slice]. Give the sizes it accepts: "
        f"--input-shape frames={batch},N,4 (`input_shapes` in Python). "
        "Received: input_shapes=None"), line
    assert "Arguments received" not in result.output and "this is a bug" not in result.output
    assert not (tmp_path / "o.keras").exists()


def test_the_parity_check_of_an_existing_pair_names_the_default_sizes(short):
    result = run("verify", short / "out.keras", short / "out.onnx", "--json")
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert "took the defaults batch 2 and size 32 (input 'frames' (2, 32, 4))" in line
    assert "--input-shape frames=2,N,4" in line
    fitting = run("verify", short / "out.keras", short / "out.onnx", "--input-shape",
                  "frames=2,6,4", "--json")
    assert fitting.exit_code == 0, fitting.output
    assert json.loads(fitting.stdout)["onnx"]["input_shapes"] == {"frames": [2, 6, 4]}


def test_given_sizes_the_original_cannot_run_are_the_input(short, tmp_path):
    result = run(short / "short.keras", "--mode", "reflect", "-o", tmp_path / "o.keras",
                 "--verify", "--input-shape", "frames=1,40,4")
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert line.startswith(
        "Error: The model cannot run on the check's inputs: input 'frames' (1, 40, 4) (every "
        f"size given or fixed by the model); {CAUSE}, but got 40"), line
    assert line.endswith("Received: input_shapes={'frames': (1, 40, 4)}")


def test_a_rewritten_model_failing_where_the_original_runs_is_a_bug_when_sizes_are_given():
    """`run_on_inputs`, the one classification: a model of 8 positions as the rewrite of
    one of 16 (or 32), on 12 frames given, then on 32 frames by default."""
    fails, runs = _positions(length=8), _positions(length=16)
    given = {"frames": (1, 12, 4)}
    io, _, (batch,) = make_inputs(runs, input_shapes=given, batch_size=1, samples=1,
                                  extremes=False)
    assert run_on_inputs(runs, io, batch, input_shapes=given, batch_size=1)[0].shape == (
        1, 12, 4)
    with pytest.raises(InternalError) as bug:
        run_on_inputs(fails, io, batch, input_shapes=given, batch_size=1, original=runs)
    assert str(bug.value).startswith(
        "padrewrite failed unexpectedly: InvalidArgumentError: the rewritten model fails on "
        "inputs {'frames': (1, 12, 4)} that the original model runs on: "
        "InvalidArgumentError in PositionEmbedding.call(): Expected size[0] in [0, 8]")
    assert str(bug.value).endswith("— this is a bug; --debug shows the traceback.")
    # The original fails on them too: the user's input, with the original's cause.
    with pytest.raises(InputError, match=r"^The model cannot run on the check's inputs: input "
                       r"'frames' \(1, 12, 4\) \(every size given or fixed by the model\); "
                       r"Keras: .* but got 12 "):
        run_on_inputs(_positions(length=4), io, batch, input_shapes=given, batch_size=1,
                      original=fails)
    # Sizes filled in by default: the user can give others.
    io, _, (batch,) = make_inputs(runs, batch_size=1, samples=1, extremes=False)
    with pytest.raises(InputError, match=r"^The rewritten model cannot run on the check's "
                       r"inputs \(the original model runs on them\): the sizes the model "
                       r"leaves unknown took the defaults batch 1 and size 32 "):
        run_on_inputs(fails, io, batch, batch_size=1, original=_positions(length=32))


def test_given_sizes_too_small_for_the_mode_are_the_input(tmp_path):
    """The original pads 'same' with zeros at any size; reflect needs pad < size."""
    image = keras.Input((None, None, 3), name="image")
    model = keras.Model(image, L.Conv2D(2, 7, padding="same", name="wide")(image))
    model.save(tmp_path / "wide.keras")
    result = run(tmp_path / "wide.keras", "--mode", "reflect", "-o", tmp_path / "o.keras",
                 "--verify", "--input-shape", "image=1,2,2,3")
    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert "The rewritten model cannot pad inputs of shapes {'image': (1, 2, 2, 3)} in its mode" in line
    assert "Layer 'wide_pad': with mode='reflect'" in line
    assert "--fallback-mode" in line
    assert not (tmp_path / "o.keras").exists()
