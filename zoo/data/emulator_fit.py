"""Fitting :class:`~zoo.data.emulator.SaccadeEmulator` to real recordings of the images it emulates.

The fit minimises the gap between real recordings and their emulated twins over the statistics of
:func:`zoo.data.event_stats.compare_populations` (one number: :func:`calibration_loss`) by coordinate
descent: each parameter in turn is moved one step up and down, the best move kept, and a parameter's step
halved once a round finds no better value for it. The twins' noise is drawn from one fixed generator per
recording, so the loss is a deterministic function of the parameters and two fits of the same pairs agree."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
from tqdm.auto import tqdm

from .emulator import SaccadeEmulator
from .event_stats import pixel_counts, population_rows, recording_stats

log = logging.getLogger("zoo")

# what each statistic's gap weighs in the loss: a 10% gap in event count weighs as much as 0.01 of
# missing per-pixel correlation (the correlation is what tells digits apart)
LOSS_WEIGHTS = {
    "events": 1.0, "on_fraction": 5.0, "duration_ms": 1.0, "per_saccade": 5.0, "spread_x": 2.0,
    "spread_y": 2.0, "centre_x": 0.2, "centre_y": 0.2, "active_pixels": 5.0, "events_per_active_pixel": 1.0,
    "median_interval_us": 0.5, "far_fraction": 5.0, "pixel_correlation": 10.0, "rate_correlation": 2.0,
    "polarity_correlation": 2.0,
}
# parameter: (lowest, highest, first step); integers stay integers
SEARCH = {
    "contrast_on": (0.005, 1.0, 0.02), "contrast_off": (0.005, 1.0, 0.02), "log_eps": (0.005, 20.0, 0.4),
    "blur_sigma": (0.0, 2.0, 0.25), "offset_x": (-3.0, 3.0, 0.5), "offset_y": (-3.0, 3.0, 0.5),
    "refractory_us": (0, 50_000, 2_000), "jitter_us": (0, 5_000, 500), "noise_hz": (0.0, 2.0, 0.05),
    "saccade1_start_us": (0, 50_000, 4_000), "saccade1_us": (20_000, 150_000, 4_000),
    "saccade2_start_us": (50_000, 200_000, 4_000), "saccade2_us": (20_000, 150_000, 4_000),
    "saccade3_start_us": (150_000, 300_000, 4_000), "saccade3_us": (20_000, 150_000, 4_000),
    "duration_us": (200_000, 400_000, 4_000), "path1_x": (0.0, 10.0, 0.5), "path1_y": (0.0, 10.0, 0.5),
    "path2_x": (0.0, 10.0, 0.5), "path2_y": (-3.0, 3.0, 0.5),
    "scale": (0.7, 1.3, 0.02),
}
TIMING = [f"saccade{n}_{part}" for n in (1, 2, 3) for part in ("start_us", "us")]
PAIRED = ("offset_x", "offset_y", "amplitude_x", "amplitude_y", "path1_x", "path1_y", "path2_x", "path2_y")
LOG_SCALE = ("log_eps",)  # searched by factors of exp(step), not by steps


def full_contrast(log_eps: float) -> float:
    """The log-intensity change from black to white: thresholds are searched as fractions of it, so a
    move of ``log_eps`` keeps the sensor's sensitivity to a full edge."""
    return float(np.log(1 + log_eps) - np.log(log_eps))


def flat_parameters(emulator: SaccadeEmulator) -> dict:
    """The searched parameters of ``emulator`` as one flat dict (offset and saccade timing unpacked)."""
    values = {name: getattr(emulator, name) for name in SEARCH if hasattr(emulator, name)}
    values["offset_x"], values["offset_y"] = emulator.offset
    values["contrast_on"] = emulator.threshold_on / full_contrast(emulator.log_eps)
    values["contrast_off"] = emulator.threshold_off / full_contrast(emulator.log_eps)
    values["amplitude_x"], values["amplitude_y"] = emulator.amplitude
    (values["path1_x"], values["path1_y"]), (values["path2_x"], values["path2_y"]) = emulator.path[1:3]
    for n, (start, duration) in enumerate(emulator.timing(), 1):
        values[f"saccade{n}_start_us"], values[f"saccade{n}_us"] = start, duration
    values["duration_us"] = emulator.total_us()
    return {name: values[name] for name in (*SEARCH, "amplitude_x", "amplitude_y")}


def with_parameters(emulator: SaccadeEmulator, values: dict) -> SaccadeEmulator:
    """``emulator`` with the flat parameters of :func:`flat_parameters` set."""
    direct = {name: value for name, value in values.items()
              if name not in TIMING and name not in PAIRED and not name.startswith("contrast_")}
    direct["threshold_on"] = values["contrast_on"] * full_contrast(values["log_eps"])
    direct["threshold_off"] = values["contrast_off"] * full_contrast(values["log_eps"])
    timing = tuple((int(values[f"saccade{n}_start_us"]), int(values[f"saccade{n}_us"])) for n in (1, 2, 3))
    paired = {name: (float(values[f"{name}_x"]), float(values[f"{name}_y"])) for name in ("offset", "amplitude")}
    path = (emulator.path[0], *((float(values[f"path{n}_x"]), float(values[f"path{n}_y"])) for n in (1, 2)),
            emulator.path[3])
    return dataclasses.replace(emulator, **direct, **paired, path=path, saccades_us=timing)


def calibration_loss(rows: dict) -> float:
    """The weighted sum of the gaps of :func:`~zoo.data.event_stats.compare_populations`."""
    return float(sum(LOSS_WEIGHTS[name] * row["gap"] for name, row in rows.items() if name in LOSS_WEIGHTS))


class TwinJudge:
    """The loss of an emulator on fixed pairs: the real recordings' statistics computed once, the twins'
    noise from one generator per pair seeded by its image index."""

    def __init__(self, images: np.ndarray, reals: list[np.ndarray], image_indices: list[int],
                 digits: list[np.ndarray], sensor_size: tuple[int, int, int], seed: int = 0):
        self.images, self.reals, self.indices, self.digits = images, reals, list(image_indices), digits
        self.seed = seed
        self.sensor_size = sensor_size
        self.real = [recording_stats(r, sensor_size, f"real recording of image {i}", d)
                     for r, i, d in zip(reals, self.indices, digits)]

    def twins(self, emulator: SaccadeEmulator) -> list[np.ndarray]:
        return emulator.emulate(self.images, [np.random.default_rng([self.seed, i]) for i in self.indices])

    def rows(self, emulator: SaccadeEmulator) -> dict:
        twin = [recording_stats(t, self.sensor_size, f"twin of image {i}", d) if len(t) else None
                for t, i, d in zip(self.twins(emulator), self.indices, self.digits)]
        if any(stats is None for stats in twin):
            return {}
        return population_rows(self.real, twin)

    def loss(self, emulator: SaccadeEmulator) -> float:
        rows = self.rows(emulator)
        return calibration_loss(rows) if rows else float("inf")


def _moved(values: dict, name: str, direction: int, steps: dict, clock_us: int) -> dict | None:
    """``values`` with ``name`` moved one step in ``direction``; times in whole ``clock_us`` steps of the
    emulator's clock. None where the move changes nothing (at a bound)."""
    low, high, _ = SEARCH[name]
    value = (values[name] * float(np.exp(direction * steps[name])) if name in LOG_SCALE
             else values[name] + direction * steps[name])
    if name in TIMING or name == "duration_us":  # the bounds too, rounded inwards onto the clock
        low, high = -(-low // clock_us) * clock_us, high // clock_us * clock_us
        value = int(round(value / clock_us) * clock_us)
    elif name == "refractory_us":
        value = int(round(value))
    value = min(max(value, low), high)
    return None if value == values[name] else {**values, name: value}


def fit_emulator(judge: TwinJudge, start: SaccadeEmulator, rounds: int = 6, names: list[str] | None = None,
                 progress: bool = True) -> tuple[SaccadeEmulator, list[dict]]:
    """Coordinate descent from ``start`` over ``names`` (every parameter of :data:`SEARCH` by default);
    returns the best emulator and the history ``[{round, parameter, value, loss}]``."""
    names = names or list(SEARCH)
    values = flat_parameters(start)
    steps = {name: SEARCH[name][2] for name in names}
    best = judge.loss(start)
    history = [{"round": 0, "parameter": None, "value": None, "loss": best}]
    bar = tqdm(total=rounds * len(names), desc="fit", unit="parameter", disable=not progress)
    for round_index in range(1, rounds + 1):
        for name in names:
            trials = [moved for d in (1, -1) if (moved := _moved(values, name, d, steps, start.step_us)) is not None]
            scored = [(judge.loss(with_parameters(start, trial)), trial) for trial in trials]
            better = [(loss, trial) for loss, trial in scored if loss < best]
            if better:
                best, values = min(better, key=lambda item: item[0])
                history.append({"round": round_index, "parameter": name, "value": values[name], "loss": best})
            else:
                minimum = start.step_us if name in TIMING or name == "duration_us" else SEARCH[name][2] / 8
                steps[name] = max(steps[name] / 2, minimum)
            bar.update(1)
            bar.set_postfix(loss=f"{best:.4f}")
    bar.close()
    return with_parameters(start, values), history


def find_hot_pixels(reals: list[np.ndarray], twins: list[np.ndarray], sensor_size: tuple[int, int, int],
                    duration_us: int, excess: float = 2.0, ratio: float = 2.0) -> tuple[tuple[int, int, float], ...]:
    """The sensor's hot pixels: those whose mean event count over the real recordings exceeds the twins'
    by ``excess`` events and ``ratio`` times (a fixed defect of the sensor, the same pixel in every
    recording), as ``(x, y, rate in events per second)`` of their excess."""
    real = np.mean([pixel_counts(r, sensor_size) for r in reals], axis=0)
    twin = np.mean([pixel_counts(t, sensor_size) for t in twins], axis=0)
    hot = np.argwhere((real - twin >= excess) & (real >= ratio * np.maximum(twin, 1e-9)))
    return tuple((int(x), int(y), round(float(real[y, x] - twin[y, x]) * 1e6 / duration_us, 1)) for y, x in hot)
