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

EMULATOR_VERSION = 3  # bump when the same parameters give other events, so cached frames are not reused
EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
# N-MNIST's saccade path in pixels (x, y): up-right, down-right, back left
SACCADE_WAYPOINTS = ((0.0, 0.0), (3.5, 7.0), (7.0, 0.0), (0.0, 0.0))
PROFILES = ("linear", "smooth")
THRESHOLD_DRAWS = 64  # thresholds drawn ahead per pixel when they vary from event to event (then cycled)
IMAGE_CENTRE = 14.0  # the centre of a 28x28 image at the sensor's top-left corner, in pixels


@dataclass(frozen=True)
class SaccadeEmulator:
    """Parameters of the emulated recording; ``__call__`` turns one image into events.

    ``threshold_on``/``threshold_off`` are the log-intensity contrasts that trigger an ON/OFF event,
    ``refractory_us`` the time a pixel stays silent after an event, ``jitter_us`` the standard deviation
    of timestamp noise, and ``step_us`` the simulation's time step (events fall uniformly inside their
    step). The three saccades run back to back, ``saccade_us`` each, unless ``saccades_us`` gives each one's
    ``(start, duration)``; ``profile`` is their velocity over time: ``linear`` (constant) or ``smooth``
    (a raised cosine: each saccade starts and stops at rest, as the sensor's pan-tilt unit does).
    ``offset`` places the image on the sensor (pixels, x and y), ``blur_sigma`` is the optics' Gaussian
    blur in pixels, ``bandwidth_us`` the time constant of the photoreceptor's low-pass (0: none; the
    events trail a moving edge), ``noise_hz`` the rate of background events per pixel (random polarity and
    time) over ``duration_us`` (the saccades' end when ``None``), ``hot_pixels`` the sensor's pixels that fire
    far more, ``(x, y, events per second)``, ``path`` holds the saccades' waypoints (x, y in pixels; N-MNIST's
    triangle by default), ``amplitude`` scales the path in x and y, and
    ``scale`` magnifies the image about its centre (the monitor's image on the sensor), and
    ``threshold_sigma`` is the spread of a pixel's threshold from one event to the next, relative to its mean;
    ``dark_digit`` shows the image inverted, a dark digit on a bright screen (the real recordings' polarity).

    The defaults are the zoo's first emulator (the events of ``fashion-mnist-dvs``); :data:`PRESETS`
    names them ``uniform`` beside ``atis``, the parameters fitted to real N-MNIST recordings.
    """

    sensor_size: tuple[int, int, int] = (34, 34, 2)
    saccade_us: int = 105_000
    step_us: int = 1_000
    threshold_on: float = 0.2
    threshold_off: float = 0.2
    refractory_us: int = 1_000
    jitter_us: float = 100.0
    log_eps: float = 0.1
    saccades_us: tuple[tuple[int, int], ...] | None = None
    profile: str = "linear"
    duration_us: int | None = None
    offset: tuple[float, float] = (0.0, 0.0)
    blur_sigma: float = 0.0
    bandwidth_us: float = 0.0
    noise_hz: float = 0.0
    path: tuple[tuple[float, float], ...] = SACCADE_WAYPOINTS
    amplitude: tuple[float, float] = (1.0, 1.0)
    scale: float = 1.0
    threshold_sigma: float = 0.0
    dark_digit: bool = False
    hot_pixels: tuple[tuple[int, int, float], ...] = ()

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if min(self.threshold_on, self.threshold_off) <= 0:
            raise ValueError(f"contrast thresholds must be positive, got {self.threshold_on}, {self.threshold_off}")
        if len(self.path) != len(SACCADE_WAYPOINTS):
            raise ValueError(f"path holds {len(SACCADE_WAYPOINTS)} (x, y) waypoints, got {self.path!r}")
        if self.saccades_us is not None:
            if len(self.saccades_us) != len(SACCADE_WAYPOINTS) - 1:
                raise ValueError(f"saccades_us holds one (start, duration) per saccade, "
                                 f"{len(SACCADE_WAYPOINTS) - 1}; got {self.saccades_us!r}")
            if any(start % self.step_us or duration % self.step_us or duration <= 0 or start < 0
                   for start, duration in self.saccades_us):
                raise ValueError(f"saccade starts and durations are positive multiples of step_us "
                                 f"({self.step_us}); got {self.saccades_us!r}")

    def timing(self) -> tuple[tuple[int, int], ...]:
        """Each saccade's ``(start, duration)`` in microseconds."""
        if self.saccades_us is not None:
            return tuple(tuple(int(v) for v in saccade) for saccade in self.saccades_us)
        return tuple((n * self.saccade_us, self.saccade_us) for n in range(len(SACCADE_WAYPOINTS) - 1))

    def total_us(self) -> int:
        """The recording's length: ``duration_us``, or the end of the last saccade."""
        end = max(start + duration for start, duration in self.timing())
        return int(self.duration_us) if self.duration_us is not None else end

    def params(self) -> dict:
        return asdict(self)

    def positions(self) -> np.ndarray:
        """The image's offset on the sensor at every step, ``[steps + 1, 2]`` (x, y), along the saccades."""
        steps = np.arange(self.total_us() // self.step_us + 1)
        position = np.tile(np.array(SACCADE_WAYPOINTS[0]) + np.array(self.offset), (len(steps), 1))
        waypoints = [(x * self.amplitude[0], y * self.amplitude[1]) for x, y in self.path]
        for (start, duration), begin, end in zip(self.timing(), waypoints[:-1], waypoints[1:]):
            moving = steps > start // self.step_us
            fraction = np.minimum(steps[moving] - start // self.step_us, duration // self.step_us)
            fraction = fraction[:, None] / (duration // self.step_us)
            if self.profile == "smooth":
                fraction = (1 - np.cos(np.pi * fraction)) / 2
            position[moving] = np.array(begin) + np.array(self.offset) + fraction * (np.array(end) - np.array(begin))
        return position

    def canvas(self, images: np.ndarray) -> torch.Tensor:
        """Images ``[N, h, w]`` placed at the sensor's top-left corner, ``[N, 1, H, W]``."""
        width, height, _ = self.sensor_size
        canvas = torch.zeros(len(images), 1, height, width, dtype=torch.float64)
        h, w = min(images.shape[1], height), min(images.shape[2], width)
        canvas[:, 0, :h, :w] = torch.as_tensor(images[:, :h, :w], dtype=torch.float64)
        canvas = _blurred(canvas, self.blur_sigma)
        return 1.0 - canvas if self.dark_digit else canvas

    def log_intensity(self, canvas: torch.Tensor, step: int) -> np.ndarray:
        """Log intensity the sensor sees at ``step``, ``[N, H, W]`` (the canvas shifted bilinearly)."""
        grid = self._grid()[step].expand(len(canvas), -1, -1, -1)
        padding = "border" if self.dark_digit else "zeros"  # a bright screen goes on beyond the sensor's view
        seen = F.grid_sample(canvas, grid, mode="bilinear", padding_mode=padding, align_corners=False)
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
        seen = reference.copy()  # what the photoreceptor reports: the log intensity through its low-pass
        smoothing = 1.0 - np.exp(-self.step_us / self.bandwidth_us) if self.bandwidth_us > 0 else 1.0
        last_event = np.full(reference.shape, -np.inf)
        gains = self._threshold_gains(reference.shape, rngs)
        fired = np.zeros(reference.shape, dtype=np.int64)
        found = []  # (sample, y, x, polarity, step) of the events of each step
        for step in range(1, len(self._grid())):
            now = self.log_intensity(canvas, step)
            seen = now if smoothing == 1.0 else seen + smoothing * (now - seen)
            change = seen - reference
            gain = 1.0 if gains is None else np.take_along_axis(gains, (fired % THRESHOLD_DRAWS)[None], 0)[0]
            on, off = self.threshold_on * gain, self.threshold_off * gain
            fires = (((change >= on) | (change <= -off)) & (step * self.step_us - last_event >= self.refractory_us))
            ns, ys, xs = np.nonzero(fires)
            if len(xs) == 0:
                continue
            moved = change[ns, ys, xs]
            if gains is not None:
                on, off = on[ns, ys, xs], off[ns, ys, xs]
            reference[ns, ys, xs] += np.where(moved > 0, np.floor(moved / on) * on, -np.floor(-moved / off) * off)
            last_event[ns, ys, xs] = step * self.step_us
            fired[ns, ys, xs] += 1
            found.append(np.stack([ns, ys, xs, moved > 0, np.full(len(xs), step)]))
        found = np.concatenate(found, axis=1) if found else np.zeros((5, 0), dtype=np.int64)
        found = found[:, np.argsort(found[0], kind="stable")]  # by sample, steps still in order
        bounds = np.searchsorted(found[0], np.arange(len(images) + 1))
        return [self._timestamped(found[1:, a:b], rng) for a, b, rng in zip(bounds[:-1], bounds[1:], rngs)]

    def _threshold_gains(self, shape: tuple[int, ...], rngs: list[np.random.Generator]) -> np.ndarray | None:
        """Each pixel's threshold relative to its mean for its next :data:`THRESHOLD_DRAWS` events,
        ``[draws, N, H, W]`` (drawn once per sample, before its other noise); ``None`` without threshold noise."""
        if self.threshold_sigma <= 0:
            return None
        _, height, width = shape
        draws = [np.clip(rng.normal(1.0, self.threshold_sigma, (THRESHOLD_DRAWS, height, width)), 0.1, None)
                 for rng in rngs]
        return np.stack(draws, axis=1)

    def _timestamped(self, found: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events of one image from its ``(y, x, polarity, step)`` rows: uniform inside the step plus
        timestamp noise, sorted by time."""
        ys, xs, polarity, steps = found
        events = np.zeros(len(xs), dtype=EVENT_DTYPE)
        events["x"], events["y"], events["p"] = xs, ys, polarity
        start = (steps - 1) * self.step_us
        events["t"] = np.clip(start + rng.uniform(0, self.step_us, len(xs)) + rng.normal(0, self.jitter_us, len(xs)),
                              0, None)
        if self.noise_hz > 0 or self.hot_pixels:
            events = np.concatenate([events, self._background(rng)])
        return events[np.argsort(events["t"], kind="stable")]

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """The sensor's background activity: ``noise_hz`` events per pixel per second, each at a random
        pixel, time and polarity, and the hot pixels' events (drawn after the digit's events, so noise-free
        parameters keep theirs)."""
        width, height, _ = self.sensor_size
        count = rng.poisson(self.noise_hz * width * height * self.total_us() / 1e6)
        noise = np.zeros(count, dtype=EVENT_DTYPE)
        noise["x"], noise["y"] = rng.integers(0, width, count), rng.integers(0, height, count)
        noise["t"], noise["p"] = rng.integers(0, self.total_us(), count), rng.integers(0, 2, count)
        hot = []
        for x, y, rate_hz in self.hot_pixels:
            events = np.zeros(rng.poisson(rate_hz * self.total_us() / 1e6), dtype=EVENT_DTYPE)
            events["x"], events["y"] = x, y
            events["t"], events["p"] = rng.integers(0, self.total_us(), len(events)), rng.integers(0, 2, len(events))
            hot.append(events)
        return np.concatenate([noise, *hot])


def _blurred(canvas: torch.Tensor, sigma: float) -> torch.Tensor:
    """``canvas`` through a normalised Gaussian of ``sigma`` pixels (the optics), zeros beyond the edge."""
    if sigma <= 0:
        return canvas
    radius = int(np.ceil(3 * sigma))
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2 / (2 * sigma ** 2))
    taps = taps / taps.sum()
    canvas = F.conv2d(canvas, taps.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(canvas, taps.view(1, 1, -1, 1), padding=(radius, 0))


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
    if emulator.scale == 1.0:
        theta[:, 0, 2] = -2.0 * shifts[:, 0] / width   # sample at (x - dx, y - dy): the image moves by +d
        theta[:, 1, 2] = -2.0 * shifts[:, 1] / height
    else:  # sample at c + (x - dx - c) / scale: the image magnified about its centre c, then moved by +d
        centre, inverse = IMAGE_CENTRE, 1.0 / emulator.scale
        theta[:, 0, 0] = theta[:, 1, 1] = inverse
        theta[:, 0, 2] = inverse - 1 + 2.0 / width * (centre - (shifts[:, 0] + centre) * inverse)
        theta[:, 1, 2] = inverse - 1 + 2.0 / height * (centre - (shifts[:, 1] + centre) * inverse)
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


# named emulators: ``uniform`` is the first one (the events of ``fashion-mnist-dvs``), ``atis`` the
# parameters fitted to real N-MNIST recordings (examples/calibrate_emulator.py, docs/emulator)
PRESETS = {
    "uniform": SaccadeEmulator(),
    "atis": SaccadeEmulator(
        threshold_on=0.086,
        threshold_off=0.086,
        refractory_us=2000,
        jitter_us=2500.0,
        log_eps=2.0,
        saccades_us=((8000, 86000), (107000, 93000), (217000, 88000)),
        profile='smooth',
        duration_us=310000,
        offset=(-0.5, 0.625),
        noise_hz=0.175,
        path=((0.0, 0.0), (2.125, 7.0), (7.375, -0.0625), (0.0, 0.0)),
        scale=0.99,
        dark_digit=True,
        hot_pixels=((7, 15, 15.8), (18, 30, 43.0))),
}
