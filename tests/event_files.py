"""Writers for event files in each dataset's real format, so tests need no downloads."""
from __future__ import annotations

from pathlib import Path

import numpy as np

EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])


def random_events(rng: np.random.Generator, count: int, width: int, height: int, duration: int) -> np.ndarray:
    """``count`` events spread over the sensor, sorted in time, both polarities."""
    events = np.zeros(count, dtype=EVENT_DTYPE)
    events["x"] = rng.integers(0, width, count)
    events["y"] = rng.integers(0, height, count)
    events["t"] = np.sort(rng.integers(0, duration, count))
    events["p"] = rng.integers(0, 2, count)
    return events


def write_nmnist_bin(path: Path, events: np.ndarray) -> None:
    """N-MNIST's 40-bit events: x (8 bits), y (8 bits), polarity (1 bit), timestamp (23 bits, us)."""
    raw = np.zeros((len(events), 5), dtype=np.uint8)
    raw[:, 0] = events["x"]
    raw[:, 1] = events["y"]
    raw[:, 2] = (events["p"] << 7) | ((events["t"] >> 16) & 0x7F)
    raw[:, 3] = (events["t"] >> 8) & 0xFF
    raw[:, 4] = events["t"] & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def write_dvsgesture_npy(path: Path, events: np.ndarray) -> None:
    """tonic's preprocessed DVS Gesture: an ``(N, 4)`` array of x, y, p, t in milliseconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.stack([events["x"], events["y"], events["p"], events["t"] // 1000], axis=1))


def write_aedat4(path: Path, events: np.ndarray, sensor: tuple[int, int]) -> None:
    """AEDAT 4.0 (iniVation's DV format), written by dv-processing."""
    import dv_processing as dv

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("DVS128_fixture", sensor))
    store = dv.EventStore()
    for x, y, t, p in zip(events["x"], events["y"], events["t"], events["p"]):
        store.push_back(int(t) + 1_000_000, int(x), int(y), bool(p))
    writer.writeEvents(store)
    del writer  # closing the writer finishes the file


def histogram(events: np.ndarray, width: int, height: int) -> np.ndarray:
    """Event counts per (polarity, y, x), summed over time: what frames must add up to."""
    counts = np.zeros((2, height, width))
    np.add.at(counts, (events["p"], events["y"], events["x"]), 1)
    return counts
