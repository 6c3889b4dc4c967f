"""An event camera looking at a static image the way N-MNIST was recorded (Orchard et al. 2015):
the sensor makes three saccades along a triangle, and each pixel emits an ON/OFF event whenever its
log intensity has moved by the contrast threshold since its last event.

Emulated data is labelled as such wherever it is used (dataset names end in ``-dvs``, cards say
``emulated``): it has N-MNIST's shape and statistics, not a real sensor's noise.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

EMULATOR_VERSION = 2  # bump when the same parameters give other events, so cached frames are not reused
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

    def canvas(self, images: np.ndarray) -> torch.Tensor:
        """Images ``[N, h, w]`` placed at the sensor's top-left corner, ``[N, 1, H, W]``."""
        width, height, _ = self.sensor_size
        canvas = torch.zeros(len(images), 1, height, width, dtype=torch.float64)
        h, w = min(images.shape[1], height), min(images.shape[2], width)
        canvas[:, 0, :h, :w] = torch.as_tensor(images[:, :h, :w], dtype=torch.float64)
        return canvas

    def log_intensity(self, canvas: torch.Tensor, step: int) -> np.ndarray:
        """Log intensity the sensor sees at ``step``, ``[N, H, W]`` (the canvas shifted bilinearly)."""
        grid = self._grid()[step].expand(len(canvas), -1, -1, -1)
        seen = F.grid_sample(canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return torch.log(seen[:, 0] + self.log_eps).numpy()

    def _grid(self) -> torch.Tensor:
        """The sampling grid of every step, ``[steps + 1, 1, H, W, 2]``: the same for every image."""
        return _saccade_grid(self)

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events (fields ``x, y, t, p``, time in microseconds, sorted) of an image ``[H, W]`` in [0, 1]."""
        image = _checked(image, "one grey image [H, W]", 2)
        return self.emulate(image[None], [rng])[0]

    def emulate(self, images: np.ndarray, rngs: list[np.random.Generator]) -> list[np.ndarray]:
        """Events of every image of ``[N, H, W]`` in [0, 1], sample ``n`` drawing its noise from ``rngs[n]``
        alone: the events of an image do not depend on the others emulated with it."""
        images = _checked(images, "grey images [N, H, W]", 3)
        if len(rngs) != len(images):
            raise ValueError(f"one generator per image: {len(images)} images, {len(rngs)} generators")
        canvas = self.canvas(images)
        reference = self.log_intensity(canvas, 0)
        last_event = np.full(reference.shape, -np.inf)
        found = []  # (sample, y, x, polarity, step) of the events of each step
        for step in range(1, len(self._grid())):
            change = self.log_intensity(canvas, step) - reference
            fires = (np.abs(change) >= self.threshold) & (step * self.step_us - last_event >= self.refractory_us)
            ns, ys, xs = np.nonzero(fires)
            if len(xs) == 0:
                continue
            moved = change[ns, ys, xs]
            reference[ns, ys, xs] += np.sign(moved) * np.floor(np.abs(moved) / self.threshold) * self.threshold
            last_event[ns, ys, xs] = step * self.step_us
            found.append(np.stack([ns, ys, xs, moved > 0, np.full(len(xs), step)]))
        found = np.concatenate(found, axis=1) if found else np.zeros((5, 0), dtype=np.int64)
        found = found[:, np.argsort(found[0], kind="stable")]  # by sample, steps still in order
        bounds = np.searchsorted(found[0], np.arange(len(images) + 1))
        return [self._timestamped(found[1:, a:b], rng) for a, b, rng in zip(bounds[:-1], bounds[1:], rngs)]

    def _timestamped(self, found: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events of one image from its ``(y, x, polarity, step)`` rows: uniform inside the step plus
        timestamp noise, sorted by time."""
        ys, xs, polarity, steps = found
        events = np.zeros(len(xs), dtype=EVENT_DTYPE)
        events["x"], events["y"], events["p"] = xs, ys, polarity
        start = (steps - 1) * self.step_us
        events["t"] = np.clip(start + rng.uniform(0, self.step_us, len(xs)) + rng.normal(0, self.jitter_us, len(xs)),
                              0, None)
        return events[np.argsort(events["t"], kind="stable")]


def _checked(images, layout: str, ndim: int) -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if (images.ndim != ndim or not np.all(np.isfinite(images)) or images.min(initial=0) < 0
            or images.max(initial=0) > 1):
        raise ValueError(f"the emulator expects {layout} with values in [0, 1], got shape {images.shape}")
    return images


@functools.lru_cache(maxsize=4)
def _saccade_grid(emulator: SaccadeEmulator) -> torch.Tensor:
    width, height, _ = emulator.sensor_size
    shifts = torch.as_tensor(emulator.positions())
    theta = torch.zeros(len(shifts), 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * shifts[:, 0] / width   # sample at (x - dx, y - dy): the image moves by +d
    theta[:, 1, 2] = -2.0 * shifts[:, 1] / height
    grid = F.affine_grid(theta, (len(shifts), 1, height, width), align_corners=False)
    return grid[:, None]


class EmulatedReader:
    """An image dataset seen through :class:`SaccadeEmulator`; sample ``i`` is emulated with its own
    seeded generator, so the events of a sample never depend on which samples were read before.

    Samples are emulated ``block`` at a time (one vectorised pass is far faster than one per image) and
    the last block is kept, so reading in order emulates every sample once.
    """

    def __init__(self, images, name: str, emulator: SaccadeEmulator, seed: int = 0, block: int = 64):
        self.images = images
        self.name = name
        self.emulator = emulator
        self.seed = seed
        self.block = block
        self.labels = [int(label) for label in images.targets]
        self._kept: tuple[int, list[np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def identity(self, index: int) -> str:
        return (f"{self.name}|{index}|seed={self.seed}|v{EMULATOR_VERSION}|"
                f"{sorted(self.emulator.params().items())}")

    def where(self, index: int) -> str:
        return f"{self.name} sample {index}"

    def events(self, index: int) -> np.ndarray:
        first = index - index % self.block
        if self._kept is None or self._kept[0] != first:
            indices = range(first, min(first + self.block, len(self)))
            images = np.stack([self.images[i][0][0].numpy() for i in indices])
            self._kept = first, self.emulator.emulate(images, [np.random.default_rng([self.seed, i]) for i in indices])
        return self._kept[1][index - first]
