"""Event-camera datasets as frame sequences ``[T, P, H, W]``: N-MNIST, CIFAR10-DVS and DVS Gesture
through tonic's dataset classes, and the user's own recordings in class folders.

tonic downloads whatever it does not find; the zoo's subclasses never do: they check the layout
and raise :class:`~zoo.errors.DatasetNotFoundError` saying where the files go. Frames are integrated
by :func:`zoo.data.frames.events_to_frames` (every event counted once) and cached on disk under a
key made of every parameter that shapes them.

A *reader* is anything with ``__len__``, ``events(i)`` (a structured array with fields ``x, y, t, p``),
``labels`` (a list) and ``identity(i)`` (a string that changes when sample ``i`` changes, or ``None``
for no caching); :class:`EventFrames` turns a reader into a dataset of frames.
"""
from __future__ import annotations

import hashlib
import logging
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..atomic import atomic_open
from ..errors import DatasetNotFoundError
from .frames import SPLITS, check_sensor, events_to_frames
from .emulator import EVENT_DTYPE, PRESETS, EmulatedReader
from .isolated import run_isolated
from .roots import resolve_root

log = logging.getLogger("zoo")
from .nmnist_pairs import SPLIT_SEED, TEST_PER_CLASS, split_indices
from .static import data_cache, fashion_mnist, mnist

FRAMES_VERSION = 1  # bump when the integration changes, so old caches are not reused
CIFAR10DVS_SPLIT = {"train_fraction": 0.9, "seed": 0}  # no official split: per class, seeded
FOLDER_SPLIT = {"train_fraction": 0.8, "seed": 0}      # the default split of a custom event folder
REAL_RECORDINGS = 1000  # N-MNIST's first training recordings (MNIST's first images): kept out of nmnist-emulated
DIGITS = [str(digit) for digit in range(10)]  # N-MNIST's classes, real or emulated: folder names 0-9
EVENT_SUFFIXES = (".npy", ".npz", ".bin", ".aedat4")
EVENT_FIELDS = ("x", "y", "t", "p")


def _tonic():
    try:
        import tonic
    except ImportError:  # pragma: no cover - tonic is a dependency
        raise ImportError("event datasets need tonic: pip install 'tonic>=1.6,<2'") from None
    return tonic


def file_identity(path: str | Path) -> str:
    stat = os.stat(path)
    return f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"


def per_class_split(targets: list[int], train_fraction: float, seed: int, split: str) -> list[int]:
    """Indices of ``split`` in a fixed, seeded split within every class (the first
    ``round(n * train_fraction)`` of a seeded permutation of each class go to training)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    generator = np.random.default_rng(seed)
    chosen = []
    targets = np.asarray(targets)
    for label in np.unique(targets):
        members = np.flatnonzero(targets == label)
        members = members[generator.permutation(len(members))]
        n_train = int(round(len(members) * train_fraction))
        chosen += (members[:n_train] if split == "train" else members[n_train:]).tolist()
    return sorted(chosen)


# --- readers ------------------------------------------------------------------------------------
class TonicReader:
    """A tonic dataset seen as a reader; read errors name the file."""

    def __init__(self, dataset, name: str):
        self.dataset = dataset
        self.name = name
        self.labels = [int(label) for label in dataset.targets]

    def __len__(self) -> int:
        return len(self.dataset)

    def identity(self, index: int) -> str:
        return file_identity(self.dataset.data[index])

    def where(self, index: int) -> str:
        return str(self.dataset.data[index])

    def events(self, index: int) -> np.ndarray:
        try:
            events, _ = self.dataset[index]
        except BaseException as error:  # readers fail in many ways on damaged files, Rust ones by panicking
            if isinstance(error, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise ValueError(f"{self.where(index)}: unreadable {self.name} event file "
                             f"({type(error).__name__}: {error})") from None
        return events


def as_event_array(array: np.ndarray, source: str) -> np.ndarray:
    """A structured array with fields ``x, y, t, p`` from a structured array that has them, or from
    a plain ``(N, 4)`` array in that column order. ``t`` is in microseconds; polarity ``p`` is 0 (OFF) or 1
    (ON), and the other common conventions are read as that: -1/1 (OFF as -1) and booleans."""
    if array.dtype.names:
        missing = [field for field in EVENT_FIELDS if field not in array.dtype.names]
        if missing:
            raise ValueError(f"{source}: structured events need fields x, y, t, p; missing {', '.join(missing)}")
        columns = [array[field] for field in EVENT_FIELDS]
    elif array.ndim == 2 and array.shape[1] == 4:
        columns = [array[:, i] for i in range(4)]
    else:
        raise ValueError(f"{source}: expected a structured array with fields x, y, t, p or an (N, 4) array "
                         f"of x, y, t, p; got shape {array.shape} dtype {array.dtype}")
    events = np.empty(len(columns[0]), dtype=EVENT_DTYPE)
    for field, column in zip(EVENT_FIELDS, columns):
        if not (np.issubdtype(column.dtype, np.integer) or np.issubdtype(column.dtype, np.floating)
                or column.dtype == np.bool_):
            raise ValueError(f"{source}: field {field} must hold numbers, got dtype {column.dtype}")
        if np.issubdtype(column.dtype, np.floating) and not np.all(np.isfinite(column)):
            raise ValueError(f"{source}: field {field} holds NaN or infinite values")
        if field == "p":
            column = _polarity_01(column)
        events[field] = column
    return events


def _polarity_01(p: np.ndarray) -> np.ndarray:
    """Polarity as 0/1: booleans as 0/1, and -1/1 (OFF/ON) with OFF as 0; other values are left for the
    sensor check to refuse."""
    if p.dtype == np.bool_:
        return p.astype(np.int64)
    if len(p) and p.min() == -1 and np.all((p == -1) | (p == 1)):
        return (p > 0).astype(np.int64)
    return p


def read_event_file(path: str | Path) -> np.ndarray:
    """Events of one file: ``.npy``/``.npz`` (see :func:`as_event_array`), N-MNIST ``.bin`` or
    AEDAT4 ``.aedat4`` (through tonic's readers)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                key = "events" if "events" in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise ValueError(f"holds {keys}; name the array 'events'")
                array = archive[key]
        elif suffix == ".bin":
            array = _tonic().io.read_mnist_file(str(path), dtype=EVENT_DTYPE)
        elif suffix == ".aedat4":  # a native decoder: in a child process, so a crash ends only the child
            array = run_isolated(_tonic().io.read_aedat4, str(path))
            array.dtype.names = ("t", "x", "y", "p")
        else:
            raise ValueError(f"unsupported suffix; use one of {', '.join(EVENT_SUFFIXES)}")
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: unreadable event file ({error})") from None
    except Exception as error:  # zipfile, struct, EOF errors; DecoderCrash when the AEDAT4 decoder died
        raise ValueError(f"{path}: unreadable event file ({type(error).__name__}: {error})") from None
    return as_event_array(array, str(path))


COMMON_SENSORS = ((34, 34), (128, 128), (240, 180), (346, 260), (640, 480), (304, 240), (1280, 720))


class FolderReader:
    """``root/<class>/<sample>.{npy,npz,bin,aedat4}``: one sub-folder per class, one file per sample."""

    def __init__(self, root: str | Path):
        root = Path(root)
        if not root.is_dir():
            raise DatasetNotFoundError(f"event folder {root} does not exist")
        self.name = "events"
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not self.classes:
            raise DatasetNotFoundError(f"event folder {root} has no class sub-folders (expected {root}/<class>/<sample>.npy)")
        self.files, self.labels = [], []
        for label, name in enumerate(self.classes):
            files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in EVENT_SUFFIXES)
            if not files:
                raise ValueError(f"class folder {root / name} has no event files ({', '.join(EVENT_SUFFIXES)})")
            self.files += files
            self.labels += [label] * len(files)

    def __len__(self) -> int:
        return len(self.files)

    def identity(self, index: int) -> str:
        return file_identity(self.files[index])

    def where(self, index: int) -> str:
        return str(self.files[index])

    def events(self, index: int) -> np.ndarray:
        return read_event_file(self.files[index])

    def extents(self) -> list[tuple[int, int]]:
        """``(max x + 1, max y + 1)`` of every file, ``(0, 0)`` for one without events."""
        extents = []
        for index in range(len(self)):
            events = self.events(index)
            if len(events) and (events["x"].min() < 0 or events["y"].min() < 0):
                raise ValueError(f"{self.where(index)}: negative event coordinates")
            extents.append((int(events["x"].max()) + 1, int(events["y"].max()) + 1) if len(events) else (0, 0))
        return extents

    def infer_sensor_size(self, extents: list[tuple[int, int]] | None = None) -> tuple[int, int, int]:
        """``(max x + 1, max y + 1, 2)`` over every file (``extents``: :meth:`extents`, if already read);
        a warning when that is one pixel short of a common sensor (a column or row that never fired)."""
        extents = self.extents() if extents is None else extents
        width, height = max((w for w, _ in extents), default=0), max((h for _, h in extents), default=0)
        if width == 0:
            raise ValueError("no events in any file: cannot infer the sensor size; pass sensor_size=(W, H, P)")
        for common in COMMON_SENSORS:
            if (width, height) != common and 0 <= common[0] - width <= 1 and 0 <= common[1] - height <= 1:
                log.warning("the sensor inferred from the events is %dx%d, one pixel short of the common %dx%d: "
                            "if the recordings come from that sensor, pass --sensor-size %d %d 2 (sensor_size=(%d, "
                            "%d, 2) in Python)", width, height, *common, *common, *common)
        return width, height, 2


# --- frames -------------------------------------------------------------------------------------
class EventFrames(Dataset):
    """Samples of a reader as ``(frames [T, P, H, W] float32, label)``, cached on disk."""

    def __init__(self, reader, indices, name: str, classes: list[str], sensor_size: tuple,
                 T: int, split_by: str = "number", denoise_us: int | None = None, cache: bool = True,
                 cache_dir: str | Path | None = None, resize: tuple[int, int] | None = None):
        if split_by not in SPLITS:
            raise ValueError(f"split_by must be one of {', '.join(SPLITS)}, got {split_by!r}")
        if not isinstance(T, int) or T < 1:
            raise ValueError(f"T must be a positive number of frames, got {T!r}")
        if len(sensor_size) != 3 or min(sensor_size) < 1:
            raise ValueError(f"sensor_size must be (W, H, P) with positive sizes, got {sensor_size!r}")
        self.reader = reader
        self.indices = list(indices)
        self.name = name
        self.classes = list(classes)
        self.sensor_size = tuple(int(v) for v in sensor_size)
        self.T, self.split_by, self.denoise_us = T, split_by, denoise_us
        if resize is not None and (len(resize) != 2 or min(resize) < 1):
            raise ValueError(f"resize must be (H, W) with positive sizes, got {resize!r}")
        self.resize = tuple(int(v) for v in resize) if resize is not None else None
        self.targets = [int(reader.labels[i]) for i in self.indices]
        params = {"dataset": name, "sensor_size": self.sensor_size, "T": T, "split_by": split_by,
                  "denoise_us": denoise_us, "resize": self.resize, "version": FRAMES_VERSION}
        self.cache_key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
        base = Path(cache_dir) if cache_dir else data_cache() / "event_frames"
        self.cache_dir = base / name / self.cache_key if cache else None

    def __len__(self) -> int:
        return len(self.indices)

    def events(self, index: int) -> np.ndarray:
        """The raw events of sample ``index`` (before denoising and framing)."""
        return self.reader.events(self.indices[index])

    def cached_path(self, index: int) -> Path | None:
        """Where the frames of sample ``index`` are cached (``None``: not cached)."""
        identity = self.reader.identity(self.indices[index]) if self.cache_dir else None
        return self.cache_dir / f"{hashlib.sha1(identity.encode()).hexdigest()[:20]}.npz" if identity else None

    def fill_cache(self, progress: bool = True) -> None:
        """Integrate and cache every sample not cached yet, in order: readers that work in blocks
        (the emulator) then do each block once, and the first epoch reads frames from disk."""
        missing = [i for i in range(len(self)) if (path := self.cached_path(i)) is not None and not path.is_file()]
        for index in tqdm(missing, desc=f"caching {self.name} frames", unit="sample", disable=not progress or not missing):
            self.frames(index)

    def frames(self, index: int) -> np.ndarray:
        position = self.indices[index]
        cached = self.cached_path(index)
        if cached is not None and cached.is_file():
            with np.load(cached) as archive:
                return archive["frames"]
        events = self.reader.events(position)
        where = self.reader.where(position)
        check_sensor(events, self.sensor_size, where)
        if self.denoise_us:
            events = _tonic().transforms.Denoise(filter_time=self.denoise_us)(events)
        frames = events_to_frames(events, self.sensor_size, self.T, self.split_by, source=where)
        if self.resize is not None:  # area averaging: a frame keeps its mean event density
            frames = torch.nn.functional.interpolate(torch.from_numpy(frames), size=self.resize, mode="area").numpy()
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(cached) as handle:  # frames are sparse: compressed, they are small
                np.savez_compressed(handle, frames=frames)
        return frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return torch.from_numpy(self.frames(index)), self.targets[index]

    def __repr__(self) -> str:
        w, h, p = self.sensor_size
        h, w = self.resize or (h, w)
        return (f"{self.name}: {len(self)} samples as [{self.T}, {p}, {h}, {w}] frames "
                f"(split_by={self.split_by}, denoise_us={self.denoise_us})")


# --- datasets by name ---------------------------------------------------------------------------
def _local(tonic_class, layout: str, label: str, suffix: str):
    """A subclass of a tonic dataset that never downloads; named like its parent, because tonic
    derives the dataset folder (``root/<ClassName>``) from the class name."""

    def _check_exists(self) -> bool:
        folder = Path(self.location_on_system, self.folder_name)
        return folder.is_dir() and next(folder.glob(f"**/*{suffix}"), None) is not None

    def download(self) -> None:
        raise DatasetNotFoundError(
            f"{label} not found under {Path(self.location_on_system).parent}: expected {layout} "
            f"(the zoo never downloads; unpack the official archives there)")

    return type(tonic_class.__name__, (tonic_class,), {"_check_exists": _check_exists, "download": download})


def _root(root, name: str, label: str, layout: str) -> str:
    root = resolve_root(name, root, label, layout)
    if not root.is_dir():
        raise DatasetNotFoundError(f"{label} not found: {root} is not a folder")
    return str(root)


def nmnist(root=None, split: str = "train", T: int = 10, split_by: str = "number",
           denoise_us: int | None = None, cache: bool = True, resize: tuple[int, int] | None = None) -> EventFrames:
    """N-MNIST (Orchard et al. 2015): 34x34 sensor, two polarities, official train/test folders."""
    dataset = _nmnist_folder(root, "NMNIST/Train/<digit>/*.bin and NMNIST/Test/<digit>/*.bin", split == "train")
    return EventFrames(TonicReader(dataset, "N-MNIST"), range(len(dataset)), "nmnist", DIGITS, dataset.sensor_size,
                       T, split_by, denoise_us, cache, resize=resize)


def _nmnist_folder(root, layout: str, train: bool):
    """tonic's N-MNIST reader on a local ``root`` (``$ZOO_DATASETS/nmnist`` when None), never downloading."""
    cls = _local(_tonic().datasets.NMNIST, layout, "N-MNIST", ".bin")
    return cls(_root(root, "nmnist", "N-MNIST", layout), train=train)


def nmnist_subset(root=None, split: str = "train", T: int = 10, split_by: str = "number",
                  denoise_us: int | None = None, cache: bool = True, train_per_class: int | None = None,
                  test_per_class: int = TEST_PER_CLASS, seed: int = SPLIT_SEED) -> EventFrames:
    """Real N-MNIST training recordings (``NMNIST/Train``, such as its first 1,000), split per digit and
    seeded (:func:`zoo.data.nmnist_pairs.split_indices`): ``test_per_class`` of each digit held out for
    ``test``, the rest (or its first ``train_per_class``) for ``train``."""
    dataset = _nmnist_folder(root, "NMNIST/Train/<digit>/*.bin", train=True)
    indices = split_indices([int(label) for label in dataset.targets], split, test_per_class, seed, train_per_class)
    return EventFrames(TonicReader(dataset, "N-MNIST"), indices, "nmnist-subset", DIGITS, dataset.sensor_size, T,
                       split_by, denoise_us, cache)


def nmnist_emulated(root=None, split: str = "train", T: int = 10, split_by: str = "number",
                    denoise_us: int | None = None, cache: bool = True, seed: int = 0,
                    skip_first: int = REAL_RECORDINGS) -> EventFrames:
    """MNIST seen by the emulator fitted to N-MNIST's sensor (``PRESETS["atis"]``, docs/emulator): *emulated*
    N-MNIST, 34x34x2. ``root`` is MNIST's. The training split leaves out MNIST's first ``skip_first``
    training images: N-MNIST's first recordings show them, and those real recordings measure what a model
    trained here learnt (zero-shot)."""
    images = mnist(root, split)
    emulator = PRESETS["atis"]
    reader = EmulatedReader(images, f"nmnist-emulated/{split}", emulator, seed)
    first = skip_first if split == "train" else 0
    return EventFrames(reader, range(first, len(reader)), "nmnist-emulated", DIGITS, emulator.sensor_size, T,
                       split_by, denoise_us, cache)


def dvsgesture(root=None, split: str = "train", T: int = 16, split_by: str = "number",
               denoise_us: int | None = None, cache: bool = True, resize: tuple[int, int] | None = None) -> EventFrames:
    """DVS Gesture (Amir et al. 2017), tonic's preprocessed release: 128x128, 11 classes."""
    layout = ("DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy and DVSGesture/ibmGestureTest/... "
              "(tonic's preprocessed release)")
    cls = _local(_tonic().datasets.DVSGesture, layout, "DVS Gesture", ".npy")
    dataset = cls(_root(root, "dvsgesture", "DVS Gesture", layout), train=split == "train")
    return EventFrames(TonicReader(dataset, "DVS Gesture"), range(len(dataset)), "dvsgesture",
                       list(dataset.classes), dataset.sensor_size, T, split_by, denoise_us, cache, resize=resize)


def cifar10dvs(root=None, split: str = "train", T: int = 16, split_by: str = "number",
               denoise_us: int | None = None, cache: bool = True, resize: tuple[int, int] | None = None) -> EventFrames:
    """CIFAR10-DVS (Li et al. 2017): 128x128, 10 classes, the zoo's seeded 90/10 split per class."""
    layout = "CIFAR10DVS/<class>/*.aedat4 (tonic's release, one folder per class: airplane, automobile, ...)"
    cls = _local(_tonic().datasets.CIFAR10DVS, layout, "CIFAR10-DVS", ".aedat4")
    dataset = cls(_root(root, "cifar10dvs", "CIFAR10-DVS", layout))
    indices = per_class_split(dataset.targets, CIFAR10DVS_SPLIT["train_fraction"], CIFAR10DVS_SPLIT["seed"], split)
    classes = sorted(dataset.classes, key=dataset.classes.get)
    return EventFrames(TonicReader(dataset, "CIFAR10-DVS"), indices, "cifar10dvs", classes, dataset.sensor_size,
                       T, split_by, denoise_us, cache, resize=resize)


def event_folder(root=None, split: str = "train", T: int = 10, sensor_size: tuple | None = None,
                 split_by: str = "number", denoise_us: int | None = None, cache: bool = True,
                 train_fraction: float = FOLDER_SPLIT["train_fraction"], seed: int = FOLDER_SPLIT["seed"],
                 resize: tuple[int, int] | None = None) -> EventFrames:
    """The user's recordings: ``root/<class>/<sample>.{npy,npz,bin,aedat4}``, a seeded per-class
    train/test split, the sensor size given as ``(W, H, P)`` or inferred from the events; frames
    averaged to ``resize`` ``(H, W)`` when given."""
    if root is None:
        raise DatasetNotFoundError("an event folder needs its root: pass --root DIR (root= in Python), a folder "
                                   "of class sub-folders of recordings")
    reader = FolderReader(root)
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    sensor = tuple(sensor_size) if sensor_size is not None else reader.infer_sensor_size()
    indices = per_class_split(reader.labels, train_fraction, seed, split)
    name = f"events-{hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:8]}"
    return EventFrames(reader, indices, name, reader.classes, sensor, T, split_by, denoise_us, cache, resize=resize)


def fashion_mnist_dvs(root=None, split: str = "train", T: int = 10, split_by: str = "number",
                      denoise_us: int | None = None, cache: bool = True, seed: int = 0) -> EventFrames:
    """Fashion-MNIST seen by an *emulated* N-MNIST recording (:mod:`zoo.data.emulator`): 34x34x2."""
    images = fashion_mnist(root, split)
    emulator = PRESETS["uniform"]  # the events its shipped weights were trained on
    reader = EmulatedReader(images, f"fashion-mnist-dvs/{split}", emulator, seed)
    return EventFrames(reader, range(len(reader)), "fashion-mnist-dvs", images.classes, emulator.sensor_size,
                       T, split_by, denoise_us, cache)
