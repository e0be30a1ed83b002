"""The `padrewrite` command: parse, call the library, render, set the exit code.

Exit codes: 0 success, 1 verification failed, 2 the input or the options are
wrong (the message says what to do), 3 an unanticipated error (a bug).
TensorFlow is imported only once a command runs, never for `--help`.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from padrewrite import __version__
from padrewrite.errors import (
    EXIT_BUG,
    EXIT_FAILED,
    EXIT_USAGE,
    InputError,
    InternalError,
    bug_message,
    one_line,
)
from padrewrite.modes import CAUSAL_MODES, FALLBACK_MODES, parse_mode, parse_mode_for
from padrewrite.onnx.opsets import DEFAULT_OPSET, MIN_OPSET
from padrewrite.options import ExportOptions, JobOptions, RewriteChoices, VerifyOptions

RULE_CHOICES = (
    "conv-same", "conv-causal", "conv-transpose", "zero-padding", "pooling-same", "adopt-padding"
)


class UsageFailure(click.ClickException):
    """The input or the options are wrong: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE


class VerificationFailed(click.ClickException):
    exit_code = EXIT_FAILED


class Bug(click.ClickException):
    """An unanticipated error: one line saying so, exit code 3."""

    exit_code = EXIT_BUG

    def format_message(self):
        return self.message

    def show(self, file=None):
        click.echo(self.message, err=True)


class _DefaultCommandGroup(click.Group):
    """`padrewrite MODEL ...` means `padrewrite rewrite MODEL ...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names + [
            "--version"
        ]:
            args = ["rewrite", *args]
        return super().parse_args(ctx, args)


def _quiet_tensorflow():
    """Import TensorFlow without its start-up chatter on stderr (replayed on failure),
    with oneDNN unless the user chose (`padrewrite.keras_side.cpu`)."""
    from padrewrite.keras_side.cpu import prefer_onednn

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    prefer_onednn()
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _handle_errors(command):
    """Input errors exit 2, unanticipated ones exit 3; tracebacks only with --debug."""

    @functools.wraps(command)
    def wrapper(*args, debug=False, **kwargs):
        junit = kwargs.get("junit")
        checked = kwargs.get("model") or ", ".join(map(str, kwargs.get("models") or ()))
        if junit is not None and not junit.parent.is_dir():
            raise UsageFailure(f"--junit: {junit.parent} is not a directory. Received: {junit}")
        try:
            return command(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except click.ClickException as error:
            if junit is not None and error.exit_code in (EXIT_USAGE, EXIT_BUG):
                _write_junit_error(junit, checked, error.format_message())
            raise
        except InputError as error:
            if debug:
                traceback.print_exc()
            # Long enough to name every layer a rewrite refuses.
            failure = UsageFailure(one_line(error, 2000))
        except InternalError as error:
            if debug:
                traceback.print_exception(error.error)
            failure = Bug(str(error))
        except Exception as error:
            if debug:
                traceback.print_exc()
            failure = Bug(bug_message(error))
        if junit is not None:
            _write_junit_error(junit, checked, failure.format_message())
        raise failure from None

    return wrapper


def _write_junit_error(path, model, message):
    """A JUnit file saying the model could not be checked (exit 2 or 3)."""
    from padrewrite.output.junit import error_suite, write_junit

    write_junit(path, [error_suite(str(model), message)])


def _progress(enabled: bool):
    """A stage callback printing progress on stderr, or None."""
    if not enabled:
        return None
    from padrewrite.output.render import progress_line

    return lambda stage: click.echo(progress_line(stage), err=True)


def _parse_input_shapes(values) -> dict:
    shapes = {}
    for value in values:
        name, sep, dims = value.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise UsageFailure(
                f"--input-shape must look like NAME=1,256,256,3. Received: {value!r}"
            ) from None
    return shapes


class _ParsedType(click.ParamType):
    """An option value parsed by `padrewrite.modes`: its `InputError` is the option's."""

    def __init__(self, name: str, parse):
        self.name = name
        self.parse = parse

    def convert(self, value, param, ctx):
        try:
            return self.parse(value)
        except InputError as error:
            self.fail(str(error), param, ctx)


#: A mode, or modes per axis ("H=constant,W=circular").
_MODE = _ParsedType("MODE", parse_mode)
#: GLOB=MODE: a mode (maybe per axis) for the layers whose name or path matches.
_MODE_FOR = _ParsedType("GLOB=MODE", lambda value: parse_mode_for([value])[0])


def _common_options(function):
    for option in reversed(
        [
            click.option("--atol", type=float, default=None,
                         help="ONNX parity: absolute tolerance [default: 1e-4; 1e-2 for "
                              "float16 models, 5e-2 for bfloat16]."),
            click.option("--rtol", type=float, default=None,
                         help="ONNX parity: relative tolerance [default: 1e-3; 1e-2 for "
                              "float16 models, 5e-2 for bfloat16]."),
            click.option("--samples", type=click.IntRange(min=1), default=3, show_default=True,
                         help="ONNX parity: random samples (plus all-zeros and all-ones)."),
            click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=DIMS",
                         help="Shape for an input with unknown dims, e.g. image=1,256,256,3."),
            click.option("--runtime", type=click.Choice(("onnxruntime", "openvino")),
                         default="onnxruntime", show_default=True,
                         help="ONNX engine to export for and check on (CPU); openvino needs "
                              "padrewrite[openvino] and gets circular pads as Slice+Concat."),
            click.option("--bisect", is_flag=True,
                         help="ONNX parity: compare layer by layer and name the first "
                              "diverging layer even when it passes (always done on failure)."),
            click.option("--junit", type=click.Path(path_type=Path, dir_okay=False),
                         metavar="PATH",
                         help="Also write the checks as JUnit XML to PATH (for CI dashboards; "
                              "written when verification fails too)."),
            click.option("--json", "as_json", is_flag=True,
                         help="Print the whole report as JSON on stdout."),
            click.option("--import", "imports", multiple=True, metavar="MODULE",
                         help="Import MODULE first (registers custom layers). Repeatable."),
            click.option("--unsafe", is_flag=True,
                         help="Allow loading Lambda layers (runs code from the file)."),
            click.option("--debug", is_flag=True, help="Show tracebacks."),
        ]
    ):
        function = option(function)
    return function


@click.group(
    cls=_DefaultCommandGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="padrewrite")
def main():
    """Rewrite 'same'/'causal' convolutions of a Keras model to explicit padding.

    \b
      padrewrite MODEL --mode reflect -o OUT.keras [--onnx OUT.onnx] [--verify]
      padrewrite MODEL1 MODEL2 ... -o OUTDIR [--onnx] [--verify]
      padrewrite verify MODEL.keras MODEL.onnx

    Run `padrewrite rewrite --help` for every option. Exit codes: 0 success,
    1 verification failed, 2 the input or the options are wrong, 3 a bug.
    """


#: What a bare `--onnx` (no PATH) stands for: with several models, OUTDIR/<stem>.onnx.
_ONNX_IN_OUTPUT_DIR = "\0in-output-dir"


@main.command("rewrite")
@click.argument("models", metavar="MODEL...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--mode", type=_MODE, default="reflect", show_default=True,
              help="Padding mode: constant, reflect, replicate, symmetric, circular (zero, "
                   "edge, wrap), or one per axis: H=constant,W=circular (T or L for 1D, "
                   "D/H/W; an entry without an axis is the default, e.g. reflect,W=wrap).")
@click.option("--mode-for", "mode_for", multiple=True, type=_MODE_FOR,
              help="Mode for the layers whose name or path matches GLOB, e.g. "
                   "'decoder/*=replicate' (the last match wins). Repeatable.")
@click.option("--causal-mode", type=click.Choice(CAUSAL_MODES),
              help="Causal convolutions: pad replicate or constant (they stay causal), or "
                   "as-mode to accept a mode that reads future samples [default: refuse "
                   "reflect/symmetric/circular there].")
@click.option("--fallback-mode", type=click.Choice(FALLBACK_MODES),
              help="Where the mode cannot pad an axis (reflect: pad >= size; symmetric, "
                   "circular: pad > size): pad it replicate or constant, or skip the layer "
                   "[default: refuse].")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Rewritten model file (.keras or .h5); with several models, a directory "
                   "(created if missing) receiving OUTDIR/<name of each input>.")
@click.option("--value", type=float, default=None, help="Fill value for --mode constant.")
@click.option("--onnx", "onnx_path", is_flag=False, flag_value=_ONNX_IN_OUTPUT_DIR,
              metavar="PATH",
              help="Also export the rewritten model to this ONNX file; with several models "
                   "a flag without PATH: OUTDIR/<stem>.onnx each.")
@click.option("--opset", type=click.IntRange(min=MIN_OPSET), default=DEFAULT_OPSET,
              show_default=True, help="ONNX opset (19+ gives a native circular Pad).")
@click.option("--no-hoist", is_flag=True,
              help="ONNX: keep each Pad right before its conv (no pad hoisting).")
@click.option("--verify", is_flag=True,
              help="Reload what was written and check it (and the ONNX file).")
@click.option("--plan", is_flag=True, help="Show what would change; write nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the seconds each stage took.")
@click.option("--drift", is_flag=True,
              help="Measure how much the rewrite changed the outputs (vs the original), "
                   "in the border band and the interior.")
@click.option("--drift-png", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
              help="Also draw a heat map of that change for image outputs (implies --drift; "
                   "needs matplotlib: padrewrite[plots]).")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Rewrite only layers whose name or path matches. Repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Never rewrite layers whose name or path matches. Repeatable.")
@click.option("--rule", "rules", multiple=True, type=click.Choice(RULE_CHOICES),
              help="Enable an opt-in rule (zero-padding, pooling-same, adopt-padding). "
                   "Repeatable.")
@click.option("--skip-rule", "skip_rules", multiple=True, type=click.Choice(RULE_CHOICES),
              help="Disable a rule. Repeatable.")
@_common_options
@_handle_errors
def rewrite_command(models, output, onnx_path, plan, verbose, junit, as_json, **params):
    """Rewrite each MODEL's 'same'/'causal' convolutions to explicit padding + 'valid'.

    With several MODELs, -o is a directory and --onnx a flag; they run in one
    process, the exit code is the worst of theirs (3 > 2 > 1 > 0).
    """
    if not plan and output is None:
        raise UsageFailure("missing -o/--output (or use --plan to write nothing).")
    options = _job_options(params, plan=plan)
    on_stage = _progress(sys.stderr.isatty() and not as_json)
    if options.checks.drift_png is not None and len(models) > 1:
        raise UsageFailure("--drift-png takes one model; use --drift for several.")
    if len(models) > 1:
        _rewrite_many(models, output, onnx_path, options, on_stage, verbose, junit, as_json)
        return
    if onnx_path == _ONNX_IN_OUTPUT_DIR:
        raise UsageFailure("--onnx needs a PATH with a single model, e.g. --onnx out.onnx.")
    _quiet_tensorflow()
    from padrewrite.output import render
    from padrewrite.pipeline import run_file

    report = run_file(models[0], output, options, on_stage=on_stage,
                      onnx_path=None if onnx_path is None else Path(onnx_path))
    if junit is not None:
        from padrewrite.output.junit import Suite, cases_for_report, write_junit

        write_junit(junit, [Suite(str(models[0]), cases_for_report(report))])
    _echo_lines([render.report_json(report)] if as_json
                else render.file_report_lines(report, verbose=verbose))
    if not report:
        raise VerificationFailed("verification FAILED; nothing was written.")


def _rewrite_many(models, output, onnx_path, options, on_stage, verbose, junit, as_json):
    """Several models in one process: a section per model, then one summary table."""
    if onnx_path not in (None, _ONNX_IN_OUTPUT_DIR):
        raise UsageFailure(
            "with several models --onnx takes no PATH: each model's ONNX file is "
            f"OUTDIR/<stem>.onnx (write --onnx after the models). Received: --onnx {onnx_path}"
        )
    _quiet_tensorflow()
    from padrewrite.output import render
    from padrewrite.pipeline import batch_targets, run_files

    output_dir = None if options.plan else output
    batch_targets(models, output_dir, onnx_path is not None)

    def progress(index, outcome, path):
        click.echo(render.model_progress_line(index, len(models), outcome, path), err=True)

    outcomes = run_files(models, output_dir, options, onnx=onnx_path is not None,
                         on_model=progress, on_stage=on_stage)
    worst = max(outcome.exit_code for outcome in outcomes)
    if junit is not None:
        from padrewrite.output.junit import suites_for_outcomes, write_junit

        write_junit(junit, suites_for_outcomes(outcomes))
    _echo_lines([render.batch_json(outcomes, worst)] if as_json
                else render.batch_lines(outcomes, verbose=verbose))
    if worst:
        click.echo(render.failed_models_line(outcomes, worst), err=True)
        raise click.exceptions.Exit(worst)


@main.command("verify")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("onnx_file", metavar="ONNX", type=click.Path(path_type=Path))
@_common_options
@_handle_errors
def verify_command(model, onnx_file, junit, as_json, **params):
    """Check that ONNX computes what the Keras MODEL computes (exit 1 if not)."""
    options = _job_options(params)
    _quiet_tensorflow()
    from padrewrite.output import render
    from padrewrite.pipeline import verify_pair

    parity = verify_pair(model, onnx_file, options)
    if junit is not None:
        from padrewrite.output.junit import Suite, cases_for_parity, write_junit

        write_junit(junit, [Suite(str(model), cases_for_parity(parity))])
    _echo_lines([render.parity_json(parity)] if as_json else render.parity_lines(parity))
    if not parity:
        raise VerificationFailed("ONNX parity FAILED.")


def _job_options(params: dict, *, plan: bool = False):
    """The one options value of a command's parameters (`padrewrite.options`);
    those a command does not take keep their defaults."""
    shapes = _parse_input_shapes(params["input_shapes"])
    return JobOptions(
        rewrite=RewriteChoices(
            mode=params.get("mode", "reflect"), constant_value=params.get("value"),
            include=params.get("include", ()), exclude=params.get("exclude", ()),
            rules=params.get("rules", ()), skip_rules=params.get("skip_rules", ()),
            mode_for=params.get("mode_for", ()), causal_mode=params.get("causal_mode"),
            fallback_mode=params.get("fallback_mode"),
        ),
        export=ExportOptions(opset=params.get("opset", DEFAULT_OPSET),
                             hoist=not params.get("no_hoist", False), runtime=params["runtime"]),
        checks=VerifyOptions(
            verify=params.get("verify", False), atol=params["atol"], rtol=params["rtol"],
            samples=params["samples"], input_shapes=shapes, bisect=params["bisect"],
            drift=params.get("drift", False), drift_png=params.get("drift_png"),
        ),
        imports=params["imports"], safe_mode=not params["unsafe"], plan=plan,
    )


def _echo_lines(lines) -> None:
    for line in lines:
        click.echo(line)
