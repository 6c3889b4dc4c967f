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
    pixels = pixel_counts(events, sensor_size)
    saccade = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, SACCADES - 1)
    polarity = np.stack([pixel_counts(events[(saccade == s) & (events["p"] == 1)], sensor_size)
                         - pixel_counts(events[(saccade == s) & (events["p"] == 0)], sensor_size)
                         for s in range(SACCADES)])
    stats = {"events": int(len(events)), "on_fraction": float(np.mean(events["p"] == 1)),
             "duration_ms": float(duration / 1000), "per_saccade": per_saccade.tolist(),
             "spread_x": float(np.std(events["x"])), "spread_y": float(np.std(events["y"])),
             "centre_x": float(np.mean(events["x"])), "centre_y": float(np.mean(events["y"])),
             "active_pixels": int(np.count_nonzero(pixels)),
             "events_per_active_pixel": float(len(events) / np.count_nonzero(pixels)),
             "median_interval_us": float(np.median(intervals)) if len(intervals) else 0.0,
             "rate": rate, "pixels": pixels, "polarity": polarity}
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
    scalars = [key for key in a if key not in ("rate", "pixels", "polarity")]
    return {"real": {k: a[k] for k in scalars}, "twin": {k: b[k] for k in scalars},
            "pixel_correlation": correlation(a["pixels"], b["pixels"]),
            "rate_correlation": correlation(a["rate"], b["rate"])}


# the population statistics compared between real recordings and their twins: (name, how the gap is measured)
COMPARED = (
    ("events", "relative"), ("on_fraction", "absolute"), ("duration_ms", "relative"),
    ("per_saccade", "l1"), ("spread_x", "absolute"), ("spread_y", "absolute"), ("centre_x", "absolute"),
    ("centre_y", "absolute"), ("active_pixels", "relative"), ("events_per_active_pixel", "relative"),
    ("median_interval_us", "relative"), ("far_fraction", "absolute"),
)


def compare_populations(reals: list[np.ndarray], twins: list[np.ndarray], sensor_size: tuple[int, int, int],
                        digits: list[np.ndarray] | None = None) -> dict:
    """Real recordings against their emulated twins (``twins[i]`` made from the image ``reals[i]`` was
    recorded from), as a population: per statistic the real and emulated means and standard deviations and
    the gap between the means (relative to the real mean, absolute, or the L1 distance of the per-saccade
    shares); per pair the correlation of per-pixel counts, of the event rate over time and of the ON-minus-OFF
    counts of each pixel in each saccade (where each polarity falls), averaged.
    ``digits`` (boolean masks of each image on the sensor) add the share of events far from the digit."""
    if len(reals) != len(twins) or not reals:
        raise ValueError(f"one twin per real recording, at least one pair: {len(reals)} real, {len(twins)} twins")
    digits = digits if digits is not None else [None] * len(reals)
    real = [recording_stats(r, sensor_size, f"real recording {i}", d) for i, (r, d) in enumerate(zip(reals, digits))]
    twin = [recording_stats(t, sensor_size, f"emulated twin {i}", d) for i, (t, d) in enumerate(zip(twins, digits))]
    return population_rows(real, twin)


def population_rows(real: list[dict], twin: list[dict]) -> dict:
    """:func:`compare_populations` from the recordings' :func:`recording_stats` (a fit keeps the real
    recordings' statistics and recomputes only the twins')."""
    rows = {}
    for name, gap in COMPARED:
        if name not in real[0]:
            continue
        a, b = (np.array([s[name] for s in side], dtype=np.float64) for side in (real, twin))
        mean_a, mean_b = a.mean(0), b.mean(0)
        distance = {"relative": lambda: abs(mean_b / mean_a - 1), "absolute": lambda: abs(mean_b - mean_a),
                    "l1": lambda: np.abs(mean_b - mean_a).sum()}[gap]()
        rows[name] = {"real": mean_a.tolist(), "twin": mean_b.tolist(), "real_std": a.std(0).tolist(),
                      "twin_std": b.std(0).tolist(), "gap": float(distance), "gap_kind": gap}
    for name, key in (("pixel_correlation", "pixels"), ("rate_correlation", "rate"),
                      ("polarity_correlation", "polarity")):
        values = np.array([correlation(x[key], y[key]) for x, y in zip(real, twin)])
        rows[name] = {"mean": float(values.mean()), "std": float(values.std()), "gap": float(1 - values.mean()),
                      "gap_kind": "one minus the mean correlation"}
    return rows


def interval_histogram(recordings: list[np.ndarray], edges_us: np.ndarray) -> np.ndarray:
    """The share of inter-event intervals (all events of a recording, sorted by time) in each bin."""
    counts = sum(np.histogram(np.diff(np.sort(r["t"])), bins=edges_us)[0] for r in recordings)
    return counts / max(counts.sum(), 1)
