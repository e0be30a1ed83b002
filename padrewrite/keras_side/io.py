"""Reading and writing model files: clear errors (atomic writes: `padrewrite.atomic`).

Path checks need no Keras, so the command line can refuse bad paths before
TensorFlow starts.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import zipfile
from pathlib import Path

from padrewrite.errors import InputError, one_line
from padrewrite.keras_side.lambdas import lambda_globals_scope

MODEL_SUFFIXES = (".keras", ".h5")


def check_model_path(path: str | os.PathLike) -> Path:
    """The input model path, if it names a readable `.keras`/`.h5` file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path of the model to read.")
    if path.is_dir():
        raise InputError(
            f"{path}: is a directory; give a .keras or .h5 model file (SavedModel "
            "directories are not supported: load and save them as .keras first)."
        )
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
            "give a .keras or .h5 model file."
        )
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable; check its permissions.")
    return path


def check_output_path(
    path: str | os.PathLike, inputs: tuple[Path, ...], suffixes: tuple[str, ...], what: str
) -> Path:
    """An output path in an existing writable directory, never one of `inputs`."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"{path}: unsupported {what} file type {path.suffix or '(none)'!r}; "
            f"use {' or '.join(suffixes)}."
        )
    for source in inputs:
        if path.resolve() == source.resolve() or (
            path.exists() and os.path.samefile(path, source)
        ):
            raise InputError(
                f"{path}: the {what} output would overwrite the input; choose another path."
            )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(
            f"{path}: directory {directory} does not exist; create it first."
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{path}: directory {directory} is not writable.")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name.")
    return path


def import_modules(names: tuple[str, ...]) -> None:
    """Import user modules that register custom layers."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            raise InputError(
                f"cannot import module {name!r} ({type(error).__name__}: {error}); "
                "check the name and that it is on PYTHONPATH."
            ) from error


_UNKNOWN_CLASS = re.compile(r"Could not locate (?:class|function) '([^']+)'")


def load_model(path: str | os.PathLike, *, safe_mode: bool = True, notes: list | None = None):
    """Load a `.keras` or `.h5` model, turning Keras' errors into one clear line.

    tf.keras 2 `.h5` files with legacy config keys are loaded through
    `padrewrite.keras_side.legacy_h5`; what was translated is appended to `notes`.
    Without `safe_mode`, the Python lambdas of Lambda layers may use `tf`,
    `np` and `keras` (`padrewrite.keras_side.lambdas`).
    """
    import keras

    import padrewrite.layers  # noqa: F401  (registers the padding layers)

    path = check_model_path(path)
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):
        raise InputError(
            f"{path}: not a valid .keras file (not a zip archive: corrupt or "
            "truncated?); re-save the model with model.save()."
        )
    # Outside safe mode, saved Python lambdas see tf, np and keras, as in tf.keras 2.
    scope = contextlib.nullcontext() if safe_mode else lambda_globals_scope()
    with scope:
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
        except Exception as error:
            model = _load_legacy_h5(path, error, safe_mode, notes)
            if model is None:
                raise InputError(_explain_load_error(path, error)) from error
            return model


def _load_legacy_h5(path: Path, error: Exception, safe_mode: bool, notes):
    """A tf.keras 2 `.h5` model Keras 3 refused for its legacy keys, or None."""
    if path.suffix.lower() != ".h5" or "Unrecognized keyword arguments" not in str(error):
        return None
    from padrewrite.keras_side.legacy_h5 import load_translated

    try:
        model, changes = load_translated(path, safe_mode=safe_mode)
    except Exception:  # the translation did not help: report the original error
        return None
    if model is not None and notes is not None:
        notes.append(
            f"{path}: tf.keras 2 file; legacy config keys Keras 3 refuses were "
            f"dropped (no-op values): {'; '.join(changes)}"
        )
    return model


def _explain_load_error(path: Path, error: Exception) -> str:
    text = str(error)
    if "Lambda" in text and ("safe_mode" in text or "unsafe" in text):
        return (
            f"{path}: the model has a Lambda layer, whose Python code would run on "
            "loading; pass --unsafe if you trust this file."
        )
    if "safe_mode" in text or "unsafe_deserialization" in text:
        return (
            f"{path}: the model holds Python code that safe loading refuses; "
            "pass --unsafe if you trust this file."
        )
    if "infer the shape of the Lambda" in text:
        return (
            f"{path}: a Lambda layer cannot be rebuilt: its saved Python function fails "
            f"when Keras calls it ({load_error_cause(error)}). A saved lambda sees no names "
            "of the module that defined it; with --unsafe padrewrite gives it tf, np and "
            "keras only. Load the model where its names are defined and pass it to "
            "padrewrite.rewrite_model, or rebuild the Lambda with a named, registered function."
        )
    unknown = _UNKNOWN_CLASS.search(text)
    if unknown:
        name = unknown.group(1)
        registered = re.search(rf"'registered_name': '([^']+>{re.escape(name)})'", text)
        what = f"'{name}'"
        if registered:
            what += f" (registered as '{registered.group(1)}')"
        return (
            f"{path}: the model uses {what}, which is not registered "
            "in this process; pass --import MODULE naming the module that defines "
            "it (with @keras.saving.register_keras_serializable)."
        )
    if isinstance(error, (zipfile.BadZipFile, EOFError)) or "zip" in text.lower():
        return f"{path}: corrupt or truncated model file; re-save the model."
    if path.suffix.lower() == ".h5" and ("HDF5" in text or "signature" in text):
        return f"{path}: not a valid HDF5 model file (corrupt or truncated?)."
    return f"{path}: cannot load the model: {load_error_cause(error)}"


_FAILED_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'> could not be deserialized")
_CAUSE_MARKER = "Exception encountered:"
_CALL_ERROR = re.compile(
    r"Exception encountered when calling ([\w.]+\(\))\.\s*(.*?)\s*(?:Arguments received by|$)",
    re.DOTALL,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def load_error_cause(error: Exception) -> str:
    """The useful part of a Keras loading error, on one line.

    Keras ends its deserialization errors with the cause ("Exception
    encountered: Unrecognized keyword arguments passed to Conv2D: ...") after
    a long config dump; keep the failing class and the cause, not the dump.
    """
    text = _ANSI.sub("", str(error))
    failing = _FAILED_CLASS.findall(text)
    call = _CALL_ERROR.search(text)
    if call:
        # "Exception encountered when calling X.call(). <cause> Arguments received by ..."
        cause = f"{call.group(1)}: {call.group(2)}"
    elif _CAUSE_MARKER in text:
        cause = text.rsplit(_CAUSE_MARKER, 1)[1]
    else:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        cause = lines[-1] if lines else ""
    cause = one_line(cause, 400) or type(error).__name__
    prefix = f"class '{failing[-1]}' could not be rebuilt: " if failing else ""
    return f"{prefix}{type(error).__name__}: {cause}"


def save_model(model, path: Path) -> None:
    """Save with Keras to `path` (format from the suffix)."""
    model.save(path)
