"""Event-camera datasets as frame sequences ``[T, 2, H, W]``: N-MNIST, CIFAR10-DVS and DVS Gesture
through tonic's dataset classes and readers, from files already on disk.

tonic downloads whatever it does not find; the zoo's subclasses never do: they check the layout
and raise :class:`~zoo.errors.DatasetNotFoundError` saying where the files go. Frames are integrated
by :func:`zoo.data.frames.events_to_frames` (every event counted once) and cached on disk under a
key made of every parameter that shapes them.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..atomic import atomic_open
from ..errors import DatasetNotFoundError
from .frames import SPLITS, events_to_frames
from .static import data_cache

FRAMES_VERSION = 1  # bump when the integration changes, so old caches are not reused
CIFAR10DVS_SPLIT = {"train_fraction": 0.9, "seed": 0}  # no official split: per class, seeded


def _tonic():
    try:
        import tonic
    except ImportError:  # pragma: no cover - tonic is a dependency
        raise ImportError("event datasets need tonic: pip install 'tonic>=1.6,<2'") from None
    return tonic


def _local(tonic_class, layout: str, label: str, count_suffix: str):
    """A subclass of a tonic dataset that never downloads; named like its parent, because tonic
    derives the dataset folder (``root/<ClassName>``) from the class name."""

    def _check_exists(self) -> bool:
        folder = Path(self.location_on_system, self.folder_name)
        return folder.is_dir() and next(folder.glob(f"**/*{count_suffix}"), None) is not None

    def download(self) -> None:
        raise DatasetNotFoundError(
            f"{label} not found under {Path(self.location_on_system).parent}: expected {layout} "
            f"(the zoo never downloads; unpack the official archives there)")

    return type(tonic_class.__name__, (tonic_class,), {"_check_exists": _check_exists, "download": download})


def _readers() -> dict:
    tonic = _tonic()
    datasets = tonic.datasets
    return {
        "nmnist": _local(datasets.NMNIST, "NMNIST/Train/<digit>/*.bin and NMNIST/Test/<digit>/*.bin",
                         "N-MNIST", ".bin"),
        "dvsgesture": _local(datasets.DVSGesture, "DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy "
                             "and DVSGesture/ibmGestureTest/... (tonic's preprocessed release)",
                             "DVS Gesture", ".npy"),
        "cifar10dvs": _local(datasets.CIFAR10DVS, "CIFAR10DVS/<class>/*.aedat4 (tonic's release, one "
                             "folder per class: airplane, automobile, ...)", "CIFAR10-DVS", ".aedat4"),
    }


def per_class_split(targets: list[int], train_fraction: float, seed: int, split: str) -> list[int]:
    """Indices of ``split`` in a fixed, seeded split within every class (the first
    ``round(n * train_fraction)`` of a seeded permutation of each class go to training)."""
    generator = np.random.default_rng(seed)
    chosen = []
    targets = np.asarray(targets)
    for label in np.unique(targets):
        members = np.flatnonzero(targets == label)
        members = members[generator.permutation(len(members))]
        n_train = int(round(len(members) * train_fraction))
        chosen += (members[:n_train] if split == "train" else members[n_train:]).tolist()
    return sorted(chosen)


class EventFrames(Dataset):
    """Samples of a tonic dataset as ``(frames [T, P, H, W] float32, label)``, cached on disk."""

    def __init__(self, source, indices: list[int], name: str, classes: list[str], sensor_size: tuple,
                 T: int, split_by: str = "number", denoise_us: int | None = None, cache: bool = True,
                 cache_dir: str | Path | None = None):
        if split_by not in SPLITS:
            raise ValueError(f"split_by must be one of {', '.join(SPLITS)}, got {split_by!r}")
        if T < 1:
            raise ValueError(f"T must be a positive number of frames, got {T}")
        self.source = source
        self.indices = list(indices)
        self.name = name
        self.classes = list(classes)
        self.sensor_size = tuple(int(v) for v in sensor_size)
        self.T, self.split_by, self.denoise_us = T, split_by, denoise_us
        self.targets = [int(source.targets[i]) for i in self.indices]
        params = {"dataset": name, "sensor_size": self.sensor_size, "T": T, "split_by": split_by,
                  "denoise_us": denoise_us, "version": FRAMES_VERSION}
        self.cache_key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        base = Path(cache_dir) if cache_dir else data_cache() / "event_frames"
        self.cache_dir = base / name / self.cache_key if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def _cache_path(self, path: str) -> Path:
        stat = os.stat(path)
        ident = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
        return self.cache_dir / f"{hashlib.sha1(ident.encode()).hexdigest()[:20]}.npy"

    def frames(self, index: int) -> np.ndarray:
        position = self.indices[index]
        path = self.source.data[position]
        cached = self._cache_path(path) if self.cache_dir else None
        if cached is not None and cached.is_file():
            return np.load(cached)
        try:
            events, _ = self.source[position]
        except Exception as error:  # readers fail in many ways on damaged files; name the file
            raise ValueError(f"{path}: unreadable {self.name} event file ({type(error).__name__}: {error})") from None
        if self.denoise_us:
            events = _tonic().transforms.Denoise(filter_time=self.denoise_us)(events)
        frames = events_to_frames(events, self.sensor_size, self.T, self.split_by, source=str(path))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(cached) as handle:
                np.save(handle, frames)
        return frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.frames(index)), self.targets[index]

    def __repr__(self) -> str:
        return (f"{self.name}: {len(self)} samples as [{self.T}, {self.sensor_size[2]}, {self.sensor_size[1]}, "
                f"{self.sensor_size[0]}] frames (split_by={self.split_by}, denoise_us={self.denoise_us})")


def _root(root, label: str) -> str:
    if root is None:
        raise DatasetNotFoundError(f"{label} not found: pass root= the folder that holds it (the zoo never downloads)")
    if not Path(root).is_dir():
        raise DatasetNotFoundError(f"{label} not found: {root} is not a folder")
    return str(root)


def nmnist(root=None, split: str = "train", T: int = 10, split_by: str = "number",
           denoise_us: int | None = None, cache: bool = True) -> EventFrames:
    """N-MNIST (Orchard et al. 2015): 34x34 sensor, two polarities, official train/test folders."""
    reader = _readers()["nmnist"](_root(root, "N-MNIST"), train=split == "train")
    classes = [str(digit) for digit in range(10)]
    return EventFrames(reader, range(len(reader)), "nmnist", classes, reader.sensor_size, T, split_by,
                       denoise_us, cache)


def dvsgesture(root=None, split: str = "train", T: int = 16, split_by: str = "number",
               denoise_us: int | None = None, cache: bool = True) -> EventFrames:
    """DVS Gesture (Amir et al. 2017), tonic's preprocessed release: 128x128, 11 classes."""
    reader = _readers()["dvsgesture"](_root(root, "DVS Gesture"), train=split == "train")
    return EventFrames(reader, range(len(reader)), "dvsgesture", list(reader.classes), reader.sensor_size,
                       T, split_by, denoise_us, cache)


def cifar10dvs(root=None, split: str = "train", T: int = 16, split_by: str = "number",
               denoise_us: int | None = None, cache: bool = True) -> EventFrames:
    """CIFAR10-DVS (Li et al. 2017): 128x128, 10 classes, the zoo's seeded 90/10 split per class."""
    reader = _readers()["cifar10dvs"](_root(root, "CIFAR10-DVS"))
    if len(reader) == 0:
        raise DatasetNotFoundError(f"CIFAR10-DVS under {root} has no .aedat4 files in class folders")
    indices = per_class_split(reader.targets, CIFAR10DVS_SPLIT["train_fraction"], CIFAR10DVS_SPLIT["seed"], split)
    classes = sorted(reader.classes, key=reader.classes.get)
    return EventFrames(reader, indices, "cifar10dvs", classes, reader.sensor_size, T, split_by, denoise_us, cache)
