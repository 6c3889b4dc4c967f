"""Shared fixtures: small datasets written in the real file formats, and tiny trained weights."""
from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread a worker (and its subprocesses): `make test` runs a worker
    os.environ["OMP_NUM_THREADS"] = "1"     # per core, and more threads than cores stall on each other

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from zoo.train import load_recipe, train

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"  # beside the checkout on CI, absent on a user's clone
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
def mnist_root(tmp_path_factory) -> Path:
    return make_mnist_layout(tmp_path_factory.mktemp("mnist"), "MNIST", seed=1)


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
                  "checkpoint_every": 3, "log_every": 2, "lr": 5e-3, **train_overrides},
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


# --- event datasets in their real formats ------------------------------------------------------
CIFAR10DVS_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="session")
def nmnist_root(tmp_path_factory):
    """``NMNIST/{Train,Test}/<digit>/<n>.bin``; returns (root, {path: events})."""
    from event_files import random_events, write_nmnist_bin

    root = tmp_path_factory.mktemp("nmnist")
    rng = np.random.default_rng(2)
    written = {}
    for folder, per_class in (("Train", 2), ("Test", 1)):
        for digit in (0, 3, 7):
            for n in range(per_class):
                events = random_events(rng, int(rng.integers(50, 400)), 34, 34, 300_000)
                path = root / "NMNIST" / folder / str(digit) / f"{n:05d}.bin"
                write_nmnist_bin(path, events)
                written[path] = events
    return root, written


@pytest.fixture(scope="session")
def dvsgesture_root(tmp_path_factory):
    """tonic's DVS Gesture release: ``DVSGesture/ibmGesture{Train,Test}/userNN_<light>/<label>.npy``."""
    from event_files import random_events, write_dvsgesture_npy

    root = tmp_path_factory.mktemp("dvsgesture")
    rng = np.random.default_rng(3)
    written = {}
    for folder, users in (("ibmGestureTrain", (1, 2)), ("ibmGestureTest", (24,))):
        for user in users:
            for label in range(11):
                events = random_events(rng, int(rng.integers(100, 600)), 128, 128, 2_000_000)
                events["t"] -= events["t"] % 1000  # the release stores milliseconds
                path = root / "DVSGesture" / folder / f"user{user:02d}_fluorescent" / f"{label}.npy"
                write_dvsgesture_npy(path, events)
                written[path] = events
    return root, written


@pytest.fixture(scope="session")
def cifar10dvs_root(tmp_path_factory):
    """tonic's CIFAR10-DVS release: ``CIFAR10DVS/<class>/<n>.aedat4``, ten files per class."""
    from event_files import random_events, write_aedat4

    root = tmp_path_factory.mktemp("cifar10dvs")
    rng = np.random.default_rng(4)
    written = {}
    for name in CIFAR10DVS_CLASSES:
        for n in range(10):
            events = random_events(rng, int(rng.integers(50, 300)), 128, 128, 1_000_000)
            path = root / "CIFAR10DVS" / name / f"cifar10_{name}_{n}.aedat4"
            write_aedat4(path, events, (128, 128))
            written[path] = events
    return root, written


@pytest.fixture(scope="session")
def cifar10_jpeg_root() -> Path:
    """CIFAR-10 (JPEG copy) in the official python layout, built by the shared folder's own script once
    per archive and script (keyed by their sizes and times) into the system's temp folder: the test
    workers and the SpikingJelly 2.x run share one build (20 s each) instead of making three."""
    import fcntl
    import shutil
    import subprocess
    import sys
    import tempfile

    script, archive = SHARED_DATA / "build_cifar10_jpeg.py", SHARED_DATA / "cifar10-jpeg.tar.gz"
    absent = [str(p) for p in (script, archive) if not p.is_file()]
    if absent:  # both are read below: the script runs, and both key the build
        pytest.skip(f"{', '.join(absent)} absent: the CIFAR-10 JPEG copy cannot be built here")
    key = "-".join(f"{p.stat().st_size}-{p.stat().st_mtime_ns}" for p in (script, archive))
    cache = Path(tempfile.gettempdir()) / f"zoo-tests-{os.getuid()}"
    cache.mkdir(exist_ok=True)
    root = cache / f"cifar10-jpeg-{key}"
    with open(cache / "cifar10-jpeg.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits for this build instead of making its own
        if not root.is_dir():
            for stale in cache.glob("cifar10-jpeg-*"):  # an earlier archive's build, or one cut short
                shutil.rmtree(stale, ignore_errors=True)
            partial = cache / f"{root.name}.partial"
            built = subprocess.run([sys.executable, str(script), str(partial)], capture_output=True, text=True)
            if built.returncode:
                pytest.fail(f"{script.name} failed: {built.stderr.strip() or built.stdout.strip()}")
            partial.rename(root)  # whole or absent: an interrupted build is redone
    return root


@pytest.fixture(scope="session")
def imagenet_root(tmp_path_factory) -> Path:
    """ImageNet's class-folder layout with small JPEGs: ``{train,val}/<wnid>/*.JPEG``."""
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(5)
    for split, count in (("train", 6), ("val", 2)):
        for wnid in ("n01440764", "n01443537"):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for n in range(count):
                pixels = rng.integers(0, 256, (int(rng.integers(40, 90)), int(rng.integers(40, 90)), 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{n}.JPEG", format="JPEG")
    return root
