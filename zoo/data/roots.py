"""Where a dataset without a system package is found: the ``root`` a user passes (``--root`` on the
command line), else ``$ZOO_DATASETS/<name>`` (one folder per dataset, named as in ``load_dataset``).
One rule for MNIST, CIFAR-10, ImageNet and the event datasets, so a user sets one variable once."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import DatasetNotFoundError
from .copies import DatasetCopy

DATASETS_VARIABLE = "ZOO_DATASETS"


def resolve_root(name: str, root: str | Path | None, label: str, layout: str) -> Path:
    """``root`` if given, else ``$ZOO_DATASETS/<name>``; a missing folder is one line saying where the
    dataset goes (``layout`` is what the folder must hold)."""
    if root is not None:
        return Path(root)
    base = os.environ.get(DATASETS_VARIABLE)
    if base and (Path(base) / name).is_dir():
        return Path(base) / name
    where = (f"{Path(base) / name} does not exist" if base else f"${DATASETS_VARIABLE} is not set")
    raise DatasetNotFoundError(f"{label} not found ({where}): put {layout} in a folder and pass --root DIR "
                               f"(root= in Python), or set {DATASETS_VARIABLE} to a folder holding {name}/; "
                               f"the zoo never downloads")


def describe_source(root: str | Path | None, files: list[Path], copy: DatasetCopy | None = None) -> dict:
    """Where a dataset's files came from, for a card: the folder, the sha256 of each file named (the
    test files are enough to tell two copies apart) and, for a known copy that is not the official data,
    what it is and the archive it was built from."""
    record: dict = {"root": str(Path(root).resolve()) if root is not None else None}
    if copy is not None:
        record["copy"] = copy.record()
    digests = {}
    for path in files:
        if path.is_file():
            digests[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    if digests:
        record["sha256"] = digests
    return record
