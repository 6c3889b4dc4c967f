"""Shared fixtures: small datasets written in the real file formats, and tiny trained weights."""
from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from zoo.train import load_recipe, train

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = {"T": 4}  # full width: narrower STBP nets stay silent on the fixture


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format as in the (Fashion-)MNIST distribution: magic 0x0000 08 <ndim>, big-endian sizes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist_layout(root: Path, folder: str, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """A torchvision-layout root whose classes are learnable: class k is a bright band at row 2k."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label + 4: 2 * label + 7, 4:24] = 250
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture(scope="session")
def fmnist_root(tmp_path_factory) -> Path:
    return make_mnist_layout(tmp_path_factory.mktemp("fmnist"), "FashionMNIST")


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """CIFAR-10's python archive layout: pickled dicts of uint8 rows (3072 = 3x32x32, channel-major)
    and labels. The official files are Python 2 pickles whose keys unpickle (latin1) as str."""
    root = tmp_path_factory.mktemp("cifar")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, 4).tolist(), "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                            "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


def tiny_recipe(root: Path, **train_overrides) -> dict:
    return load_recipe({
        "model": {"name": "stbp_cnn", "kwargs": dict(TINY_MODEL)},
        "data": {"name": "fashion-mnist", "root": str(root), "val_fraction": 0.2},
        "train": {"epochs": 2, "batch_size": 20, "eval_batch_size": 50, "loss": "mse",
                  "checkpoint_every": 3, "lr": 5e-3, **train_overrides},
    })


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, fmnist_root) -> Path:
    """A finished two-epoch run of a tiny STBP CNN on the fixture data."""
    out = tmp_path_factory.mktemp("run")
    train(tiny_recipe(fmnist_root), out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_run) -> Path:
    """A weights folder holding ``stbp_cnn.tiny`` published from :func:`tiny_run`."""
    from zoo.hub.publish import publish

    folder = tmp_path_factory.mktemp("weights")
    publish(tiny_run / "checkpoints" / "best.pt", tag="tiny", out_dir=folder, batch_size=50)
    return folder


@pytest.fixture()
def use_weights(monkeypatch, tiny_weights) -> Path:
    monkeypatch.setenv("ZOO_WEIGHTS", str(tiny_weights))
    return tiny_weights
