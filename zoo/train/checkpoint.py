"""Atomic checkpoints: written to a temporary file, flushed, then renamed over the old one, so a
kill at any moment leaves the last complete checkpoint (and the one before it) readable."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..errors import ZooError


def save_atomic(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.replace(path, path.with_suffix(".prev.pt"))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: Path) -> dict:
    """Load ``path``; if it is damaged, fall back to the previous checkpoint beside it."""
    errors = []
    for candidate in (path, path.with_suffix(".prev.pt")):
        if not candidate.is_file():
            continue
        try:
            return torch.load(candidate, map_location="cpu", weights_only=True)
        except Exception as error:  # a torn or corrupt file: try the previous one
            errors.append(f"{candidate.name}: {error}")
    detail = "; ".join(errors) if errors else "no checkpoint file"
    raise ZooError(f"no usable checkpoint at {path} ({detail})")
