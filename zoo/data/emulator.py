"""An event camera looking at a static image the way N-MNIST was recorded (Orchard et al. 2015):
the sensor makes three saccades along a triangle, and each pixel emits an ON/OFF event whenever its
log intensity has moved by the contrast threshold since its last event.

Emulated data is labelled as such wherever it is used (dataset names end in ``-dvs``, cards say
``emulated``): it has N-MNIST's shape and statistics, not a real sensor's noise.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
# N-MNIST's saccade path in pixels (x, y): up-right, down-right, back left, 105 ms each
SACCADE_WAYPOINTS = ((0.0, 0.0), (3.5, 7.0), (7.0, 0.0), (0.0, 0.0))


@dataclass(frozen=True)
class SaccadeEmulator:
    """Parameters of the emulated recording; ``__call__`` turns one image into events.

    ``threshold`` is the log-intensity contrast that triggers an event, ``refractory_us`` the time a
    pixel stays silent after an event, ``jitter_us`` the standard deviation of timestamp noise, and
    ``step_us`` the simulation's time step (events fall uniformly inside their step).
    """

    sensor_size: tuple[int, int, int] = (34, 34, 2)
    saccade_us: int = 105_000
    step_us: int = 1_000
    threshold: float = 0.2
    refractory_us: int = 1_000
    jitter_us: float = 100.0
    log_eps: float = 0.1

    def params(self) -> dict:
        return asdict(self)

    def positions(self) -> np.ndarray:
        """The image's offset on the sensor, ``[steps + 1, 2]`` (x, y), along the three saccades."""
        per_saccade = self.saccade_us // self.step_us
        path = [np.array(SACCADE_WAYPOINTS[0])[None]]
        for start, end in zip(SACCADE_WAYPOINTS[:-1], SACCADE_WAYPOINTS[1:]):
            fraction = np.arange(1, per_saccade + 1)[:, None] / per_saccade
            path.append(np.array(start) + fraction * (np.array(end) - np.array(start)))
        return np.concatenate(path)

    def render(self, image: np.ndarray) -> np.ndarray:
        """Log intensity seen by the sensor at every step, ``[steps + 1, H, W]`` (bilinear shifts)."""
        width, height, _ = self.sensor_size
        canvas = torch.zeros(1, 1, height, width, dtype=torch.float64)
        h, w = min(image.shape[0], height), min(image.shape[1], width)
        canvas[0, 0, :h, :w] = torch.as_tensor(image[:h, :w], dtype=torch.float64)
        shifts = torch.as_tensor(self.positions())
        theta = torch.zeros(len(shifts), 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = -2.0 * shifts[:, 0] / width   # sample at (x - dx, y - dy): the image moves by +d
        theta[:, 1, 2] = -2.0 * shifts[:, 1] / height
        grid = F.affine_grid(theta, (len(shifts), 1, height, width), align_corners=False)
        seen = F.grid_sample(canvas.expand(len(shifts), -1, -1, -1), grid, mode="bilinear",
                             padding_mode="zeros", align_corners=False)
        return torch.log(seen[:, 0] + self.log_eps).numpy()

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events (fields ``x, y, t, p``, time in microseconds, sorted) of an image ``[H, W]`` in [0, 1]."""
        image = np.asarray(image, dtype=np.float64)
        if image.ndim != 2 or not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 1:
            raise ValueError(f"the emulator expects one grey image [H, W] with values in [0, 1], got shape {image.shape}")
        log_intensity = self.render(image)
        reference = log_intensity[0].copy()
        last_event = np.full(reference.shape, -np.inf)
        chunks = []
        for step in range(1, len(log_intensity)):
            now = step * self.step_us
            change = log_intensity[step] - reference
            fires = (np.abs(change) >= self.threshold) & (now - last_event >= self.refractory_us)
            ys, xs = np.nonzero(fires)
            if len(xs) == 0:
                continue
            crossings = np.floor(np.abs(change[ys, xs]) / self.threshold)
            reference[ys, xs] += np.sign(change[ys, xs]) * crossings * self.threshold
            last_event[ys, xs] = now
            chunk = np.zeros(len(xs), dtype=EVENT_DTYPE)
            chunk["x"], chunk["y"], chunk["p"] = xs, ys, (change[ys, xs] > 0).astype(np.int64)
            chunk["t"] = now - self.step_us + rng.uniform(0, self.step_us, len(xs)) + rng.normal(0, self.jitter_us, len(xs))
            chunks.append(chunk)
        events = np.concatenate(chunks) if chunks else np.zeros(0, dtype=EVENT_DTYPE)
        events["t"] = np.clip(events["t"], 0, None)
        return events[np.argsort(events["t"], kind="stable")]


class EmulatedReader:
    """An image dataset seen through :class:`SaccadeEmulator`; sample ``i`` is emulated with its own
    seeded generator, so the events of a sample never depend on which samples were read before."""

    def __init__(self, images, name: str, emulator: SaccadeEmulator, seed: int = 0):
        self.images = images
        self.name = name
        self.emulator = emulator
        self.seed = seed
        self.labels = [int(label) for label in images.targets]

    def __len__(self) -> int:
        return len(self.images)

    def identity(self, index: int) -> str:
        return f"{self.name}|{index}|seed={self.seed}|{sorted(self.emulator.params().items())}"

    def where(self, index: int) -> str:
        return f"{self.name} sample {index}"

    def events(self, index: int) -> np.ndarray:
        image, _ = self.images[index]
        return self.emulator(image[0].numpy(), np.random.default_rng([self.seed, index]))
