"""Events to frames, the way SpikingJelly integrates them, with every event counted once.

tonic's ``ToFrame`` with ``n_event_bins``/``n_time_bins`` drops the events that do not fill a whole
bin (5 events into 3 event bins give frames that hold 3), so the zoo integrates frames itself:
``split_by='number'`` gives every frame ``N // T`` events in time order and the last frame the
remainder; ``split_by='time'`` cuts time into windows of ``(t_last - t_first) // T`` from the first event
on, the last frame taking everything after its start; windows without events give empty frames
(where SpikingJelly's implementation raises). Frames are event counts per polarity and pixel, ``[T, P, H, W]``.
"""
from __future__ import annotations

import numpy as np

SPLITS = ("number", "time")


def check_sensor(events: np.ndarray, sensor_size: tuple[int, int, int], source: str = "events") -> None:
    """Raise a ``ValueError`` naming ``source`` if an event lies outside the sensor ``(W, H, P)``."""
    width, height, polarities = sensor_size
    for field, limit in (("x", width), ("y", height), ("p", polarities)):
        values = events[field]
        if len(values) and (values.min() < 0 or values.max() >= limit):
            raise ValueError(f"{source}: {field} must be in [0, {limit}) for sensor {tuple(sensor_size)}, "
                             f"found values in [{values.min()}, {values.max()}]")


def frame_index(events: np.ndarray, T: int, split_by: str = "number") -> np.ndarray:
    """The frame (0..T-1) each event of a time-ordered stream falls into."""
    if T < 1:
        raise ValueError(f"T must be a positive number of frames, got {T}")
    if split_by not in SPLITS:
        raise ValueError(f"split_by must be one of {', '.join(SPLITS)}, got {split_by!r}")
    count = len(events)
    if split_by == "number":
        per_frame = count // T
        if per_frame == 0:  # fewer events than frames: SpikingJelly puts them all in the last frame
            return np.full(count, T - 1, dtype=np.int64)
        return np.minimum(np.arange(count) // per_frame, T - 1)
    t = events["t"].astype(np.int64)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    window = max(int(t[-1] - t[0]) // T, 1)  # SpikingJelly's floor((t_last - t_first) / T)
    return np.minimum((t - t[0]) // window, T - 1)


def events_to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], T: int,
                     split_by: str = "number", source: str = "events") -> np.ndarray:
    """Event counts ``[T, P, H, W]`` (float32) of a structured array with fields ``x, y, t, p``;
    every event is counted exactly once."""
    check_sensor(events, sensor_size, source)
    order = np.argsort(events["t"], kind="stable")
    events = events[order]
    width, height, polarities = sensor_size
    frame = frame_index(events, T, split_by)
    flat = ((frame * polarities + events["p"].astype(np.int64)) * height
            + events["y"].astype(np.int64)) * width + events["x"].astype(np.int64)
    counts = np.bincount(flat, minlength=T * polarities * height * width)
    return counts.astype(np.float32).reshape(T, polarities, height, width)
