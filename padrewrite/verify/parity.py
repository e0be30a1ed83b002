"""Compare a Keras model with its ONNX export under onnxruntime.

Inputs: `samples` seeded random batches (floats standard normal, integers in
[0, 10), booleans), then one batch of zeros and one of ones. Dynamic sizes
come from `input_shapes`, else the batch axis gets `batch_size` and every
other unknown size `DEFAULT_DYNAMIC_SIZE`.

An element passes when `|onnx - keras| <= atol + rtol * |keras|` (numpy's
`allclose` convention with Keras as the reference; NaN and infinities agree
only with themselves in the same place: `padrewrite.verify.compare`). A sample that
fails it is measured for its error floor (`padrewrite.verify.conditioning`): where
the floor itself exceeds the tolerance the sample is ill-conditioned (constant
maps through a normalization) and passes within `FLOOR_FACTOR` of it; the
report lists such samples.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np

from padrewrite.errors import InputError, InternalError, bug_message, one_line
from padrewrite.keras_side.model_io import describe_io

# `render_parity` is `padrewrite.output.render.parity_lines`: a report's text lines.
from padrewrite.output.render import parity_lines as render_parity
from padrewrite.output.render import short_number
from padrewrite.verify.compare import Comparison, Difference
from padrewrite.verify.conditioning import (
    ill_conditioning_threshold,
    judge,
    rounding_floor,
)

__all__ = [
    "DEFAULT_DYNAMIC_SIZE",
    "OutputParity",
    "ParityReport",
    "bisect_parity",
    "check_parity",
    "make_inputs",
    "render_parity",
    "run_on_inputs",
    "unloadable_report",
]

#: Size given to unknown non-batch axes when `input_shapes` does not say.
DEFAULT_DYNAMIC_SIZE = 32

#: Default `(atol, rtol)` per compute dtype: the lowest-precision dtype any layer
#: computes in. Half-precision arithmetic differs between Keras and onnxruntime by
#: its own rounding (mixed_float16 models: ~3e-4 before any rewrite).
DEFAULT_TOLERANCES = {
    "float64": (1e-4, 1e-3),
    "float32": (1e-4, 1e-3),
    "float16": (1e-2, 1e-2),
    "bfloat16": (5e-2, 5e-2),
}
_PRECISION_ORDER = ("bfloat16", "float16", "float32", "float64")


def compute_dtype(keras_model) -> str:
    """The lowest-precision floating dtype any layer of `keras_model` computes in."""
    from padrewrite.keras_side import keras_internals

    found = {"float32"}
    for layer in keras_internals.flatten_layers(keras_model, include_self=True):
        policy = getattr(layer, "dtype_policy", None)
        dtype = getattr(policy, "compute_dtype", None)
        if dtype in DEFAULT_TOLERANCES:
            found.add(dtype)
    return next(dtype for dtype in _PRECISION_ORDER if dtype in found)


@dataclasses.dataclass(frozen=True)
class OutputParity:
    """Agreement of one output over every sample.

    Attributes:
        name: the output (Keras output layer name = ONNX output name).
        max_abs: largest `|onnx - keras|`.
        max_rel: largest `|onnx - keras| / |keras|` over elements where
            `keras != 0`.
        min_atol_to_pass: the smallest `atol` that would pass with the
            report's `rtol`.
        passed: every sample passed: within tolerance, or (an ill-conditioned
            sample) within `FLOOR_FACTOR` of its error floor
            (`padrewrite.verify.conditioning`).
        error: why the output could not be compared element-wise, if so.
        floor: the largest error floor measured (only samples that failed the
            tolerance are measured), else None.
        ill_conditioned: the samples judged against their floor, each with its
            error and floor.
    """

    name: str
    max_abs: float
    max_rel: float
    min_atol_to_pass: float
    passed: bool
    error: str | None = None
    floor: float | None = None
    ill_conditioned: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """Result of `check_parity`; true when every output passed."""

    onnx_path: str
    atol: float
    rtol: float
    samples: int
    input_shapes: dict[str, tuple[int, ...]]
    outputs: tuple[OutputParity, ...]
    compute_dtype: str = "float32"
    runtime: str = "onnxruntime"
    #: `padrewrite.verify.bisect.DivergenceReport` when layers were compared (on failure or
    #: on request), else None.
    divergence: object | None = None

    @property
    def hint(self) -> str | None:
        """Why a failure may only be the tolerance: it is tighter than the compute dtype's."""
        if self.passed or self.compute_dtype in ("float32", "float64"):
            return None
        atol, rtol = DEFAULT_TOLERANCES[self.compute_dtype]
        if self.atol >= atol and self.rtol >= rtol:
            return None
        return (
            f"the model computes in {self.compute_dtype}; tolerances below "
            f"atol={short_number(atol)}, rtol={short_number(rtol)} are tighter than its arithmetic "
            "(the default for it; omit --atol/--rtol)"
        )

    @property
    def passed(self) -> bool:
        return all(output.passed for output in self.outputs)

    def __bool__(self):
        return self.passed

    def to_dict(self):
        document = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self) if field.name != "divergence"
        }
        document["outputs"] = [dataclasses.asdict(output) for output in self.outputs]
        return {
            **document,
            "passed": self.passed,
            "hint": self.hint,
            "divergence": None if self.divergence is None else self.divergence.to_dict(),
        }


def check_parity(
    keras_model,
    onnx_path,
    atol: float | None = None,
    rtol: float | None = None,
    samples: int = 3,
    batch_size: int = 2,
    input_shapes: dict | None = None,
    seed: int = 0,
    runtime: str = "onnxruntime",
    original=None,
) -> ParityReport:
    """Run `keras_model` and the ONNX file on the same inputs and compare.

    Args:
        keras_model: the Functional or Sequential model that was exported.
        onnx_path: the ONNX file (from `padrewrite.export_onnx`).
        atol, rtol: tolerances, `|onnx - keras| <= atol + rtol * |keras|`;
            `None` takes the default for the model's compute dtype
            (`DEFAULT_TOLERANCES`: 1e-4 and 1e-3 for float32).
        samples: number of random input batches (zeros and ones are added).
        batch_size: batch size when `input_shapes` does not give one.
        input_shapes: `{input name: full shape including the batch}`; `None`
            entries take the defaults.
        seed: seed of the random inputs.
        runtime: the engine running the ONNX file on the CPU, "onnxruntime"
            or "openvino" (`padrewrite.verify.engines`).
        original: the model `keras_model` was rewritten from, if it was: a
            `keras_model` that cannot run on inputs the original runs on (all
            sizes given) is then padrewrite's bug, not the input's (`run_on_inputs`).

    Returns:
        A `ParityReport` (true when passed).

    Raises:
        InputError: the model cannot run on the inputs (`run_on_inputs`: a size
            filled in by default, or the user's model fails on the sizes given).
    """
    from padrewrite.keras_side.cpu import require_runnable
    from padrewrite.verify.engines import open_engine

    require_runnable(keras_model)
    dtype = compute_dtype(keras_model)
    default_atol, default_rtol = DEFAULT_TOLERANCES[dtype]
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    _check_arguments(atol, rtol, samples, batch_size)
    io = describe_io(keras_model)
    session = open_engine(onnx_path, runtime)
    _check_names("inputs", session.input_names, io.input_names)
    _check_names("outputs", session.output_names, io.output_names)
    io, shapes, batches = make_inputs(
        keras_model, input_shapes=input_shapes, batch_size=batch_size,
        samples=samples, seed=seed,
    )
    stats = {name: _OutputStats(atol, rtol) for name in io.output_names}
    labels = sample_labels(samples, len(batches))
    for label, batch in zip(labels, batches):
        reference = run_on_inputs(keras_model, io, batch, input_shapes=input_shapes,
                              batch_size=batch_size, original=original)
        feeds = dict(zip(io.input_names, batch))
        try:
            actual = session.run(list(io.output_names), feeds)
        except Exception as error:  # the ONNX file does not run: every output fails
            for name in io.output_names:
                stats[name].error = (
                    f"{runtime} failed to run the ONNX file on inputs of shapes "
                    f"{[tuple(a.shape) for a in batch]}: {_first_line(error)}"
                )
            break
        errors = [stats[name].compare(want, got)
                  for name, want, got in zip(io.output_names, reference, actual)]
        floors = [None] * len(errors)
        if not all(error.passed for error in errors):
            # Only a failing sample pays for its floor (`padrewrite.verify.conditioning`).
            floors = rounding_floor(keras_model, io, batch, reference)
        for name, error, floor in zip(io.output_names, errors, floors):
            stats[name].judge(label, error, floor, ill_conditioning_threshold(atol))
    return ParityReport(
        onnx_path=str(onnx_path),
        atol=atol,
        rtol=rtol,
        samples=len(batches),
        input_shapes=dict(zip(io.input_names, shapes)),
        outputs=tuple(stats[name].result(name) for name in io.output_names),
        compute_dtype=dtype,
        runtime=runtime,
    )


def unloadable_report(keras_model, onnx_path, reason: str, *, atol=None, rtol=None,
                      runtime: str = "onnxruntime") -> ParityReport:
    """A failed `ParityReport`: the engine could not load the ONNX file (`reason`).

    For a file padrewrite wrote itself, which the engine must run: a failed
    check, not the user's input.
    """
    dtype = compute_dtype(keras_model)
    default_atol, default_rtol = DEFAULT_TOLERANCES[dtype]
    io = describe_io(keras_model)
    error = f"{runtime} cannot load the ONNX file padrewrite wrote: {reason}"
    return ParityReport(
        onnx_path=str(onnx_path),
        atol=default_atol if atol is None else atol,
        rtol=default_rtol if rtol is None else rtol,
        samples=0,
        input_shapes={},
        outputs=tuple(
            OutputParity(name, math.inf, math.inf, math.inf, False, error)
            for name in io.output_names
        ),
        compute_dtype=dtype,
        runtime=runtime,
    )


def sample_labels(samples: int, count: int) -> list[str]:
    """Names of the batches `make_inputs` gives: "random 1".., then "zeros", "ones"."""
    labels = [f"random {index + 1}" for index in range(samples)] + ["zeros", "ones"]
    return labels[:count]


def make_inputs(
    keras_model, *, input_shapes=None, batch_size=2, samples=3, seed=0, extremes=True
):
    """`(io, shapes, batches)`: the model's inputs described, their concrete
    shapes, and the flat input batches (`samples` random, then zeros and ones
    unless `extremes` is false)."""
    io = describe_io(keras_model)
    shapes = _resolve_shapes(io, input_shapes or {}, batch_size)
    return io, shapes, list(_sample_inputs(io, shapes, samples, seed, extremes))


def run_on_inputs(model, io, batch, *, input_shapes=None, batch_size=2, original=None):
    """`model`'s outputs on the flat input `batch` (from `make_inputs` with the same
    `input_shapes` and `batch_size`), as numpy arrays, flat.

    Every check runs its models through this, so that a model that cannot run on
    the generated inputs is classified in one place. `original` is the model
    `model` was rewritten from (None, or `model` itself: `model` is the user's):

    - some input size was filled in by default (not in `input_shapes`, unknown
      in the model): `InputError` naming the inputs, the default sizes, Keras'
      cause and the remedy (`--input-shape NAME=...`);
    - every size was given or static: if the user's model (the original) fails
      on them, `InputError` with Keras' cause; if the original runs and `model`
      fails, padrewrite's bug (`InternalError`).
    """
    packed = io.pack_inputs(batch)
    try:
        return _outputs(model, packed)
    except Exception as error:
        failure = error
    original_runs = False
    if original is not None and original is not model:
        try:
            _outputs(original, packed)
        except Exception as error:
            failure = error  # the user's model fails on them too: its cause is told
        else:
            original_runs = True
    defaulted = _defaulted_axes(io, input_shapes or {})
    shapes = {name: tuple(np.shape(array)) for name, array in zip(io.input_names, batch)}
    cause = keras_cause(failure)
    if original_runs and _is_pad_limit(failure):
        raise InputError(
            f"The rewritten model cannot pad inputs of shapes {shapes} in its mode (the "
            f"original model runs on them): {cause}. Give larger sizes (--input-shape), or "
            "a mode without that limit for those layers (--fallback-mode, --mode-for). "
            f"Received: input_shapes={input_shapes}"
        ) from failure
    if original_runs and not defaulted:
        raise InternalError(failure, bug_message(
            failure, f"the rewritten model fails on inputs {shapes} that the original model "
                     f"runs on: {cause}",
        )) from failure
    who = ("The rewritten model cannot run on the check's inputs (the original model runs "
           "on them)" if original_runs else "The model cannot run on the check's inputs")
    if defaulted:
        every_axis = [axis for found in defaulted.values() for axis in found]
        used = ([f"batch {batch_size}"] if 0 in every_axis else []) + (
            [f"size {DEFAULT_DYNAMIC_SIZE}"] if any(every_axis) else [])
        where = (f"the sizes the model leaves unknown took the defaults {' and '.join(used)} ("
                 + ", ".join(f"input '{name}' {shapes[name]}" for name in defaulted) + ")")
        remedy = "Give the sizes it accepts: " + " ".join(
            f"--input-shape {name}={_shape_template(shapes[name], axes)}"
            for name, axes in defaulted.items()
        ) + " (`input_shapes` in Python)"
    else:
        where = ", ".join(f"input '{name}' {shape}" for name, shape in shapes.items()) + (
            " (every size given or fixed by the model)")
        remedy = ("Give shapes it accepts: --input-shape NAME=DIMS "
                  "(`input_shapes` in Python)")
    raise InputError(
        f"{who}: {where}; Keras: {cause}. {remedy}. Received: input_shapes={input_shapes}"
    ) from failure


def _is_pad_limit(error: BaseException) -> bool:
    """Whether `error` is (or was caused by) a padding layer meeting an axis too small
    for its mode (`padrewrite.layers.PadLimitError`)."""
    from padrewrite.layers import PadLimitError

    while error is not None:
        if isinstance(error, PadLimitError):
            return True
        error = error.__cause__ or error.__context__
    return False


def keras_cause(error: BaseException) -> str:
    """Keras' reason for `error`, on one line: the exception's type, the layer call it
    happened in, and the first line of the message itself (without Keras' "Exception
    encountered when calling" preamble, TensorFlow's function node and the arguments)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    where = None
    while lines and lines[0].startswith("Exception encountered when calling "):
        where = lines.pop(0)[len("Exception encountered when calling "):].rstrip(".")
    first = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", lines[0]) if lines else ""
    found = type(error).__name__ + (f" in {where}" if where else "")
    return one_line(f"{found}: {first}" if first else found, 300)


def _outputs(model, packed) -> list:
    import keras

    return [
        np.asarray(keras.ops.convert_to_numpy(tensor))
        for tensor in keras.tree.flatten(model(packed, training=False))
    ]


def _defaulted_axes(io, input_shapes) -> dict[str, list[int]]:
    """`{input name: axes}`: the sizes `make_inputs` filled in by default (unknown in
    the model and not given in `input_shapes`), for the inputs that have any."""
    found = {}
    for name, model_shape in zip(io.input_names, io.input_shapes):
        given = input_shapes.get(name)
        given = (None,) * len(model_shape) if given is None else tuple(given)
        axes = [axis for axis, (g, m) in enumerate(zip(given, model_shape))
                if g is None and m is None]
        if axes:
            found[name] = axes
    return found


def _shape_template(shape, axes) -> str:
    """`2,N,4`: `shape` with the defaulted non-batch axes left for the user to fill in
    (`N`, or `N1`, `N2`, ...); the batch too when it is the only one defaulted."""
    blanks = [axis for axis in axes if axis != 0] or list(axes)
    names = {axis: "B" if axis == 0 else "N" if len(blanks) == 1 else f"N{i + 1}"
             for i, axis in enumerate(blanks)}
    return ",".join(names.get(axis, str(size)) for axis, size in enumerate(shape))


def bisect_parity(keras_model, onnx_path, report: ParityReport, samples: int) -> ParityReport:
    """`report` with its `divergence`: the layers of `keras_model` compared with the
    ONNX file's tensors on the same random inputs and tolerances (`padrewrite.verify.bisect`;
    all-zeros and all-ones only when there are no random samples).
    Unchanged when an output could not be compared at all (`OutputParity.error`:
    the file does not run on the engine, or an output's shape differs)."""
    from padrewrite.verify.bisect import locate_divergence

    if any(output.error for output in report.outputs):
        return report  # the file did not run (or its shapes differ): no layer to compare
    # The random samples only (when there are): constant inputs are ill-conditioned
    # through normalizations, and would name the first one whatever diverged.
    io, _, batches = make_inputs(
        keras_model, input_shapes=report.input_shapes, samples=samples, extremes=samples == 0,
    )
    divergence = locate_divergence(
        keras_model, onnx_path, atol=report.atol, rtol=report.rtol, batches=batches, io=io,
        runtime=report.runtime,
    )
    return dataclasses.replace(report, divergence=divergence)


class _OutputStats:
    """One output over the samples: the raw statistics and each sample's verdict."""

    def __init__(self, atol, rtol):
        self.comparison = Comparison(atol, rtol)
        self.failed = False
        self.floor = None
        self.ill_conditioned: list[str] = []
        self.error = None

    def compare(self, expected, got) -> Difference:
        return self.comparison.add(expected, got)

    def judge(self, label, error: Difference, floor: float | None, threshold: float):
        if error.shape_error is not None:
            self.error = error.shape_error.replace("expected shape", "Keras shape")
        judgement = judge(error, floor, threshold)
        self.failed = self.failed or not judgement.passed
        if judgement.floor is not None:
            self.floor = max(self.floor or 0.0, judgement.floor)
        if judgement.ill_conditioned:
            self.ill_conditioned.append(f"{label} (error {judgement.error:.1e}, floor "
                                        f"{judgement.floor:.1e})")

    def result(self, name):
        if self.error:
            return OutputParity(name, math.inf, math.inf, math.inf, False, self.error)
        total = self.comparison.result()
        return OutputParity(
            name, total.max_abs, total.max_rel, total.min_atol, not self.failed,
            floor=self.floor, ill_conditioned=tuple(self.ill_conditioned),
        )


def _first_line(error) -> str:
    text = " ".join(str(error).split())
    return text[:500] if text else type(error).__name__


def _check_arguments(atol, rtol, samples, batch_size):
    for name, value in (("atol", atol), ("rtol", rtol)):
        if not isinstance(value, (int, float)) or not value >= 0:
            raise InputError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
    for name, value in (("samples", samples), ("batch_size", batch_size)):
        minimum = 0 if name == "samples" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InputError(
                f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}"
            )


def _check_names(kind, onnx_names, keras_names):
    if sorted(onnx_names) != sorted(keras_names):
        raise InputError(
            f"The ONNX model's {kind} do not match the Keras model's. "
            f"Expected: {list(keras_names)}. Received: {kind}={onnx_names}"
        )


def _resolve_shapes(io, input_shapes, batch_size):
    unknown = sorted(set(input_shapes) - set(io.input_names))
    if unknown:
        raise InputError(
            f"`input_shapes` names inputs the model does not have; its inputs "
            f"are {list(io.input_names)}. Received: input_shapes={input_shapes}"
        )
    shapes = []
    for name, model_shape in zip(io.input_names, io.input_shapes):
        given = input_shapes.get(name)
        if given is None:
            given = (None,) * len(model_shape)
        given = tuple(given)
        if len(given) != len(model_shape) or any(
            g is not None and m is not None and g != m for g, m in zip(given[1:], model_shape[1:])
        ):
            raise InputError(
                f"`input_shapes[{name!r}]` must be a full shape (batch first) "
                f"matching {model_shape}. Received: input_shapes={input_shapes}"
            )
        shape = []
        for axis, (g, m) in enumerate(zip(given, model_shape)):
            default = batch_size if axis == 0 else DEFAULT_DYNAMIC_SIZE
            shape.append(g if g is not None else m if m is not None else default)
        shapes.append(tuple(int(d) for d in shape))
    return shapes


def _sample_inputs(io, shapes, samples, seed, extremes=True):
    """`samples` random batches, then zeros, then ones; each a flat list."""
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        yield [_random(rng, shape, dtype) for shape, dtype in zip(shapes, io.input_dtypes)]
    for fill in (0, 1) if extremes else ():
        yield [np.full(shape, fill, dtype=dtype) for shape, dtype in zip(shapes, io.input_dtypes)]


def _random(rng, shape, dtype):
    kind = np.dtype(dtype).kind
    if kind == "b":
        return rng.random(shape) < 0.5
    if kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)
