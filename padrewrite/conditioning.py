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

A sample is ill-conditioned when its floor exceeds the tolerance and is more
than `CONDITION_LIMIT` times the perturbation relative to the output's scale
(a well-conditioned sample moves by about the perturbation, ~1e-6 of the
scale, whatever tolerance the user chose). `judge` passes a comparison that
failed its tolerance only on an ill-conditioned sample, within `FLOOR_FACTOR`
of the floor, with no NaN or infinity disagreeing. Random samples are
well-conditioned, so they keep the strict tolerance: a wrong mode or weight
still fails there.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from padrewrite.compare import Comparison, Difference

__all__ = ["CONDITION_LIMIT", "FLOOR_FACTOR", "PERTURBATION", "Judgement", "judge", "rounding_floor"]

#: Relative (and minimum absolute) size of the input perturbation: 8 float32 ulps.
#: Measured on a CycleGAN generator (instance norm) over 7 weight draws: the
#: export's error on its all-ones sample was 8-21x the change 1 ulp makes.
PERTURBATION = 2.0 ** -20
#: An ill-conditioned sample passes when its error is at most this many floors.
FLOOR_FACTOR = 10.0
#: A sample is ill-conditioned when its outputs move by more than this many times
#: the perturbation, relative to the output's scale (at least 1).
CONDITION_LIMIT = 1000.0
#: Perturbations per sample; the largest change counts.
_DRAWS = 2


@dataclasses.dataclass(frozen=True)
class Judgement:
    """The verdict on one sample of one output.

    `ill_conditioned`: the floor exceeds the tolerance, so the sample was judged
    against the floor (`floor` its largest change) rather than the tolerance.
    """

    passed: bool
    error: float
    floor: float | None = None
    ill_conditioned: bool = False


def rounding_floor(model, io, batch, reference, *, atol: float, rtol: float,
                   seed: int = 0) -> list[Difference]:
    """Per output of `model`: how far its outputs move from `reference` (its outputs
    on `batch`) when the float inputs of `batch` move by one float32 ulp."""
    import keras

    rng = np.random.default_rng(seed)
    comparisons = [Comparison(atol, rtol) for _ in reference]
    for _ in range(_DRAWS):
        moved = [_perturbed(rng, array) for array in batch]
        outputs = keras.tree.flatten(model(io.pack_inputs(moved), training=False))
        for comparison, expected, got in zip(comparisons, reference, outputs):
            comparison.add(expected, np.asarray(keras.ops.convert_to_numpy(got)))
    return [comparison.result() for comparison in comparisons]


def judge(error: Difference, floor: Difference | None, scale: float = 1.0) -> Judgement:
    """The verdict on `error` (a sample against its reference, whose largest finite
    magnitude is `scale`) given the sample's `floor` (None when it was not
    measured: the error passed its tolerance)."""
    if error.passed:
        return Judgement(True, error.max_abs)
    if floor is None or error.shape_error is not None:
        return Judgement(False, error.max_abs)
    ill_conditioned = (
        not floor.passed
        and floor.nonfinite_mismatches == 0
        and floor.max_abs > CONDITION_LIMIT * PERTURBATION * max(1.0, scale)
    )
    passed = (
        ill_conditioned
        and error.nonfinite_mismatches == 0
        and error.max_abs <= FLOOR_FACTOR * floor.max_abs
    )
    return Judgement(passed, error.max_abs, floor.max_abs, ill_conditioned)


def _perturbed(rng, array):
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.size == 0:
        return array
    size = np.maximum(np.abs(array.astype(np.float64)), 1.0) * PERTURBATION
    signs = rng.choice((-1.0, 1.0), size=array.shape)
    return (array + signs * size).astype(array.dtype)
