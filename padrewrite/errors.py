"""Which failures are the user's to fix, and which are padrewrite's own bugs (no Keras).

`InputError` (and its subclasses in the library, such as `RewriteError`) means
the input or the options are wrong or unsupported and the message says what to
do: the command exits 2. `VerificationFailed` is a check that did not pass:
exit 1. Anything else is unanticipated — a bug, exit 3 — and is never
presented as the user's mistake.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


class InputError(ValueError):
    """A problem with the user's input or options: one line saying what and what to do."""


class InternalError(RuntimeError):
    """An exception padrewrite did not anticipate, with the user's paths in its message."""

    def __init__(self, error: BaseException, message: str):
        super().__init__(message)
        self.error = error


def one_line(text: str, limit: int = 600) -> str:
    """`text` on one line, cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bug_message(error: BaseException, message: str | None = None) -> str:
    """The one-line message for an unanticipated exception."""
    detail = one_line(message if message is not None else str(error), 400)
    return (
        f"padrewrite failed unexpectedly: {type(error).__name__}: {detail} "
        "— this is a bug; --debug shows the traceback."
    )
