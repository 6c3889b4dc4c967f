"""Sequence tasks for recurrent networks, each item a sequence ``[T, F]`` (features per step) and a label.

``sequential-fashion-mnist``: Fashion-MNIST read row by row (28 steps of 28 pixels) or pixel by pixel
(784 steps of one), the sequential-MNIST benchmark of recurrent SNNs (Bellec et al. 2018, Yin et al.
2021) on the image set these machines hold.

``delayed-recall``: a working-memory task after the store-recall task of Bellec et al. (NeurIPS 2018,
LSNN). Input neurons come in groups of ``group_size``: one group per cue value and one recall group.
For ``cue_steps`` the group of the sample's value fires at ``rate_on`` per step; then ``delay`` steps of
background activity only; then the recall group fires for ``recall_steps``, and the net must name the
value it saw before the delay. Every input neuron also fires at ``rate_noise`` per step throughout.
Each sample is drawn from its own generator seeded by (seed, split, index), so a sample is the same
whatever order or worker reads it, and the test split never repeats a training sample's seed.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..encoding import image_to_sequence
from .static import ImageTensorDataset, fashion_mnist

_SPLIT_SEEDS = {"train": 0, "test": 1}


class SequentialImages(Dataset):
    """An image dataset whose items are read as sequences: ``[H, C * W]`` (rows) or ``[H * W, C]`` (pixels)."""

    def __init__(self, images: ImageTensorDataset, order: str = "rows"):
        image_to_sequence(torch.zeros(1, 1, 1), order)  # the order's check, before any work
        self.images, self.order = images, order
        self.classes = images.classes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self.images[index]
        return image_to_sequence(image, self.order), label

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        images = torch.stack([image for image, _ in self.images.__getitems__(indices)])
        sequences = image_to_sequence(images, self.order).transpose(0, 1)
        return list(zip(sequences, self.images.targets[indices].tolist()))

    def __repr__(self) -> str:
        return f"{self.images.name} read by {self.order}: {len(self)} sequences"


def sequential_fashion_mnist(root: str | Path | None = None, split: str = "train",
                             order: str = "rows") -> SequentialImages:
    return SequentialImages(fashion_mnist(root=root, split=split), order)


class DelayedRecall(Dataset):
    """The store-recall working-memory task (module docstring): items ``([cue_steps + delay +
    recall_steps, (values + 1) * group_size] spikes, value)``."""

    def __init__(self, split: str = "train", delay: int = 100, values: int = 2, size: int | None = None,
                 cue_steps: int = 10, recall_steps: int = 10, group_size: int = 10, rate_on: float = 0.5,
                 rate_noise: float = 0.01, seed: int = 0):
        if delay < 0 or cue_steps < 1 or recall_steps < 1 or group_size < 1:
            raise ValueError(f"delayed-recall needs delay >= 0 and positive cue_steps, recall_steps and "
                             f"group_size, got {delay}, {cue_steps}, {recall_steps}, {group_size}")
        if values < 2:
            raise ValueError(f"delayed-recall needs at least 2 values to remember, got {values}")
        if not (0.0 <= rate_noise < rate_on <= 1.0):
            raise ValueError(f"rates must satisfy 0 <= rate_noise < rate_on <= 1, got {rate_noise}, {rate_on}")
        self.split, self.delay, self.values, self.seed = split, delay, values, seed
        self.size = size if size is not None else (4096 if split == "train" else 1024)
        self.cue_steps, self.recall_steps, self.group_size = cue_steps, recall_steps, group_size
        self.rate_on, self.rate_noise = rate_on, rate_noise
        self.steps = cue_steps + delay + recall_steps
        self.features = (values + 1) * group_size
        self.classes = [f"value {v}" for v in range(values)]

    def __len__(self) -> int:
        return self.size

    def group(self, index: int) -> slice:
        """Input neurons of cue value ``index``; ``index == values`` is the recall group."""
        return slice(index * self.group_size, (index + 1) * self.group_size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"delayed-recall {self.split} has {self.size} samples, asked for {index}")
        generator = torch.Generator().manual_seed((self.seed * 2 + _SPLIT_SEEDS[self.split]) * 10_000_019 + index)
        value = int(torch.randint(self.values, (), generator=generator))
        rates = torch.full((self.steps, self.features), self.rate_noise)
        rates[:self.cue_steps, self.group(value)] = self.rate_on
        rates[self.steps - self.recall_steps:, self.group(self.values)] = self.rate_on
        return (torch.rand(rates.shape, generator=generator) < rates).float(), value

    def __repr__(self) -> str:
        return (f"delayed-recall {self.split}: {self.size} sequences of {self.steps} steps x {self.features} "
                f"inputs, {self.values} values, delay {self.delay}")


def delayed_recall(root: str | Path | None = None, split: str = "train", **kwargs) -> DelayedRecall:
    """Generated, not read: ``root`` is accepted for a uniform interface and ignored."""
    return DelayedRecall(split=split, **kwargs)
