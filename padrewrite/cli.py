"""The `padrewrite` command: parse, call the library, render, set the exit code.

Exit codes: 0 success, 1 verification failed, 2 usage or input error.
TensorFlow is imported only once a command runs, never for `--help`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

from padrewrite import __version__
from padrewrite.io import MODEL_SUFFIXES, InputError, check_model_path, check_output_path
from padrewrite.modes import ALIASES, MODES

EXIT_FAILED, EXIT_USAGE = 1, 2
DEFAULT_OPSET = 18
RULE_CHOICES = ("conv-same", "conv-causal", "conv-transpose", "zero-padding", "pooling-same")


class UsageFailure(click.ClickException):
    """An input or usage error: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE


class VerificationFailed(click.ClickException):
    exit_code = EXIT_FAILED


class _DefaultCommandGroup(click.Group):
    """`padrewrite MODEL ...` means `padrewrite rewrite MODEL ...`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names + [
            "--version"
        ]:
            args = ["rewrite", *args]
        return super().parse_args(ctx, args)


def _quiet_tensorflow():
    """Import TensorFlow without its start-up chatter on stderr (replayed on failure)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
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
    """Turn library errors into one-line messages (tracebacks only with --debug)."""

    @functools.wraps(command)
    def wrapper(*args, debug=False, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except (InputError, ValueError) as error:
            if debug:
                traceback.print_exc()
            raise UsageFailure(_one_line(error)) from None
        except Exception as error:  # an unforeseen failure: still one line
            if debug:
                traceback.print_exc()
            raise UsageFailure(
                f"{type(error).__name__}: {_one_line(error)} "
                "(run again with --debug for the traceback)"
            ) from None

    return wrapper


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 600 else text[:597] + "..."


class _Progress:
    """Step messages on stderr when it is a terminal; silent otherwise."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    @contextlib.contextmanager
    def step(self, message: str):
        start = time.perf_counter()
        if self.enabled:
            click.echo(f"{message} ...", err=True)
        yield
        if self.enabled:
            click.echo(f"{message}: done in {time.perf_counter() - start:.1f} s", err=True)


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


_MODE_CHOICES = click.Choice([*MODES, *ALIASES], case_sensitive=False)


def _common_options(function):
    for option in reversed(
        [
            click.option("--atol", type=float, default=1e-4, show_default=True,
                         help="ONNX parity: absolute tolerance."),
            click.option("--rtol", type=float, default=1e-3, show_default=True,
                         help="ONNX parity: relative tolerance."),
            click.option("--samples", type=click.IntRange(min=1), default=3, show_default=True,
                         help="ONNX parity: random samples (plus all-zeros and all-ones)."),
            click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=DIMS",
                         help="Shape for an input with unknown dims, e.g. image=1,256,256,3."),
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
      padrewrite verify MODEL.keras MODEL.onnx

    Run `padrewrite rewrite --help` for every option. Exit codes: 0 success,
    1 verification failed, 2 usage or input error.
    """


@main.command("rewrite")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--mode", type=_MODE_CHOICES, default="reflect", show_default=True,
              help="Padding mode (edge = replicate, wrap = circular, zero = constant 0).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Rewritten model file (.keras or .h5).")
@click.option("--value", type=float, default=None, help="Fill value for --mode constant.")
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path),
              help="Also export the rewritten model to this ONNX file.")
@click.option("--opset", type=click.IntRange(min=13), default=DEFAULT_OPSET, show_default=True,
              help="ONNX opset (19+ gives a native circular Pad).")
@click.option("--no-hoist", is_flag=True,
              help="ONNX: keep each Pad right before its conv (no pad hoisting).")
@click.option("--verify", is_flag=True,
              help="Reload what was written and check it (and the ONNX file).")
@click.option("--plan", is_flag=True, help="Show what would change; write nothing.")
@click.option("--include", multiple=True, metavar="GLOB",
              help="Rewrite only layers whose name or path matches. Repeatable.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Never rewrite layers whose name or path matches. Repeatable.")
@click.option("--rule", "rules", multiple=True, type=click.Choice(RULE_CHOICES),
              help="Enable an opt-in rule (zero-padding, pooling-same). Repeatable.")
@click.option("--skip-rule", "skip_rules", multiple=True, type=click.Choice(RULE_CHOICES),
              help="Disable a rule. Repeatable.")
@_common_options
@_handle_errors
def rewrite_command(model, mode, output, value, onnx_path, opset, no_hoist, verify, plan,
                    include, exclude, rules, skip_rules, atol, rtol, samples, input_shapes,
                    as_json, imports, unsafe):
    """Rewrite MODEL's 'same'/'causal' convolutions to explicit padding + 'valid'."""
    mode = ALIASES.get(mode.lower(), mode.lower())
    if value is not None and mode != "constant":
        raise UsageFailure(
            f"--value is only used with --mode constant (got --mode {mode}); "
            "drop --value or use --mode constant."
        )
    model_path = check_model_path(model)
    if not plan:
        if output is None:
            raise UsageFailure("missing -o/--output (or use --plan to write nothing).")
        output = check_output_path(output, (model_path,), MODEL_SUFFIXES, "model")
        if onnx_path is not None:
            onnx_path = check_output_path(onnx_path, (model_path, output), (".onnx",), "ONNX")
    shapes = _parse_input_shapes(input_shapes)
    progress = _Progress(sys.stderr.isatty() and not as_json)

    _quiet_tensorflow()
    from padrewrite.io import import_modules, load_model

    import_modules(imports)
    with progress.step(f"loading {model_path}"):
        original = load_model(model_path, safe_mode=not unsafe)
    from padrewrite.rewrite import rewrite_model

    with progress.step("rewriting"):
        result = rewrite_model(
            original, mode, value or 0.0, include=include, exclude=exclude,
            rules=rules, skip_rules=skip_rules,
        )
    report = result.report
    document = {"input": str(model_path), "rewrite": report.to_dict()}
    if plan:
        document.update(status="planned", output=None)
        _render(document, as_json, report, plan=True)
        return

    from padrewrite.io import promote, save_model, staged_file

    failed = False
    keras_check = parity = None
    with contextlib.ExitStack() as stack:
        staged_model = stack.enter_context(staged_file(output))
        with progress.step(f"saving {output}"):
            save_model(result.model, staged_model)
        staged_onnx = None
        if onnx_path is not None:
            staged_onnx = stack.enter_context(staged_file(onnx_path))
            from padrewrite.onnx_export import export_onnx

            with progress.step(f"exporting {onnx_path}"):
                export = export_onnx(result.model, staged_onnx, opset=opset, hoist=not no_hoist)
            document["export"] = _relabel(export.to_dict(), staged_onnx, onnx_path)
        if verify:
            document["verify"] = {}
            from padrewrite.keras_check import check_saved_model

            with progress.step(f"verifying {output}"):
                reloaded = load_model(staged_model, safe_mode=not unsafe)
                keras_check = check_saved_model(
                    original, reloaded, output,
                    exact=(mode == "constant" and not value),
                    input_shapes=shapes or None,
                )
            document["verify"]["keras"] = keras_check.to_dict()
            failed |= not keras_check
            if staged_onnx is not None:
                from padrewrite.parity import check_parity

                with progress.step("checking ONNX parity against the saved model"):
                    parity = check_parity(
                        reloaded, staged_onnx, atol=atol, rtol=rtol,
                        samples=samples, input_shapes=shapes or None,
                    )
                document["verify"]["onnx"] = _relabel(parity.to_dict(), staged_onnx, onnx_path)
                failed |= not parity
        if not failed:
            promote(staged_model, output)
            if staged_onnx is not None:
                promote(staged_onnx, onnx_path)
    document.update(
        status="failed" if failed else "passed" if verify else "written",
        output=None if failed else str(output),
        onnx=None if failed or onnx_path is None else str(onnx_path),
    )
    _render(document, as_json, report, plan=False, checks=(keras_check, parity))
    if failed:
        raise VerificationFailed("verification FAILED; nothing was written.")


@main.command("verify")
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("onnx_file", metavar="ONNX", type=click.Path(path_type=Path))
@_common_options
@_handle_errors
def verify_command(model, onnx_file, atol, rtol, samples, input_shapes, as_json, imports, unsafe):
    """Check that ONNX computes what the Keras MODEL computes (exit 1 if not)."""
    model_path = check_model_path(model)
    onnx_file = Path(onnx_file)
    if not onnx_file.is_file():
        raise UsageFailure(f"{onnx_file}: no such file; give the ONNX file to check.")
    shapes = _parse_input_shapes(input_shapes)
    _quiet_tensorflow()
    from padrewrite.io import import_modules, load_model
    from padrewrite.parity import check_parity

    import_modules(imports)
    keras_model = load_model(model_path, safe_mode=not unsafe)
    parity = check_parity(
        keras_model, onnx_file, atol=atol, rtol=rtol, samples=samples,
        input_shapes=shapes or None,
    )
    if as_json:
        click.echo(json.dumps({"status": "passed" if parity else "failed",
                               "onnx": parity.to_dict()}, indent=2))
    else:
        for line in _parity_lines(parity):
            click.echo(line)
    if not parity:
        raise VerificationFailed("ONNX parity FAILED.")


def _relabel(data: dict, staged: Path, target: Path) -> dict:
    """Report the final path, not the temporary one it was written to."""
    text = json.dumps(data, default=str).replace(str(staged), str(target))
    return json.loads(text)


def _parity_lines(parity) -> list[str]:
    from padrewrite.parity import render_parity

    return render_parity(parity)


def _render(document: dict, as_json: bool, report, *, plan: bool, checks=()):
    if as_json:
        click.echo(json.dumps(document, indent=2, default=str))
        return
    from padrewrite.report import render_table

    for line in render_table(report):
        click.echo(line)
    click.echo(report.summary())
    if not report.rewritten:
        note = "nothing to rewrite: no layer needs explicit padding"
        if not plan:
            note += "; the model is written unchanged"
        click.echo(note)
    if plan:
        click.echo("plan only: nothing written")
        return
    for check in checks:
        if check is not None:
            lines = check.lines() if hasattr(check, "lines") else _parity_lines(check)
            for line in lines:
                click.echo(line)
    if document.get("output"):
        click.echo(f"wrote {document['output']}")
    if document.get("onnx"):
        export = document.get("export", {})
        click.echo(f"wrote {document['onnx']}" + _export_note(export))
        if export.get("pads_hoisted"):
            before = export["padded_elements_before"]
            after = export["padded_elements_after"]
            line = (
                f"hoisted {export['pads_hoisted']} pad(s) above per-position ops "
                "(1x1 convs, activations)"
            )
            if before is not None:
                line += f": padded elements {before:,} -> {after:,} per sample"
            click.echo(line)


def _export_note(export: dict) -> str:
    if not export:
        return ""
    parts = [f"opset {export.get('opset')}"]
    pads = export.get("node_counts", {}).get("Pad", 0)
    if pads:
        parts.append(f"{pads} Pad")
    sliced = sum(
        1 for lowering in export.get("lowerings", []) if lowering.get("lowered_to") == "Slice+Concat"
    )
    if sliced:
        parts.append(f"{sliced} pads as Slice+Concat")
    return " (" + "; ".join(parts) + ")"
