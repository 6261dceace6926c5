"""Write a file so that a power cut leaves the old content or the new, never a torn mix: write a
temporary file beside it, fsync, rename over, fsync the directory.

A power cut (or kill -9) between the temporary file's creation and the rename leaves that
temporary file behind; the next write of the same file removes such leftovers once they are
older than ``LEFTOVER_AGE_S`` (a younger one may be another writer's, mid-write)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

LEFTOVER_AGE_S = 60.0
SUFFIX = ".tmp"


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` (secrets: 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_leftovers(path: Path, *, older_than_s: float = LEFTOVER_AGE_S) -> int:
    """Remove temporary files an interrupted ``write_atomic(path, ...)`` left; returns how many."""
    removed = 0
    cutoff = time.time() - older_than_s
    for leftover in path.parent.glob(f".{path.name}.*{SUFFIX}"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
                removed += 1
    return removed
