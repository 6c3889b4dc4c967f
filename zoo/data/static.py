"""Static image datasets through torchvision's own readers, offline only.

Fashion-MNIST comes from the Debian package ``dataset-fashion-mnist`` (gzipped IDX files under
``/usr/share/datasets/fashion-mnist``), unpacked once into the zoo's data cache in torchvision's
layout, or from any torchvision-layout root. CIFAR-10 and MNIST come from torchvision-layout roots.
Nothing is ever downloaded.
"""
from __future__ import annotations

import gzip
import math
import os
import shutil
import struct
from pathlib import Path

import torch
import torchvision
from torch.utils.data import Dataset

from ..atomic import atomic_open
from ..errors import DatasetNotFoundError, first_sentence
from .copies import DatasetCopy, identify_copy, with_copy
from .roots import resolve_root

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def data_cache() -> Path:
    """Where the zoo unpacks data: ``$ZOO_DATA`` or ``~/.cache/zoo/data``."""
    return Path(os.environ.get("ZOO_DATA", Path.home() / ".cache" / "zoo" / "data"))


class ImageTensorDataset(Dataset):
    """Images ``[N, H, W]`` or ``[N, H, W, C]`` as uint8 plus labels; yields ``([C, H, W] float in
    [0, 1], label)``. Keeps the whole set as one tensor so batches are cheap on a small CPU."""

    def __init__(self, images: torch.Tensor, targets, classes: list[str], name: str):
        images = torch.as_tensor(images)
        if images.dim() == 3:
            images = images.unsqueeze(-1)
        self.images = images.permute(0, 3, 1, 2).contiguous()
        self.targets = torch.as_tensor(targets, dtype=torch.long)
        self.classes = list(classes)
        self.name = name
        self.source_files: list[Path] = []  # files whose hashes a card records as the data's source
        self.source_root: Path | None = None  # the folder they were read from
        self.copy: DatasetCopy | None = None  # a known copy that is not the official data (its pixels differ)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(255.0), int(self.targets[index])

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        images = self.images[indices].float().div_(255.0)
        return list(zip(images, self.targets[indices].tolist()))

    def __repr__(self) -> str:
        return f"{self.name}: {len(self)} images of shape {tuple(self.images.shape[1:])}"


def _unpack_debian_fashion_mnist(source: Path, root: Path) -> None:
    """Decompress the Debian package's ``.gz`` files into ``root/FashionMNIST/raw`` atomically."""
    raw = root / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in IDX_FILES):
        return
    raw.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        if (raw / name).is_file():
            continue
        with gzip.open(source / f"{name}.gz", "rb") as src, atomic_open(raw / name) as dst:
            shutil.copyfileobj(src, dst)


def check_idx_files(raw: Path, label: str) -> None:
    """Each IDX file present and as long as its header says (magic 0x0000 08 <ndim>, big-endian sizes),
    so a missing or truncated file is one line naming it rather than a reader's traceback."""
    counts = {}
    for name in IDX_FILES:
        path = raw / name
        if not path.is_file():
            raise DatasetNotFoundError(f"{label}: {path} is missing (torchvision's layout needs "
                                       f"{', '.join(IDX_FILES)} in {raw})")
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(4)
            ndim = head[3] if len(head) == 4 else 0
            dims = handle.read(4 * ndim)
        if len(head) < 4 or head[:3] != b"\x00\x00\x08" or ndim == 0 or len(dims) < 4 * ndim:
            raise DatasetNotFoundError(f"{label}: {path} is not an IDX file of unsigned bytes")
        shape = struct.unpack(f">{ndim}I", dims)
        expected = 4 + 4 * ndim + math.prod(shape)
        if size != expected:
            raise DatasetNotFoundError(f"{label}: {path} is truncated or padded ({size:,} bytes, its header "
                                       f"says {expected:,})")
        counts[name] = shape[0]
    for prefix in ("train", "t10k"):
        images, labels = counts[f"{prefix}-images-idx3-ubyte"], counts[f"{prefix}-labels-idx1-ubyte"]
        if images != labels:
            raise DatasetNotFoundError(f"{label}: {raw}/{prefix}-images-idx3-ubyte holds {images:,} images but "
                                       f"{prefix}-labels-idx1-ubyte {labels:,} labels")


def _mnist_like(cls, folder: str, label: str, root: Path, train: bool) -> ImageTensorDataset:
    root = Path(root)
    raw = root / folder / "raw"
    if not raw.is_dir():
        raise DatasetNotFoundError(f"{label} not found under {root}: expected torchvision's layout "
                                   f"{raw}/{{{', '.join(IDX_FILES)}}}")
    check_idx_files(raw, label)
    ds = cls(str(root), train=train, download=False)
    dataset = ImageTensorDataset(ds.data, ds.targets, ds.classes, label)
    dataset.source_files = [raw / name for name in IDX_FILES[2:]]  # the test files identify the copy
    dataset.source_root = root
    return dataset


def fashion_mnist(root: str | Path | None = None, split: str = "train") -> ImageTensorDataset:
    """Fashion-MNIST from ``root``, else from the Debian package (unpacked once into the data cache)."""
    if root is None:
        if not (DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
            raise DatasetNotFoundError("Fashion-MNIST not found: install the Debian package (apt-get install "
                                       "dataset-fashion-mnist) or pass --root DIR (root= in Python), a folder "
                                       "with FashionMNIST/raw/ in torchvision's layout")
        root = data_cache()
        _unpack_debian_fashion_mnist(DEBIAN_FASHION_MNIST, root)
    return _mnist_like(torchvision.datasets.FashionMNIST, "FashionMNIST", "Fashion-MNIST", root, split == "train")


def mnist(root: str | Path | None = None, split: str = "train") -> ImageTensorDataset:
    """MNIST from ``root`` or ``$ZOO_DATASETS/mnist`` (torchvision's layout: ``MNIST/raw/``)."""
    root = resolve_root("mnist", root, "MNIST", f"MNIST/raw/{{{', '.join(IDX_FILES)}}}")
    return _mnist_like(torchvision.datasets.MNIST, "MNIST", "MNIST", root, split == "train")


class _LocalCIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR-10 reader without the md5 check of the official archive's files, so
    any root in the same pickle-batch layout loads; unreadable batches still fail when read."""

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        files = [name for name, _ in self.train_list + self.test_list] + [self.meta["filename"]]
        return all((folder / name).is_file() for name in files)

    def _load_meta(self) -> None:
        import pickle

        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as handle:
            self.classes = pickle.load(handle, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def cifar10(root: str | Path | None = None, split: str = "train") -> ImageTensorDataset:
    """CIFAR-10 from ``root`` or ``$ZOO_DATASETS/cifar10`` (the official python archive, unpacked). A known
    copy that is not the official pixels (:mod:`zoo.data.copies`) is recognised and named."""
    layout = "cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}"
    root = resolve_root("cifar10", root, "CIFAR-10", layout)
    folder = Path(root) / _LocalCIFAR10.base_folder
    if not folder.is_dir():
        raise DatasetNotFoundError(f"CIFAR-10 not found under {root}: expected {layout}")
    names = [name for name, _ in _LocalCIFAR10.train_list + _LocalCIFAR10.test_list] + ["batches.meta"]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DatasetNotFoundError(f"CIFAR-10 under {root} is incomplete: {folder} lacks {', '.join(missing)}")
    try:
        ds = _LocalCIFAR10(str(root), train=split == "train", download=False)
    except Exception as error:
        batches = [name for name, _ in (_LocalCIFAR10.train_list if split == "train" else _LocalCIFAR10.test_list)]
        faults = ((name, _cifar_file_fault(folder / name)) for name in ["batches.meta", *batches])
        name, reason = next(((name, reason) for name, reason in faults if reason), (None, None))
        if name is None:
            raise DatasetNotFoundError(f"CIFAR-10 under {root} is unreadable: {first_sentence(error)}") from None
        raise DatasetNotFoundError(f"CIFAR-10 under {root} is unreadable: {folder / name} is not CIFAR's pickled "
                                   f"layout ({reason})") from None
    dataset = ImageTensorDataset(torch.from_numpy(ds.data), ds.targets, ds.classes, "CIFAR-10")
    dataset.source_root = Path(root)
    dataset.source_files = [folder / name for name, _ in _LocalCIFAR10.test_list]
    dataset.copy = identify_copy("cifar10", ds.data)
    dataset.name = with_copy("CIFAR-10", dataset.copy)
    return dataset


def _cifar_file_fault(path: Path) -> str | None:
    """Why ``path`` is not a CIFAR file (a batch: a pickled dict of ``data`` [N, 3072] uint8 rows and N
    ``labels``; ``batches.meta``: a dict with ``label_names``), or None if it is one."""
    import pickle

    import numpy as np

    try:
        with open(path, "rb") as handle:
            content = pickle.load(handle, encoding="latin1")
    except Exception as error:
        return first_sentence(error)
    if not isinstance(content, dict):
        return f"holds a {type(content).__name__}, not a dict"
    needed = ("label_names",) if path.name == "batches.meta" else ("data", "labels")
    missing = [key for key in needed if key not in content]
    if missing:
        return f"no {' or '.join(repr(k) for k in missing)} entry"
    if path.name == "batches.meta":
        return None
    data = np.asarray(content["data"])
    if data.ndim != 2 or data.shape[1] != 3072:
        return f"'data' has shape {tuple(data.shape)}, not [N, 3072] (3x32x32 pixels a row)"
    if len(content["labels"]) != len(data):
        return f"{len(data)} images but {len(content['labels'])} labels"
    return None
