"""What one event recording looks like, in numbers, and how a real recording compares with the emulator's
twin of the same image: event count, ON/OFF balance, duration, the share of events in each saccade, the
event rate over time, the spatial spread, per-pixel counts, inter-event intervals, and the events that
fall far from the digit (the sensor's background activity). The emulator is fitted against these."""
from __future__ import annotations

import numpy as np

from .frames import check_sensor

SACCADES = 3  # N-MNIST's recordings: three saccades of equal length
RATE_BINS = 30  # the event rate over a recording, in this many equal time bins


def check_recording(events: np.ndarray, sensor_size: tuple[int, int, int], source: str) -> None:
    """One line for a recording that cannot be described: no events, or events off the sensor."""
    if len(events) == 0:
        raise ValueError(f"{source}: an empty recording (no events) has no statistics")
    check_sensor(events, sensor_size, source)


def pixel_counts(events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
    """Events per pixel, both polarities, ``[H, W]``."""
    width, height, _ = sensor_size
    counts = np.zeros((height, width), dtype=np.int64)
    np.add.at(counts, (events["y"], events["x"]), 1)
    return counts


def far_from(mask: np.ndarray, radius: int) -> np.ndarray:
    """The pixels more than ``radius`` pixels (in x and y) from every true pixel of ``mask``."""
    near = np.zeros_like(mask, dtype=bool)
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    for y, x in zip(ys, xs):
        near[max(0, y - radius):min(height, y + radius + 1), max(0, x - radius):min(width, x + radius + 1)] = True
    return ~near


def recording_stats(events: np.ndarray, sensor_size: tuple[int, int, int], source: str = "recording",
                    digit: np.ndarray | None = None, radius: int = 8) -> dict:
    """The statistics of one recording; with ``digit`` (a boolean ``[H, W]`` mask of the image on the
    sensor before the saccades move it) also the share of events more than ``radius`` pixels from it."""
    check_recording(events, sensor_size, source)
    t = events["t"].astype(np.float64)
    start, duration = t.min(), t.max() - t.min()
    edges = start + duration * np.arange(SACCADES + 1) / SACCADES
    per_saccade = np.histogram(t, bins=edges)[0] / len(t) if duration > 0 else np.eye(SACCADES)[0]
    rate = np.histogram(t, bins=RATE_BINS, range=(start, start + max(duration, 1.0)))[0] / len(t)
    intervals = np.diff(np.sort(t))
    stats = {"events": int(len(events)), "on_fraction": float(np.mean(events["p"] == 1)),
             "duration_ms": float(duration / 1000), "per_saccade": per_saccade.tolist(),
             "spread_x": float(np.std(events["x"])), "spread_y": float(np.std(events["y"])),
             "median_interval_us": float(np.median(intervals)) if len(intervals) else 0.0,
             "rate": rate, "pixels": pixel_counts(events, sensor_size)}
    if digit is not None:
        far = far_from(np.asarray(digit, dtype=bool), radius)
        stats["far_fraction"] = float(far[events["y"], events["x"]].mean())
    return stats


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's correlation of two arrays of the same shape (0 where either is constant)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def compare_pair(real: np.ndarray, twin: np.ndarray, sensor_size: tuple[int, int, int],
                 digit: np.ndarray | None = None) -> dict:
    """A real recording against the emulated twin of its image: both recordings' scalar statistics, and
    how alike their per-pixel counts and their event rates over time are (Pearson's correlation)."""
    a = recording_stats(real, sensor_size, "real recording", digit)
    b = recording_stats(twin, sensor_size, "emulated twin", digit)
    scalars = [key for key in a if key not in ("rate", "pixels")]
    return {"real": {k: a[k] for k in scalars}, "twin": {k: b[k] for k in scalars},
            "pixel_correlation": correlation(a["pixels"], b["pixels"]),
            "rate_correlation": correlation(a["rate"], b["rate"])}
