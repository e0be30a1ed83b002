"""Helpers the tests share: the command line in this process, Python in a fresh one."""

import os
import subprocess
import sys

from click.testing import CliRunner

from padrewrite.cli import main

#: This directory: the tests' own modules (corpus, handwritten, test modules) import from it.
TESTS = os.path.dirname(os.path.abspath(__file__))


def run(*args):
    """`padrewrite ARGS...` in this process; the Click result (exit_code, output)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def fresh_python(code, *, tests_importable=True, cwd=None, timeout=300):
    """Run `code` in a new Python process, as a user's script would.

    With `tests_importable` the tests' modules can be imported (a user's own
    layers); without, nothing but the installed packages can.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if tests_importable:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (TESTS, os.environ.get("PYTHONPATH")) if p
        )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd,
        timeout=timeout,
    )
