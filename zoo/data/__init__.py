"""Datasets by name: ``load_dataset(name, root=None, split='train'|'test', **options)`` yields
``(tensor, label)``: images ``[C, H, W]`` in [0, 1], event frames ``[T, P, H, W]`` (event counts), or
sequences ``[T, F]`` for recurrent nets."""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from ..errors import DatasetNotFoundError
from ..errors import suggest
from . import events, folders, sequences, static
from .splits import holdout

DATASETS = {
    "fashion-mnist": static.fashion_mnist,
    "mnist": static.mnist,
    "cifar10": static.cifar10,
    "imagenet": folders.imagenet,
    "nmnist": events.nmnist,
    "nmnist-subset": events.nmnist_subset,
    "nmnist-emulated": events.nmnist_emulated,
    "cifar10dvs": events.cifar10dvs,
    "dvsgesture": events.dvsgesture,
    "events": events.event_folder,
    "fashion-mnist-dvs": events.fashion_mnist_dvs,
    "sequential-fashion-mnist": sequences.sequential_fashion_mnist,
    "delayed-recall": sequences.delayed_recall,
}
SPLITS = ("train", "test")
# datasets whose events are emulated, not recorded: every card trained or evaluated on one says how
EMULATED_DATASETS = {
    "fashion-mnist-dvs": "Fashion-MNIST images seen by the zoo's saccade emulator "
                         "(zoo.data.emulator.SaccadeEmulator, N-MNIST's three saccades, 34x34x2), not a sensor recording",
    "nmnist-emulated": "MNIST images seen by the zoo's saccade emulator fitted to N-MNIST's sensor "
                       "(zoo.data.emulator.PRESETS['atis'], docs/emulator), not a sensor recording; MNIST's first "
                       "1,000 training images left out",
}

__all__ = ["DATASETS", "EMULATED_DATASETS", "load_dataset", "holdout"]


def load_dataset(name: str, root: str | Path | None = None, split: str = "train", **kwargs) -> Dataset:
    """The dataset ``name`` from local files only; a missing one raises
    :class:`~zoo.errors.DatasetNotFoundError` saying where to put it."""
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}{suggest(key, DATASETS)} (known: {', '.join(DATASETS)})")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return DATASETS[key](root=root, split=split, **kwargs)
