"""Small event-recording folders whose classes are plainly separable, in the custom-folder format
(``root/<class>/<n>.npy`` with fields ``x, y, t, p``): the check that a fine-tuning setup works on tens of
recordings before it meets a user's own, and the tasks of the fine-tuning benchmark.

``position``: each class's events fall in its own vertical band of the sensor. ``motion``: a blob
crosses the sensor left, right, up or down. ``polarity``: events all over the sensor, mostly ON for one
class and mostly OFF for the other.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .emulator import EVENT_DTYPE

TASKS = {"position": ["left", "middle", "right"], "motion": ["leftward", "rightward", "upward", "downward"],
         "polarity": ["on", "off"]}
DURATION_US = 300_000


def _recording(task: str, label: int, rng: np.random.Generator, width: int, height: int, events: int) -> np.ndarray:
    out = np.zeros(events, dtype=EVENT_DTYPE)
    t = np.sort(rng.integers(0, DURATION_US, events))
    out["t"] = t
    out["p"] = rng.integers(0, 2, events)
    if task == "position":
        band = width / len(TASKS[task])
        out["x"] = (label * band + rng.random(events) * band).astype(np.int64)
        out["y"] = rng.integers(0, height, events)
    elif task == "motion":
        progress = t / DURATION_US  # the blob's centre moves across the sensor during the recording
        along = {0: 1 - progress, 1: progress, 2: 1 - progress, 3: progress}[label]
        across = rng.uniform(0.3, 0.7)  # where it crosses, per recording
        cx, cy = (along, across) if label < 2 else (across, along)
        out["x"] = np.clip(np.rint(cx * (width - 1) + rng.normal(0, 1.5, events)), 0, width - 1)
        out["y"] = np.clip(np.rint(cy * (height - 1) + rng.normal(0, 1.5, events)), 0, height - 1)
    elif task == "polarity":
        out["x"] = rng.integers(0, width, events)
        out["y"] = rng.integers(0, height, events)
        out["p"] = (rng.random(events) < (0.9 if label == 0 else 0.1)).astype(np.int64)
    else:
        raise ValueError(f"unknown toy task {task!r}; choose from {', '.join(TASKS)}")
    return out


def write_toy_folder(root: str | Path, task: str, per_class: int = 24, sensor: tuple[int, int] = (48, 40),
                     events: int = 400, seed: int = 0) -> Path:
    """Write ``per_class`` recordings of each class of ``task`` on a ``(W, H)`` sensor into ``root``."""
    if task not in TASKS:
        raise ValueError(f"unknown toy task {task!r}; choose from {', '.join(TASKS)}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    width, height = sensor
    for label, name in enumerate(TASKS[task]):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            np.save(root / name / f"{n:03d}.npy", _recording(task, label, rng, width, height, events))
    return root
