"""Atomic writes: a temporary file beside the target, flushed to disk, renamed over it.

A reader of the target sees the old file or the whole new one, never part of
one; a write that fails leaves the target as it was and no temporary file
behind. The temporary file sits in the target's directory (a rename is atomic
only within one file system), is hidden (`.NAME.xxxx.tmp.SUFFIX`) and keeps
the target's suffix, which some writers read the format from (Keras, matplotlib).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "promote", "staged_path", "write_bytes_atomically"]


@contextlib.contextmanager
def staged_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an unused temporary path beside `target`, for a writer to create.

    Nothing is moved into place here: `promote` does that once the caller
    decides the file is good (the file job keeps its files until every check
    passed). Whatever is still at the temporary path when the block ends is
    removed.
    """
    target = Path(target)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(handle)
    # The name is reserved by its randomness; the writer creates the file itself.
    os.unlink(temporary)
    temporary = Path(temporary)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def promote(temporary: str | os.PathLike, target: str | os.PathLike) -> None:
    """Flush the finished file at `temporary` to disk and rename it to `target`."""
    descriptor = os.open(temporary, os.O_RDWR)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, target)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; when the block succeeds, the file
    written there replaces `target` (`promote`), else it is removed."""
    with staged_path(target) as temporary:
        yield temporary
        promote(temporary, target)


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as temporary, open(temporary, "xb") as stream:
        stream.write(data)
