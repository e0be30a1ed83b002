"""Why a rewrite stops: `RewriteError`, and the one-line message naming every refused layer.

A layer call the choices given refuse is carried by its decision as a value
(`ReadsFuture`, `ExceedsLimit`); the walk goes on, so that the report has
every layer, and the rewrite then stops with one message for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from padrewrite.errors import InputError
from padrewrite.modes import limit_phrase

__all__ = [
    "ExceedsLimit", "ReadsFuture", "RewriteError", "mixed_shared_layer", "refusal_message"
]


class RewriteError(InputError):
    """A model the engine cannot rewrite exactly; the message says why and what to do.

    When the walk over the model was complete (layers refused by the choices
    given: pads too large for their mode, causal convolutions that would read
    the future), `report` is the `RewriteReport` with those layers' records
    (action "refused"); otherwise it is None.
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


def mixed_shared_layer(layer) -> RewriteError:
    """The error for a layer called several times, rewritten on some calls only."""
    return RewriteError(
        f"Shared layer '{layer.name}' is rewritten on some calls and not on others, "
        "so one shared copy cannot serve both; exclude it or un-share it."
    )


@dataclass(frozen=True)
class ReadsFuture:
    """A causal convolution at `path` whose `mode` would copy later samples into its left pad."""

    path: str
    mode: str


@dataclass(frozen=True)
class ExceedsLimit:
    """A layer at `path` that pads `pair` on spatial axis `axis` of `size`, more than
    its `mode` can give, with no fallback mode."""

    path: str
    class_name: str
    axis: int
    pair: tuple[int, int]
    size: int
    mode: str

    @property
    def where(self) -> str:
        return f"'{self.path}' ({self.class_name})"

    @property
    def phrase(self) -> str:
        return f"{self.mode} padding must be {limit_phrase(self.mode)}"


def refusal_message(refusals, mode: str, causal_mode: str | None) -> str | None:
    """The one-line error for the refused layer calls `refusals`, or None when there are none.

    `mode` and `causal_mode` are the choices given, as the message receives them.
    """
    future = [r for r in refusals if isinstance(r, ReadsFuture)]
    limits = [r for r in refusals if isinstance(r, ExceedsLimit)]
    parts = []
    if future:
        parts.append(_future_message(future, mode, causal_mode))
    if limits:
        parts.append(_limits_message(limits))
    return " ".join(parts) or None


def _future_message(refused: list[ReadsFuture], mode, causal_mode) -> str:
    paths = ", ".join(f"'{r.path}'" for r in refused)
    modes = sorted({r.mode for r in refused})
    several = len(refused) > 1
    return (
        f"Causal convolution{'s' if several else ''} {paths} would read future "
        f"samples: {'/'.join(modes)} padding on the time axis copies later "
        f"samples into {'their' if several else 'its'} left pad. Choose "
        "`causal_mode` 'replicate' or 'constant' (--causal-mode) to keep "
        f"{'them' if several else 'it'} causal, or 'as-mode' to accept it. "
        f"Received: mode={mode!r}, causal_mode={causal_mode!r}"
    )


def _limits_message(refused: list[ExceedsLimit]) -> str:
    if len(refused) == 1:
        (r,) = refused
        return (
            f"Layer {r.where} needs pads {r.pair} on spatial axis {r.axis}, whose size is "
            f"{r.size}; {r.phrase}. Use `fallback_mode` 'replicate', 'constant' or 'skip' "
            "(--fallback-mode), exclude the layer, use a larger input or mode "
            "'replicate'/'constant'."
        )
    listed = ", ".join(
        f"{r.where} pads {r.pair} on spatial axis {r.axis} of size {r.size}" for r in refused
    )
    phrases = "; ".join(sorted({r.phrase for r in refused}))
    return (
        f"{len(refused)} layers need pads their mode cannot give ({phrases}): {listed}. "
        "Use `fallback_mode` 'replicate', 'constant' or 'skip' (--fallback-mode), exclude "
        "these layers, use a larger input or mode 'replicate'/'constant'."
    )
