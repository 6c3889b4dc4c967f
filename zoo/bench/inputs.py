"""Benchmark inputs: real Fashion-MNIST test images when the dataset is installed, so firing (and the
work that depends on it) is that of real data; else uniform noise, said in the row."""
from __future__ import annotations

import torch

from ..errors import DatasetNotFoundError


def fashion_mnist_or_noise(count: int) -> tuple[torch.Tensor, str]:
    """The first ``count`` test images ``[count, 1, 28, 28]`` and a word on where they came from."""
    from ..data import load_dataset

    try:
        dataset = load_dataset("fashion-mnist", split="test")
    except DatasetNotFoundError:
        return torch.rand(count, 1, 28, 28), "uniform noise"
    return torch.stack([dataset[i][0] for i in range(count)]), "Fashion-MNIST test images"
