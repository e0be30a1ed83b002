"""One element-wise comparison for every check: reload, ONNX parity, layer by layer.

An element agrees when `|got - expected| <= atol + rtol * |expected|` (numpy's
`allclose` with `expected` as the reference). Non-finite values agree only with
themselves: NaN with NaN, +inf with +inf, -inf with -inf, in the same place.
Where only one side is NaN or infinite, or the infinities differ in sign, the
difference is infinite and the element fails whatever the tolerance. Relative
errors use the finite part of `expected` as the scale.

`Comparison` accumulates the statistics over several samples (the worst of
each); `compare` is one pair of arrays.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["Comparison", "Difference", "compare", "differences", "output_scale"]


@dataclasses.dataclass(frozen=True)
class Difference:
    """How two arrays (or several pairs) differ.

    Attributes:
        max_abs: largest `|got - expected|` (inf where non-finite values disagree).
        max_rel: largest `|got - expected| / |expected|` over finite non-zero `expected`.
        min_atol: the smallest `atol` that passes with the comparison's `rtol`.
        passed: every element within tolerance and the shapes equal.
        nonfinite_mismatches: elements where only one side is NaN/inf (or the
            infinities differ).
        shape_error: why the arrays could not be compared element-wise, if so.
    """

    max_abs: float = 0.0
    max_rel: float = 0.0
    min_atol: float = 0.0
    passed: bool = True
    nonfinite_mismatches: int = 0
    shape_error: str | None = None


def differences(expected, got) -> tuple[np.ndarray, np.ndarray]:
    """`(diff, scale)` as float64 arrays: the element-wise difference under the
    non-finite rules above, and `|expected|` where finite (else 0)."""
    expected = np.asarray(expected)
    got = np.asarray(got)
    if expected.dtype.kind not in "fc" or got.dtype.kind not in "fc":
        diff = np.where(expected == got, 0.0, np.inf)
        scale = np.abs(expected.astype(np.float64)) if expected.dtype.kind in "iub" else (
            np.zeros(expected.shape))
        return diff.astype(np.float64), scale
    expected = expected.astype(np.float64)
    got = got.astype(np.float64)
    same = (got == expected) | (np.isnan(expected) & np.isnan(got))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(got - expected))
    diff = np.where(np.isnan(diff), np.inf, diff)
    scale = np.where(np.isfinite(expected), np.abs(expected), 0.0)
    return diff, scale


def compare(expected, got, atol: float, rtol: float = 0.0) -> Difference:
    """How `got` differs from `expected` (see the module docstring)."""
    comparison = Comparison(atol, rtol)
    comparison.add(expected, got)
    return comparison.result()


def output_scale(arrays) -> float:
    """The largest finite magnitude in `arrays` (0.0 if none)."""
    largest = 0.0
    for array in arrays:
        array = np.asarray(array)
        if array.size and array.dtype.kind in "fciu":
            finite = np.abs(array[np.isfinite(array)]) if array.dtype.kind in "fc" else (
                np.abs(array))
            if finite.size:
                largest = max(largest, float(finite.max()))
    return largest


class Comparison:
    """Worst-case statistics of `expected`/`got` pairs added one by one."""

    def __init__(self, atol: float, rtol: float = 0.0):
        self.atol, self.rtol = atol, rtol
        self._result = Difference()

    def add(self, expected, got) -> Difference:
        """Add one pair; returns that pair's own `Difference`."""
        expected, got = np.asarray(expected), np.asarray(got)
        if expected.shape != got.shape:
            pair = Difference(math.inf, math.inf, math.inf, False,
                              shape_error=f"shape {got.shape} != expected shape {expected.shape}")
        elif expected.size == 0:
            pair = Difference()
        else:
            diff, scale = differences(expected, got)
            nonzero = scale > 0
            with np.errstate(invalid="ignore"):
                rel = float((diff[nonzero] / scale[nonzero]).max()) if nonzero.any() else 0.0
            pair = Difference(
                max_abs=float(diff.max()),
                max_rel=rel,
                min_atol=max(0.0, float((diff - self.rtol * scale).max())),
                passed=bool(np.all(diff <= self.atol + self.rtol * scale)),
                nonfinite_mismatches=int(np.count_nonzero(np.isinf(diff))),
            )
        self._merge(pair)
        return pair

    def _merge(self, pair: Difference) -> None:
        current = self._result
        self._result = Difference(
            max_abs=max(current.max_abs, pair.max_abs),
            max_rel=max(current.max_rel, pair.max_rel),
            min_atol=max(current.min_atol, pair.min_atol),
            passed=current.passed and pair.passed,
            nonfinite_mismatches=current.nonfinite_mismatches + pair.nonfinite_mismatches,
            shape_error=current.shape_error or pair.shape_error,
        )

    def result(self) -> Difference:
        return self._result
