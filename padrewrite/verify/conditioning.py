"""The error floor of a sample: how far float32 rounding alone moves a model's outputs.

A constant input keeps feature maps constant; a normalization then divides float
noise by `sqrt(epsilon)`, and any two correct computations of the model (Keras
and onnxruntime, oneDNN and TensorFlow's other kernels, the original and its
zero-mode rewrite) differ far beyond a fixed tolerance on that sample (1e-2 on a
CycleGAN generator's all-ones input, ~1e-6 on random ones). Judging such a
sample against the tolerance fails correct rewrites.

The floor of a sample is measured on Keras itself: each float input is moved by
8 float32 units in the last place (relative `2**-20`, at least `2**-20`
absolute, random signs), twice, and the outputs' largest change is kept: the
rounding a float32 sum of a few dozen products carries, which every layer adds
again. That is the size of the error every computation of the model carries on
that sample,
amplified by the model's own conditioning there — including conditioning the
rewrite itself creates (reflect padding keeps a constant map constant where zero
padding did not), which the original's export would not show.

A sample is ill-conditioned when its floor exceeds the check's absolute
tolerance, and at least `ILL_CONDITIONED_ATOL` (the parity check's default
float32 atol), so that a tolerance tightened by the user still holds on
well-conditioned samples, whose floor is ~1e-6 of the output's scale. `judge`
passes a comparison that failed its tolerance only on an ill-conditioned
sample, within `FLOOR_FACTOR` of the floor, with no NaN or infinity
disagreeing. Random samples are well-conditioned, so they keep the strict
tolerance: a wrong mode or weight still fails there.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from padrewrite.verify.compare import Comparison, Difference

__all__ = ["FLOOR_FACTOR", "ILL_CONDITIONED_ATOL", "PERTURBATION", "Judgement", "ill_conditioning_threshold", "judge", "rounding_floor"]

#: Relative (and minimum absolute) size of the input perturbation: 8 float32 ulps.
#: Measured on a CycleGAN generator (instance norm) over 7 weight draws: the
#: export's error on its all-ones sample was 8-21x the change 1 ulp makes.
PERTURBATION = 2.0 ** -20
#: An ill-conditioned sample passes when its error is at most this many floors.
FLOOR_FACTOR = 10.0
#: The floor a sample must exceed to count as ill-conditioned, whatever tighter
#: tolerance a check uses.
ILL_CONDITIONED_ATOL = 1e-4
#: Perturbations per sample; the largest change counts.
_DRAWS = 2


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The verdict on one sample of one output.

    `ill_conditioned`: the floor exceeds the threshold, so the sample was judged
    against the floor (`floor` its largest change) rather than the tolerance.
    """

    passed: bool
    error: float
    floor: float | None = None
    ill_conditioned: bool = False


def rounding_floor(model, io, batch, reference) -> list[float]:
    """Per output of `model`: the largest change of its outputs from `reference` (its
    outputs on `batch`) when the float inputs of `batch` move by `PERTURBATION`;
    inf where a NaN or an infinity appears or disappears."""
    import keras

    rng = np.random.default_rng(0)
    comparisons = [Comparison(0.0) for _ in reference]
    for _ in range(_DRAWS):
        moved = [_perturbed(rng, array) for array in batch]
        outputs = keras.tree.flatten(model(io.pack_inputs(moved), training=False))
        for comparison, expected, got in zip(comparisons, reference, outputs):
            comparison.add(expected, np.asarray(keras.ops.convert_to_numpy(got)))
    return [comparison.result().max_abs for comparison in comparisons]


def ill_conditioning_threshold(atol: float) -> float:
    """The floor above which a sample is ill-conditioned, for a check whose absolute
    tolerance is `atol`."""
    return max(atol, ILL_CONDITIONED_ATOL)


def judge(error: Difference, floor: float | None, threshold: float) -> Judgement:
    """The verdict on `error` (a sample against its reference) given the sample's
    `floor` (None when it was not measured: the error passed its tolerance) and the
    check's `threshold` (`ill_conditioning_threshold`)."""
    if error.passed:
        return Judgement(True, error.max_abs)
    if floor is None or error.shape_error is not None:
        return Judgement(False, error.max_abs)
    ill_conditioned = math.isfinite(floor) and floor > threshold
    passed = (
        ill_conditioned
        and error.nonfinite_mismatches == 0
        and error.max_abs <= FLOOR_FACTOR * floor
    )
    return Judgement(passed, error.max_abs, floor, ill_conditioned)


def _perturbed(rng, array):
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.size == 0:
        return array
    size = np.maximum(np.abs(array.astype(np.float64)), 1.0) * PERTURBATION
    signs = rng.choice((-1.0, 1.0), size=array.shape)
    return (array + signs * size).astype(array.dtype)
