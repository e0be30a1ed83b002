"""Check a written model file against the original Keras model."""

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
    name: str
    shape: tuple
    expected_shape: tuple
    dtype: str
    expected_dtype: str
    max_abs_vs_original: float | None
    max_abs_vs_rewritten: float
    tolerance: float | None
    passed: bool


@dataclass(frozen=True)
class KerasCheckReport:
    """Result of reloading a written model; its truth value is `passed`."""

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
            detail = [f"shape={list(output.shape)} dtype={output.dtype}"]
            if output.shape != output.expected_shape or output.dtype != output.expected_dtype:
                detail.append(
                    f"expected shape={list(output.expected_shape)} "
                    f"dtype={output.expected_dtype}"
                )
            if output.max_abs_vs_original is not None:
                detail.append(
                    f"max_abs vs original={output.max_abs_vs_original:.1e} "
                    f"(tolerance {output.tolerance:.1e})"
                )
            detail.append(f"max_abs vs in-memory rewrite={output.max_abs_vs_rewritten:.1e}")
            lines.append(
                f"{status} | keras {self.path} | output '{output.name}' | " + " ".join(detail)
            )
        return lines


def _outputs(model, io, batch):
    import keras

    result = keras.tree.flatten(model(io.pack_inputs(batch), training=False))
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in result]


def check_saved_model(
    original,
    rewritten,
    saved_path,
    *,
    exact: bool,
    safe_mode: bool = True,
    input_shapes: dict | None = None,
    samples: int = 1,
    seed: int = 0,
) -> KerasCheckReport:
    """Reload `saved_path` as a user would and compare it with the models in memory.

    Output shapes and dtypes must equal the original's; with `exact` (constant
    mode, value 0) the outputs must too (`EXACT_TOLERANCE`); the reloaded file
    must compute what the in-memory rewrite computes. Inputs as in
    `padrewrite.parity.make_inputs` (random samples, zeros, ones).
    """
    from padrewrite.io import load_model
    from padrewrite.parity import make_inputs

    reloaded = load_model(saved_path, safe_mode=safe_mode)
    io, _, batches = make_inputs(
        original, input_shapes=input_shapes, samples=samples, seed=seed
    )
    per_output = [[] for _ in io.output_names]
    for batch in batches:
        results = zip(
            _outputs(original, io, batch),
            _outputs(rewritten, io, batch),
            _outputs(reloaded, io, batch),
        )
        for index, triple in enumerate(results):
            per_output[index].append(triple)
    checks = [
        _check_output(name, triples, exact)
        for name, triples in zip(io.output_names, per_output)
    ]
    return KerasCheckReport(path=str(saved_path), exact=exact, outputs=tuple(checks))


def _check_output(name, triples, exact) -> OutputCheck:
    """Worst case over the batches of (original, in-memory rewrite, reloaded)."""
    want, _, have = triples[0]
    same_layout = want.shape == have.shape and want.dtype == have.dtype
    vs_rewritten = max(_max_abs(h, m) for _, m, h in triples)
    vs_original = tolerance = None
    if exact and same_layout:
        vs_original = max(_max_abs(h, w) for w, _, h in triples)
        largest = max(float(np.max(np.abs(w), initial=0.0)) for w, _, _ in triples)
        tolerance = EXACT_TOLERANCE * max(1.0, largest)
    passed = (
        same_layout
        and vs_rewritten == 0.0
        and (vs_original is None or vs_original <= tolerance)
    )
    return OutputCheck(
        name=name,
        shape=tuple(have.shape),
        expected_shape=tuple(want.shape),
        dtype=str(have.dtype),
        expected_dtype=str(want.dtype),
        max_abs_vs_original=vs_original,
        max_abs_vs_rewritten=vs_rewritten,
        tolerance=tolerance,
        passed=passed,
    )


def _max_abs(a, b) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
