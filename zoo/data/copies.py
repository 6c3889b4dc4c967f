"""Known copies of public datasets that are not the official files, told apart by their pixels.

A number measured on such a copy is comparable with a paper's only when it says so. The loader
recognises the copy from a digest of its pixels (not of its files, which any re-pickling changes), and
cards, the status table and ``zoo eval`` then name it, e.g. "cifar10 (JPEG copy)".
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class DatasetCopy:
    """A copy of a dataset whose pixels differ from the official ones."""

    label: str  # how tables and cards name it beside the dataset, e.g. "JPEG copy"
    archive: str  # the file the copy was built from
    archive_sha256: str
    differs: str  # how it differs from the official data, for the card

    def record(self) -> dict:
        return asdict(self)


CIFAR10_JPEG = DatasetCopy(
    label="JPEG copy", archive="cifar10-jpeg.tar.gz",
    archive_sha256="3af070df2aeb546c5809335722e9486580e2cbee192c1910ccd5c651da230422",
    differs="every image stored as a 32x32 JPEG and decoded: pixels differ from the official ones by about 6 "
            "of 255 on average; labels and order are the official ones")

KNOWN_COPIES: dict[tuple[str, str], DatasetCopy] = {  # (dataset, pixel digest of a split) -> copy
    ("cifar10", "9115d5a7696dee93e2aabc01a3f10655df99afb5b598b44989efbc293b675186"): CIFAR10_JPEG,  # train
    ("cifar10", "589369e80474d3300d71f4a543dbbe1c4e39d02490c1da2914ce88a84b5a8588"): CIFAR10_JPEG,  # test
}


def with_copy(name: str, copy: DatasetCopy | dict | None) -> str:
    """``name``, and the copy's label where the data is a known copy (``copy``: the copy or a card's record
    of it): "cifar10 (JPEG copy)"."""
    label = copy.label if isinstance(copy, DatasetCopy) else (copy or {}).get("label")
    return f"{name} ({label})" if label else name


def source_label(name: str, source: dict | None) -> str:
    """:func:`with_copy` from a card's (or an ``also_measured`` record's) ``data_source``."""
    return with_copy(name, (source or {}).get("copy"))


def pixel_digest(images: np.ndarray) -> str:
    """sha256 of ``[N, H, W, C]`` uint8 images laid out as CIFAR's batches hold them (``[N, C*H*W]``)."""
    rows = np.ascontiguousarray(np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2)).reshape(len(images), -1)
    return hashlib.sha256(rows.tobytes()).hexdigest()


def identify_copy(dataset: str, images: np.ndarray) -> DatasetCopy | None:
    """The known copy these images are, or None (the official data, or a copy the zoo does not know)."""
    return KNOWN_COPIES.get((dataset, pixel_digest(images)))
