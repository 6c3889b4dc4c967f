"""Real N-MNIST recordings beside the MNIST images they were recorded from, and the seeded split of a set
of recordings that the zoo's real-event weights are trained and measured on.

N-MNIST (Orchard et al. 2015) filmed every MNIST image on a monitor: training recording ``n`` (the file
``NNNNN.bin``, counted from 1) shows MNIST training image ``n - 1``, so every recording has its source
image and the emulator can make its twin."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TEST_PER_CLASS = 20  # held-out recordings a digit; the smallest digit of the first 1,000 has 87, leaving 60+
SPLIT_SEED = 0
DIGIT_LEVEL = 0.25  # an image's pixels above this are the digit (for the share of events far from it)


@dataclass(frozen=True)
class Pair:
    """One real recording: its file, the MNIST training image it shows, and its digit."""

    path: Path
    image_index: int
    label: int


def recording_number(path: str | Path) -> int:
    """The 1-based number N-MNIST gives a recording in its file name (``00042.bin`` is 42)."""
    stem = Path(path).stem
    if not stem.isdigit() or int(stem) < 1:
        raise ValueError(f"{path}: not an N-MNIST recording name (expected a number from 1, like 00042.bin)")
    return int(stem)


def recordings(train_folder: str | Path) -> list[Pair]:
    """Every ``<digit>/NNNNN.bin`` of an N-MNIST ``Train`` folder, by recording number."""
    folder = Path(train_folder)
    found = sorted(folder.glob("[0-9]/*.bin"), key=recording_number)
    if not found:
        raise FileNotFoundError(f"{folder}: no N-MNIST recordings (expected <digit>/NNNNN.bin files)")
    return [Pair(path, recording_number(path) - 1, int(path.parent.name)) for path in found]


def source_images(pairs: list[Pair], mnist_train) -> np.ndarray:
    """The MNIST images ``[N, 28, 28]`` in [0, 1] the recordings show; a recording filed under another
    digit than its image's label is refused (the wrong MNIST copy or a renamed file)."""
    images = []
    for pair in pairs:
        if pair.image_index >= len(mnist_train):
            raise ValueError(f"{pair.path}: recording {pair.image_index + 1} has no MNIST training image "
                             f"(the MNIST copy has {len(mnist_train)})")
        image, label = mnist_train.data[pair.image_index], int(mnist_train.targets[pair.image_index])
        if label != pair.label:
            raise ValueError(f"{pair.path}: filed as digit {pair.label}, but MNIST training image "
                             f"{pair.image_index} is a {label}")
        images.append(image.numpy() / 255.0)
    return np.stack(images)


def digit_masks(images: np.ndarray, sensor_size: tuple[int, int, int]) -> list[np.ndarray]:
    """Each image's digit as a boolean mask on the sensor at its resting place (the top-left corner)."""
    width, height, _ = sensor_size
    masks = np.zeros((len(images), height, width), dtype=bool)
    masks[:, :images.shape[1], :images.shape[2]] = images > DIGIT_LEVEL
    return list(masks)


def split_indices(labels: list[int], split: str, test_per_class: int = TEST_PER_CLASS, seed: int = SPLIT_SEED,
                  train_per_class: int | None = None) -> list[int]:
    """Positions in ``labels`` of a seeded per-class split: ``test_per_class`` of each digit held out for
    ``test``; ``train`` is the rest, or the first ``train_per_class`` of it (in the seeded order, so the
    10 recordings a class of a small run are among the 30 of a larger one)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    generator = np.random.default_rng(seed)
    labels = np.asarray(labels)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[generator.permutation(len(members))]
        if len(members) <= test_per_class:
            raise ValueError(f"digit {label} has {len(members)} recordings, not more than the "
                             f"{test_per_class} held out for testing")
        train = members[test_per_class:]
        if train_per_class is not None:
            if train_per_class > len(train):
                raise ValueError(f"digit {label} has {len(train)} training recordings, fewer than "
                                 f"train_per_class={train_per_class}")
            train = train[:train_per_class]
        chosen += (members[:test_per_class] if split == "test" else train).tolist()
    return sorted(chosen)
