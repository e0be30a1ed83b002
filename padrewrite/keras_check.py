"""Check a written model file against the original Keras model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Zero-mode rewrites must reproduce the original up to this absolute error.
EXACT_ATOL = 1e-6


@dataclass(frozen=True)
class OutputCheck:
    name: str
    shape: tuple
    expected_shape: tuple
    dtype: str
    expected_dtype: str
    max_abs_vs_original: float | None
    max_abs_vs_rewritten: float
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
                    f"(atol={EXACT_ATOL:.0e})"
                )
            detail.append(f"max_abs vs in-memory rewrite={output.max_abs_vs_rewritten:.1e}")
            lines.append(
                f"{status} | keras {self.path} | output '{output.name}' | " + " ".join(detail)
            )
        return lines


def random_inputs(model, *, batch_size=2, default_size=32, seed=0):
    """Seeded inputs for `model`: unknown dims become `batch_size` / `default_size`."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = [batch_size] + [default_size if d is None else d for d in tensor.shape[1:]]
        dtype = np.dtype(str(tensor.dtype)) if str(tensor.dtype) != "bfloat16" else np.float32
        if np.issubdtype(dtype, np.integer):
            arrays.append(rng.integers(0, 10, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _outputs(model, arrays):
    import keras

    feed = arrays[0] if len(arrays) == 1 else arrays
    result = model(feed, training=False)
    names = list(model.output_names)
    flat = keras.tree.flatten(result)
    return [(names[i] if i < len(names) else str(i), np.asarray(t)) for i, t in enumerate(flat)]


def check_saved_model(
    original, rewritten, saved_path, *, exact: bool, safe_mode: bool = True, seed: int = 0
) -> KerasCheckReport:
    """Reload `saved_path` as a user would and compare it with the models in memory.

    Output shapes and dtypes must equal the original's; with `exact` (constant
    mode, value 0) the outputs must too (atol `EXACT_ATOL`); the reloaded file
    must compute what the in-memory rewrite computes.
    """
    from padrewrite.io import load_model

    reloaded = load_model(saved_path, safe_mode=safe_mode)
    arrays = random_inputs(original, seed=seed)
    expected = _outputs(original, arrays)
    in_memory = _outputs(rewritten, arrays)
    got = _outputs(reloaded, arrays)
    checks = []
    for (name, want), (_, mine), (_, have) in zip(expected, in_memory, got):
        same_layout = want.shape == have.shape and want.dtype == have.dtype
        vs_rewritten = _max_abs(have, mine)
        vs_original = _max_abs(have, want) if exact and same_layout else None
        passed = (
            same_layout
            and vs_rewritten == 0.0
            and (vs_original is None or vs_original <= EXACT_ATOL)
        )
        checks.append(
            OutputCheck(
                name=name,
                shape=tuple(have.shape),
                expected_shape=tuple(want.shape),
                dtype=str(have.dtype),
                expected_dtype=str(want.dtype),
                max_abs_vs_original=vs_original,
                max_abs_vs_rewritten=vs_rewritten,
                passed=passed,
            )
        )
    return KerasCheckReport(path=str(saved_path), exact=exact, outputs=tuple(checks))


def _max_abs(a, b) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
