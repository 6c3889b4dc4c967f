"""Atomic file writes: a temporary file beside the target, fsynced, then renamed over it, so a
reader (or a process killed mid-write) sees either the old file or the whole new one."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_open(path: str | Path, keep_previous: str | Path | None = None,
                mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a binary handle whose content replaces ``path`` only once the block completes.

    With ``keep_previous`` the file being replaced is moved there first, so the last two complete
    versions always exist."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files private; these are meant to be read
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
