"""Check a written (and reloaded) model file against the original Keras model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Zero-mode rewrites must reproduce the original within this error, relative to
#: the output's largest magnitude (at least 1). Usually the difference is exactly
#: 0; oneDNN may sum a 'same' convolution in another order than the explicitly
#: padded one (seen: 1.9e-6 on outputs of size ~1).
EXACT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class OutputCheck:
    """One output: symbolic shape and dtype, and (exact mode) the largest difference."""

    name: str
    shape: tuple
    expected_shape: tuple
    dtype: str
    expected_dtype: str
    max_abs_vs_original: float | None
    tolerance: float | None
    passed: bool


@dataclass(frozen=True)
class KerasCheckReport:
    """Result of checking a reloaded model file; its truth value is `passed`."""

    path: str
    exact: bool
    outputs: tuple[OutputCheck, ...]

    @property
    def passed(self) -> bool:
        return all(output.passed for output in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "exact": self.exact,
            "passed": self.passed,
            "outputs": [asdict(output) for output in self.outputs],
        }

    def lines(self) -> list[str]:
        lines = []
        for output in self.outputs:
            status = "PASSED" if output.passed else "FAILED"
            shape = ["None" if d is None else str(d) for d in output.shape]
            detail = [f"shape=({', '.join(shape)}) dtype={output.dtype}"]
            if output.shape != output.expected_shape or output.dtype != output.expected_dtype:
                detail.append(
                    f"expected shape={output.expected_shape} dtype={output.expected_dtype}"
                )
            if output.max_abs_vs_original is not None:
                detail.append(
                    f"max_abs vs original={output.max_abs_vs_original:.1e} "
                    f"(tolerance {output.tolerance:.1e})"
                )
            lines.append(
                f"{status} | keras {self.path} | output '{output.name}' | " + " ".join(detail)
            )
        return lines


def check_saved_model(
    original,
    reloaded,
    path,
    *,
    exact: bool,
    input_shapes: dict | None = None,
    samples: int = 1,
    seed: int = 0,
) -> KerasCheckReport:
    """Compare the model reloaded from `path` with the original.

    Output shapes and dtypes (symbolic, `None` kept) must equal the original's.
    With `exact` (constant mode, value 0) both models also run on the inputs of
    `padrewrite.parity.make_inputs` (random samples, zeros, ones) and must agree
    within `EXACT_TOLERANCE`.
    """
    import keras

    from padrewrite.parity import make_inputs

    names = list(reloaded.output_names)
    expected = keras.tree.flatten(original.outputs)
    got = keras.tree.flatten(reloaded.outputs)
    differences = [None] * len(got)
    tolerances = [None] * len(got)
    layouts_equal = len(expected) == len(got) and all(
        _layout(e) == _layout(g) for e, g in zip(expected, got)
    )
    if exact and layouts_equal:
        io, _, batches = make_inputs(
            original, input_shapes=input_shapes, samples=samples, seed=seed
        )
        for index, (want, have) in enumerate(_run_both(original, reloaded, io, batches)):
            differences[index] = max(_max_abs(w, h) for w, h in zip(want, have))
            largest = max(float(np.max(np.abs(w), initial=0.0)) for w in want)
            tolerances[index] = EXACT_TOLERANCE * max(1.0, largest)
    checks = []
    for index, (want, have) in enumerate(zip(expected, got)):
        same_layout = _layout(want) == _layout(have)
        difference, tolerance = differences[index], tolerances[index]
        checks.append(
            OutputCheck(
                name=names[index] if index < len(names) else str(index),
                shape=tuple(have.shape),
                expected_shape=tuple(want.shape),
                dtype=str(have.dtype),
                expected_dtype=str(want.dtype),
                max_abs_vs_original=difference,
                tolerance=tolerance,
                passed=same_layout and (not exact or difference is not None)
                and (difference is None or difference <= tolerance),
            )
        )
    return KerasCheckReport(path=str(path), exact=exact, outputs=tuple(checks))


def _layout(tensor):
    return tuple(tensor.shape), str(tensor.dtype)


def _run_both(original, reloaded, io, batches):
    """Per output: (original arrays, reloaded arrays) over the batches."""
    import keras

    per_output = None
    for batch in batches:
        pair = [
            [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(
                model(io.pack_inputs(batch), training=False))]
            for model in (original, reloaded)
        ]
        if per_output is None:
            per_output = [([], []) for _ in pair[0]]
        for index, (want, have) in enumerate(zip(*pair)):
            per_output[index][0].append(want)
            per_output[index][1].append(have)
    return per_output


def _max_abs(a, b) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
