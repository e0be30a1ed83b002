"""`--verify` passes every correct rewrite and fails every wrong one.

- Normalization-heavy image models (an instance-norm CycleGAN generator) pass in
  every mode, constant included, over several weight draws: their all-zeros and
  all-ones samples are ill-conditioned and judged against their error floor.
- Infinities and NaN in the same places on both sides agree, in every check.
- Mutations (a wrong mode on one pad, an asymmetric pad swapped, one convolution's
  weights off by 1%) fail, in the reload check and in the ONNX check, with the first
  diverging layer named.
"""

import json
from pathlib import Path

import corpus
import keras
import numpy as np
import onnx
import pytest
from cli_helpers import run
from keras import layers as L
from keras import ops
from onnx import numpy_helper

from padrewrite import rewrite_model
from padrewrite.onnx import export_onnx
from padrewrite.verify.bisect import _Errors
from padrewrite.verify.compare import Comparison
from padrewrite.verify.keras_check import check_saved_model
from padrewrite.verify.parity import bisect_parity, check_parity

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# -- one comparison ----------------------------------------------------------------------


def test_parity_and_bisect_share_one_comparison_of_infinities_and_nans():
    expected = np.array([np.inf, -np.inf, np.nan, 1.0, 2.0], dtype=np.float32)
    agreeing = expected.copy()
    for disagreeing, mismatches in [
        (np.array([np.inf, np.inf, np.nan, 1.0, 2.0], np.float32), 1),   # sign of an inf
        (np.array([np.inf, -np.inf, 0.0, 1.0, 2.0], np.float32), 1),     # NaN on one side
        (np.array([np.inf, -np.inf, np.nan, np.inf, 2.0], np.float32), 1),  # inf on one side
    ]:
        parity, bisect = Comparison(1e-4, 1e-3), _Errors(1e-4, 1e-3)
        for check in (parity, bisect):
            check.add(expected, agreeing)
        assert parity.result() == bisect.result()
        assert parity.result().passed and parity.result().max_abs == 0.0
        for check in (parity, bisect):
            check.add(expected, disagreeing)
        assert parity.result() == bisect.result()
        assert not bisect.passed and bisect.max_abs == np.inf
        assert parity.result().nonfinite_mismatches == mismatches


@keras.saving.register_keras_serializable(package="verdicts")
class CurveEstimator(keras.Model):
    """A Zero-DCE-style subclassed model whose random weights overflow in places."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = L.Conv2D(8, 3, padding="same", activation="relu")
        self.conv2 = L.Conv2D(3, 3, padding="same")

    def call(self, x):
        alpha = self.conv2(self.conv1(x))
        grown = ops.exp(alpha * 40.0)  # overflows to +inf where alpha > ~2.2
        return ops.concatenate([grown, -grown, grown * 0.0, ops.tanh(alpha)], axis=-1)


def test_the_same_infinities_and_nans_pass_the_reload_check_of_a_subclassed_model(tmp_path):
    model = CurveEstimator()
    model(np.zeros((1, 16, 16, 3), np.float32))
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0, 1.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    outputs = np.asarray(model(rng.normal(size=(1, 16, 16, 3)).astype("float32")))
    assert np.isposinf(outputs).any() and np.isneginf(outputs).any() and np.isnan(outputs).any()
    source = tmp_path / "curve.keras"
    model.save(source)
    result = run(source, "--mode", "constant", "-o", tmp_path / "o.keras", "--verify",
                 "--json", "--import", "test_verdicts")
    document = json.loads(result.output)
    assert result.exit_code == 0, result.output[-2000:]
    assert [n["change"] for n in document["rewrite"]["notes"]] == ["class-changed"]
    (output,) = document["verify"]["keras"]["outputs"]
    assert output["max_abs_vs_rewritten"] == 0.0 and output["max_abs_vs_original"] == 0.0


def test_an_infinity_on_one_side_fails_the_reload_check(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(3, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, ops.exp(x * 40.0))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 1.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    rewritten = rewrite_model(model, "reflect").model
    reloaded = keras.models.clone_model(rewritten)
    weights = rewritten.get_weights()
    reloaded.set_weights([w * 1.5 if w.ndim == 4 else w for w in weights])
    report = check_saved_model(model, rewritten, reloaded, tmp_path / "x.keras", exact=False)
    assert not report
    assert report.outputs[0].max_abs_vs_rewritten == np.inf


# -- normalization-heavy models pass in every mode -----------------------------------------


def _instance_norm_generator(seed):
    """keras-io's CycleGAN ResNet generator with instance norm (GroupNormalization
    groups=-1) and trained-looking random weights."""
    original = corpus._instance_norm
    corpus._instance_norm = lambda: L.GroupNormalization(groups=-1)
    try:
        model = corpus.build_cyclegan_generator(size=32, filters=8, residual_blocks=2)
    finally:
        corpus._instance_norm = original
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if isinstance(layer, L.GroupNormalization):
            new = [rng.uniform(0.5, 1.5, weights[0].shape), rng.normal(0, 0.2, weights[1].shape)]
        else:
            new = [rng.normal(0, 1 / np.sqrt(np.prod(w.shape[:-1])), w.shape) if w.ndim > 1
                   else rng.normal(0, 0.1, w.shape) for w in weights]
        layer.set_weights([n.astype(w.dtype) for n, w in zip(new, weights)])
    return model


def _verify(tmp_path, source, mode):
    result = run(source, "--mode", mode, "-o", tmp_path / f"{mode}.keras", "--onnx",
                 tmp_path / f"{mode}.onnx", "--verify", "--json", "--rule", "adopt-padding",
                 "--import", "corpus")
    assert result.exit_code == 0, result.output[-3000:]
    return json.loads(result.output)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_instance_norm_generator_passes_default_verify(tmp_path, mode):
    source = tmp_path / "generator.keras"
    _instance_norm_generator(seed=0).save(source)
    document = _verify(tmp_path, source, mode)
    (output,) = document["verify"]["onnx"]["outputs"]
    assert output["passed"]
    for sample in output["ill_conditioned"]:
        assert sample.startswith(("zeros", "ones"))
    if output["max_abs"] > 1e-3:  # over the tolerance: only on ill-conditioned samples
        assert output["ill_conditioned"] and output["floor"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_instance_norm_generator_passes_every_mode_over_weight_draws(tmp_path, seed):
    source = tmp_path / "generator.keras"
    _instance_norm_generator(seed).save(source)
    for mode in ("constant", "reflect", "replicate", "symmetric", "circular"):
        document = _verify(tmp_path, source, mode)
        assert document["status"] == "passed"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_group_norm_vae_passes_default_verify_over_weight_draws(tmp_path, mode):
    for draw in range(2):
        source = tmp_path / f"vae{draw}.keras"
        corpus.build_hub_vae().save(source)  # Keras' random initial weights: a new draw
        result = run(source, "--mode", mode, "-o", tmp_path / f"{draw}.keras", "--onnx",
                     tmp_path / f"{draw}.onnx", "--verify")
        assert result.exit_code == 0, result.output[-3000:]


# -- mutations fail, with the first diverging layer named --------------------------------


def _corpus_for_mutations():
    yield "generator", _instance_norm_generator(seed=7)
    yield "demo_unet", keras.saving.load_model(EXAMPLES / "demo_unet.keras")
    autoencoder = corpus.build_conv_autoencoder()
    rng = np.random.default_rng(5)
    autoencoder.set_weights([rng.normal(0, 0.3, w.shape).astype(w.dtype)
                             for w in autoencoder.get_weights()])
    yield "autoencoder", autoencoder


def _pads(model):
    return [layer for layer in model.layers if type(layer).__name__.startswith("Padding")]


def _off_by_1_percent(weights):
    """Each weight 1% up or down (a uniform scale would vanish in a normalization)."""
    signs = np.random.default_rng(0).choice((-1.0, 1.0), size=weights.shape)
    return (weights * (1 + 0.01 * signs)).astype(weights.dtype)


def _mutations(rewritten, onnx_path):
    """`{name: (mutate the Keras copy, layers that may be named first)}`."""
    pads = _pads(rewritten)
    asymmetric = next((layer for layer in pads
                       if any(before != after for before, after in layer.padding)), None)
    kernels = [numpy_helper.to_array(init) for init in onnx.load(onnx_path).graph.initializer]
    # A padded convolution whose kernel the ONNX file keeps as it is (tf2onnx folds a
    # BatchNormalization after a convolution into its weights).
    first_conv = next(
        layer for layer in rewritten.layers
        if isinstance(layer, L.Conv2D) and layer.padding == "valid"
        and f"{layer.name}_pad" in {p.name for p in pads}
        and any(np.array_equal(np.transpose(layer.get_weights()[0], (3, 2, 0, 1)), kernel)
                for kernel in kernels)
    )

    def wrong_mode(model):
        model.get_layer(pads[0].name).mode = "replicate"

    def swapped(model):
        layer = model.get_layer(asymmetric.name)
        layer.padding = tuple((after, before) for before, after in layer.padding)

    def weight(model):
        layer = model.get_layer(first_conv.name)
        layer.set_weights([_off_by_1_percent(w) if w.ndim > 1 else w
                           for w in layer.get_weights()])

    after = {pad.name: pad.name[: -len("_pad")] for pad in pads}
    mutations = {
        "wrong-mode": (wrong_mode, pads[0].name, {pads[0].name, after[pads[0].name]}),
        "weight-1%": (weight, first_conv.name, {first_conv.name}),
    }
    if asymmetric is not None:  # strided 'same' convolutions pad (0, 1)
        mutations["swapped-pads"] = (swapped, asymmetric.name,
                                     {asymmetric.name, after[asymmetric.name]})
    return mutations


def _mutate_onnx(path, target, kind, out):
    proto = onnx.load(path)
    initializers = {init.name: init for init in proto.graph.initializer}
    constants = {node.output[0]: node for node in proto.graph.node if node.op_type == "Constant"}
    if kind == "weight-1%":
        # The Conv whose weights are the layer's kernel (HWIO in Keras, OIHW in ONNX).
        kernel = np.transpose(target, (3, 2, 0, 1))
        init = next(initializers[node.input[1]] for node in proto.graph.node
                    if node.op_type == "Conv" and node.input[1] in initializers
                    and np.array_equal(numpy_helper.to_array(initializers[node.input[1]]),
                                       kernel))
        init.CopyFrom(numpy_helper.from_array(_off_by_1_percent(numpy_helper.to_array(init)),
                                              init.name))
    else:
        pad = next(node for node in proto.graph.node if node.op_type == "Pad"
                   and target in node.name)
        if kind == "wrong-mode":
            for attribute in pad.attribute:
                if attribute.name == "mode":
                    attribute.s = b"edge"
        else:
            source = initializers.get(pad.input[1])
            values = numpy_helper.to_array(source if source is not None else
                                           constants[pad.input[1]].attribute[0].t)
            half = len(values) // 2
            swapped = np.concatenate([values[half:], values[:half]])
            tensor = numpy_helper.from_array(swapped.astype(values.dtype), pad.input[1])
            if source is not None:
                source.CopyFrom(tensor)
            else:
                constants[pad.input[1]].attribute[0].t.CopyFrom(tensor)
    onnx.save(proto, out)


@pytest.mark.parametrize("name, model", list(_corpus_for_mutations()),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_mutations_fail_both_checks_with_the_layer_named(tmp_path, name, model):
    result = rewrite_model(model, "reflect")
    rewritten = result.model
    saved = tmp_path / "rewritten.keras"
    rewritten.save(saved)
    onnx_path = tmp_path / "rewritten.onnx"
    export_onnx(rewritten, onnx_path, hoist=False)
    assert check_parity(rewritten, onnx_path)
    assert check_saved_model(model, rewritten, keras.saving.load_model(saved), saved, exact=False)
    for kind, (mutate, target, named) in _mutations(rewritten, onnx_path).items():
        mutated = keras.saving.load_model(saved)
        mutate(mutated)
        keras_report = check_saved_model(model, rewritten, mutated, saved, exact=False)
        assert not keras_report, (name, kind)
        mutated_onnx = tmp_path / f"{kind}.onnx"
        if kind == "weight-1%":
            target = rewritten.get_layer(target).get_weights()[0]
        _mutate_onnx(onnx_path, target, kind, mutated_onnx)
        parity = check_parity(rewritten, mutated_onnx)
        assert not parity, (name, kind)
        located = bisect_parity(rewritten, mutated_onnx, parity, 3).divergence
        assert located.first is not None and located.first.layer in named, (
            name, kind, located.first)
        # Not excused by the floor: the random samples failed the tolerance.
        assert all(not sample.startswith("random") for output in parity.outputs
                   for sample in output.ill_conditioned)

