"""Write an event dataset out as files: raw events in the custom-folder format (``OUT/<class>/<n>.npy``,
structured ``x, y, t, p``; ``load_dataset('events', root=OUT)`` reads it back) or its frames
``[T, P, H, W]`` as ``.npy``, for other tools."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_open
from .events import EVENT_DTYPE, EVENT_FIELDS, EventFrames

KINDS = ("events", "frames")


def folder_name(class_name: str) -> str:
    """A class name as a folder name ("T-shirt/top" -> "T-shirt_top")."""
    return class_name.replace("/", "_").replace("\\", "_")


def export_event_dataset(dataset: EventFrames, out: str | Path, kind: str = "events", limit: int | None = None,
                         progress: bool = True, indices: list[int] | None = None) -> int:
    """Write the first ``limit`` samples (all by default), or the samples ``indices``, of ``dataset`` into
    ``out``; returns the count."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    out = Path(out)
    if indices is None:
        indices = range(len(dataset) if limit is None else min(limit, len(dataset)))
    count = len(indices)
    for index in tqdm(indices, desc=f"export {kind}", disable=not progress, unit="sample"):
        folder = out / folder_name(dataset.classes[dataset.targets[index]])
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "frames":
            array = dataset.frames(index)
        else:
            events = dataset.events(index)
            array = np.empty(len(events), dtype=EVENT_DTYPE)
            for field in EVENT_FIELDS:
                array[field] = events[field]
        with atomic_open(folder / f"{index:06d}.npy") as handle:
            np.save(handle, array)
    return count
