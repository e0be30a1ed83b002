"""Check that a written model file is the model that was built.

The reloaded file must compute what the rewritten model in memory computes
(in every mode), and its outputs must keep the original model's names, shapes
and dtypes. In constant mode with value 0 the reloaded file must also
reproduce the original model's outputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from padrewrite.verify.compare import compare, output_scale
from padrewrite.verify.conditioning import (
    Judgement,
    ill_conditioning_threshold,
    judge,
    rounding_floor,
)

#: Outputs that must agree do so within this error, relative to the output's
#: largest magnitude (at least 1). Usually the difference is exactly 0; oneDNN
#: may sum a 'same' convolution in another order than the explicitly padded
#: one (seen: 1.9e-6 on outputs of size ~1).
EXACT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class OutputCheck:
    """One output of the reloaded file.

    `name`, `shape`, `dtype` are the reloaded model's; `expected_*` the
    original's (symbolic shapes, `None` kept). `max_abs_vs_rewritten` is the
    largest difference from the rewritten model in memory;
    `max_abs_vs_original` the largest difference from the original model
    (constant mode with value 0 only, else `None`). `declared_shape` is set
    when the original's symbolic shape is contradicted by what the original
    itself returns (a custom layer's wrong `compute_output_shape`): then
    `expected_shape` is the shape it returns, `None` kept where declared.
    """

    name: str
    expected_name: str
    shape: tuple
    expected_shape: tuple
    dtype: str
    expected_dtype: str
    max_abs_vs_rewritten: float | None
    max_abs_vs_original: float | None
    tolerance: float | None
    passed: bool
    declared_shape: tuple | None = None
    ill_conditioned: tuple[str, ...] = ()


@dataclass(frozen=True)
class KerasCheckReport:
    """Result of checking a reloaded model file; its truth value is `passed`."""

    path: str
    exact: bool
    samples: int
    outputs: tuple[OutputCheck, ...]

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(output.passed for output in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "exact": self.exact,
            "samples": self.samples,
            "passed": self.passed,
            "outputs": [asdict(output) for output in self.outputs],
        }


def check_saved_model(
    original,
    rewritten,
    reloaded,
    path,
    *,
    exact: bool,
    input_shapes: dict | None = None,
    samples: int = 1,
    seed: int = 0,
) -> KerasCheckReport:
    """Compare the model reloaded from `path` with the models it came from.

    Every output of `reloaded` must match `rewritten` (the model that was
    saved) within `EXACT_TOLERANCE` on `samples` random inputs of batch 1
    (`padrewrite.verify.parity.make_inputs`; unknown sizes as there), and keep
    the name, symbolic shape and dtype of `original`'s output. With `exact`
    (constant mode, value 0) it must also match `original` numerically, on
    all-zeros and all-ones inputs too. A model that cannot run on the inputs
    raises `InputError` (a size filled in by default, or the original fails
    on the sizes given) or, when the original runs on sizes all given,
    `InternalError` (`padrewrite.verify.parity.run_on_inputs`).
    """
    from padrewrite.errors import InputError
    from padrewrite.keras_side.cpu import require_runnable
    from padrewrite.keras_side.model_io import describe_io
    from padrewrite.verify.parity import make_inputs, run_on_inputs

    require_runnable(rewritten, reloaded, *([original] if exact else []))
    try:
        expected_io = describe_io(original)
    except InputError:
        # A subclassed model has no symbolic outputs: its rewrite (a Functional
        # calling the rewritten copy of it) names and shapes them.
        expected_io = describe_io(rewritten)
    got_io = describe_io(reloaded)
    # One random sample finds a changed weight; the comparison with the original
    # (constant mode) also runs on all-zeros and all-ones inputs.
    io, _, batches = make_inputs(
        rewritten, input_shapes=input_shapes, batch_size=1, samples=samples, seed=seed,
        extremes=exact,
    )
    def run(model, batch):
        # A model that cannot run on these inputs: the input's or a bug (`run_on_inputs`).
        return run_on_inputs(model, io, batch, input_shapes=input_shapes, batch_size=1,
                             original=original)

    runs = _Runs(original, io, batches, run,
                 _run_all([rewritten, reloaded] + ([original] if exact else []), batches, run))
    count = max(len(expected_io.output_names), len(got_io.output_names))
    checks = [
        _check_output(index, expected_io, got_io, runs, exact)
        if index < len(got_io.output_names) and index < len(expected_io.output_names)
        else _missing_output(index, expected_io, got_io)
        for index in range(count)
    ]
    return KerasCheckReport(
        path=str(path), exact=exact, samples=len(batches), outputs=tuple(checks)
    )


class _Runs:
    """The outputs of the rewritten model, the reloaded file and (constant mode) the
    original over the samples: `outputs[model][output][sample]`; the original's
    floors and its returned shapes are measured on demand."""

    def __init__(self, original, io, batches, run, outputs):
        self.original, self.io, self.batches, self.run = original, io, batches, run
        self.outputs = outputs
        self._floors = {}

    def original_outputs(self):
        if len(self.outputs) < 3:
            self.outputs.append(_run_all([self.original], self.batches[:1], self.run)[0])
        return self.outputs[2]

    def floor(self, output_index):
        """`floor(sample)` of one output: how far the original moves under input
        rounding on that sample (`padrewrite.verify.conditioning`)."""
        def floor(sample):
            if sample not in self._floors:
                reference = [output[sample] for output in self.outputs[2]]
                self._floors[sample] = rounding_floor(
                    self.original, self.io, self.batches[sample], reference
                )
            return self._floors[sample][output_index]
        return floor


def _check_output(index, expected_io, got_io, runs: _Runs, exact: bool) -> OutputCheck:
    """The check of output `index` of the reloaded file."""
    have = runs.outputs[1][index]
    tolerance = EXACT_TOLERANCE * max(1.0, output_scale(have))
    vs_rewritten, _ = _judged(runs.outputs[0][index], have, tolerance)
    vs_original, ill = (
        _judged(runs.outputs[2][index], have, tolerance, runs.floor(index))
        if exact else (None, ())
    )
    shape, dtype = got_io.output_shapes[index], got_io.output_dtypes[index]
    expected_shape, declared_shape = expected_io.output_shapes[index], None
    if shape != expected_shape:
        # Is the original's own declaration wrong? What it returns decides.
        expected_shape, declared_shape = _returned_shape(
            expected_shape, runs.original_outputs()[index][0].shape
        )
    expected_dtype = expected_io.output_dtypes[index]
    return OutputCheck(
        name=got_io.output_names[index],
        expected_name=expected_io.output_names[index],
        shape=shape,
        expected_shape=expected_shape,
        dtype=dtype,
        expected_dtype=expected_dtype,
        max_abs_vs_rewritten=vs_rewritten.error,
        max_abs_vs_original=None if vs_original is None else vs_original.error,
        tolerance=tolerance,
        passed=(
            got_io.output_names[index] == expected_io.output_names[index]
            and (shape, dtype) == (expected_shape, expected_dtype)
            and vs_rewritten.passed
            and (vs_original is None or vs_original.passed)
        ),
        declared_shape=declared_shape,
        ill_conditioned=ill,
    )


def _returned_shape(declared: tuple, returned: tuple):
    """`(expected shape, declared shape or None)` for an output declared `declared`.

    The declaration stands unless a known non-batch size differs from what
    the original model returned: then the returned sizes are expected.
    """
    if len(declared) != len(returned) or all(
        d is None or d == r for d, r in zip(declared[1:], returned[1:])
    ):
        return tuple(declared), None
    expected = (declared[0], *(None if d is None else r for d, r in zip(declared[1:], returned[1:])))
    return expected, tuple(declared)


def _missing_output(index, expected_io, got_io) -> OutputCheck:
    def pick(io, field, default):
        values = getattr(io, field)
        return values[index] if index < len(values) else default

    return OutputCheck(
        name=pick(got_io, "output_names", f"(missing output {index})"),
        expected_name=pick(expected_io, "output_names", f"(no output {index})"),
        shape=pick(got_io, "output_shapes", ()),
        expected_shape=pick(expected_io, "output_shapes", ()),
        dtype=pick(got_io, "output_dtypes", ""),
        expected_dtype=pick(expected_io, "output_dtypes", ""),
        max_abs_vs_rewritten=None,
        max_abs_vs_original=None,
        tolerance=None,
        passed=False,
    )


def _run_all(models, batches, run):
    """`runs[model][output]`: the list of arrays that output gave over the batches
    (`run(model, batch)`: the flat outputs)."""
    runs = []
    for model in models:
        per_output: list[list] = []
        for batch in batches:
            for index, array in enumerate(run(model, batch)):
                if index == len(per_output):
                    per_output.append([])
                per_output[index].append(array)
        runs.append(per_output)
    return runs


def _judged(want: list, have: list, tolerance: float, floor=None):
    """`(Judgement over the samples, ill-conditioned sample labels)`: `have` against
    `want` sample by sample (`padrewrite.verify.compare`); with `floor(sample)`, a sample
    over the tolerance is judged against its error floor (`padrewrite.verify.conditioning`)."""
    worst = Judgement(True, 0.0)
    ill = []
    for sample, (a, b) in enumerate(zip(want, have, strict=True)):
        error = compare(a, b, tolerance)
        verdict = judge(error, floor(sample) if floor is not None and not error.passed else None,
                        ill_conditioning_threshold(tolerance))
        if verdict.ill_conditioned:
            ill.append(f"sample {sample + 1} (error {verdict.error:.1e}, floor "
                       f"{verdict.floor:.1e})")
        worst = Judgement(worst.passed and verdict.passed, max(worst.error, verdict.error))
    return worst, tuple(ill)
