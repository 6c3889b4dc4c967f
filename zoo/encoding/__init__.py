"""Input encodings that turn a static image ``[B, ...]`` in [0, 1] into a spike/current sequence
``[T, B, ...]``. They live inside the models, so hub users feed plain images.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["DirectEncoder", "RateEncoder", "LatencyEncoder", "DeltaEncoder", "RowEncoder", "PixelEncoder",
           "delta_decode", "image_to_sequence", "ENCODERS", "build_encoder"]


class DirectEncoder(nn.Module):
    """The analog image repeated at every step; the first layer turns it into spikes."""

    def __init__(self, T: int):
        super().__init__()
        self.T = T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0).expand(self.T, *x.shape)

    def extra_repr(self) -> str:
        return f"T={self.T}"


class RateEncoder(nn.Module):
    """Rate code over ``T`` steps (STBP's input coding is ``bernoulli``).

    ``bernoulli``: a pixel spikes at each step with probability equal to its intensity, so the mean
    firing rate estimates the intensity. ``poisson``: spikes of a Poisson process of ``max_rate * x``
    events per step, reported per step as "at least one event" (probability ``1 - exp(-max_rate x)``).
    """

    def __init__(self, T: int, mode: str = "bernoulli", max_rate: float = 1.0):
        super().__init__()
        if mode not in ("bernoulli", "poisson"):
            raise ValueError(f"rate mode must be 'bernoulli' or 'poisson', got {mode!r}")
        if max_rate <= 0:
            raise ValueError(f"max_rate must be positive, got {max_rate}")
        self.T, self.mode, self.max_rate = T, mode, max_rate

    def spike_probability(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0.0, 1.0)
        if self.mode == "bernoulli":
            return x
        return -torch.expm1(-self.max_rate * x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.rand((self.T, *x.shape), device=x.device, dtype=x.dtype)
        return (noise < self.spike_probability(x)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"T={self.T}, mode={self.mode}" + (f", max_rate={self.max_rate}" if self.mode == "poisson" else "")


class LatencyEncoder(nn.Module):
    """Time-to-first-spike code: one spike per pixel, brighter pixels earlier.

    ``linear``: ``t = round((T - 1)(1 - x))``. ``log``: ``t = round((T - 1) - ln(1 + a x))`` with
    ``a = e^(T-1) - 1`` (SpikingJelly's convention), which spreads bright pixels over more steps.
    ``rc``: ``t = floor(tau ln(x / (x - threshold)))``, the time an RC membrane driven by the pixel
    intensity takes to reach ``threshold`` (Zenke's SuperSpike tutorials, the sparse-gradient paper);
    spikes later than ``T - 1`` are dropped. Pixels at or below ``threshold`` do not fire.
    """

    def __init__(self, T: int, mode: str = "linear", threshold: float = 0.0, tau: float = 20.0):
        super().__init__()
        if mode not in ("linear", "log", "rc"):
            raise ValueError(f"latency mode must be 'linear', 'log' or 'rc', got {mode!r}")
        if mode == "rc" and (threshold <= 0 or tau <= 0):
            raise ValueError(f"rc latency needs a positive threshold and tau, got {threshold}, {tau}")
        self.T, self.mode, self.threshold, self.tau = T, mode, threshold, tau

    def spike_times(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clamp(0.0, 1.0)
        if self.mode == "rc":
            above = x.clamp(min=self.threshold + 1e-7)
            return torch.floor(self.tau * torch.log(above / (above - self.threshold))).clamp(max=self.T).long()
        if self.mode == "linear":
            t = (self.T - 1) * (1.0 - x)
        else:
            t = (self.T - 1) - torch.log1p(math.expm1(self.T - 1) * x)
        return t.round().long()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        times = self.spike_times(x)
        steps = torch.arange(self.T, device=x.device).view(-1, *([1] * x.dim()))
        fires = (x > self.threshold).unsqueeze(0)
        return ((steps == times.unsqueeze(0)) & fires).to(x.dtype)

    def extra_repr(self) -> str:
        return f"T={self.T}, mode={self.mode}, threshold={self.threshold}" + (f", tau={self.tau}" if self.mode == "rc" else "")


class DeltaEncoder(nn.Module):
    """Delta modulation of a sequence ``[T, B, ...]`` into ON/OFF spikes ``[T, B, 2, ...]``.

    A spike is sent whenever the signal moves a full ``threshold`` away from the receiver's running
    reconstruction, so :func:`delta_decode` recovers the signal to within one threshold. For static
    images use a time-varying signal first (e.g. an emulated saccade).
    """

    def __init__(self, threshold: float = 0.1):
        super().__init__()
        if threshold <= 0:
            raise ValueError(f"delta threshold must be positive, got {threshold}")
        self.threshold = threshold

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        reference = seq[0].clone()
        out = []
        for frame in seq:
            change = frame - reference
            on = change >= self.threshold
            off = change <= -self.threshold
            # a spike count: how many whole thresholds the signal moved, so big jumps are kept
            steps = torch.trunc(change / self.threshold)
            reference = reference + steps * self.threshold
            out.append(torch.stack([on, off], dim=1).to(seq.dtype) * steps.abs().unsqueeze(1))
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


def delta_decode(spikes: torch.Tensor, threshold: float, initial: torch.Tensor) -> torch.Tensor:
    """Rebuild the signal from :class:`DeltaEncoder` output and the first frame."""
    steps = (spikes[:, :, 0] - spikes[:, :, 1]) * threshold
    return initial.unsqueeze(0) + steps.cumsum(dim=0)


def image_to_sequence(images: torch.Tensor, order: str) -> torch.Tensor:
    """Images ``[..., C, H, W]`` read as sequences, the sequential-MNIST tasks of recurrent nets:
    ``rows`` gives ``[H, ..., C * W]`` (one row per step, top to bottom), ``pixels`` gives
    ``[H * W, ..., C]`` (one pixel per step in reading order)."""
    if order not in ("rows", "pixels"):
        raise ValueError(f"sequence order must be 'rows' or 'pixels', got {order!r}")
    c, h, w = images.shape[-3:]
    batch = images.shape[:-3]
    if order == "rows":  # [..., C, H, W] -> [H, ..., C, W] -> [H, ..., C * W]
        return images.movedim(-2, 0).reshape(h, *batch, c * w)
    return images.flatten(-2).movedim(-1, 0).reshape(h * w, *batch, c)


class RowEncoder(nn.Module):
    """An image read one row per step: ``[B, C, H, W]`` -> ``[H, B, C * W]``; ``T`` must be ``H``."""

    order = "rows"

    def __init__(self, T: int):
        super().__init__()
        self.T = T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = image_to_sequence(x, self.order)
        if seq.shape[0] != self.T:
            raise ValueError(f"{type(self).__name__} reads {self.T} steps, but the image gives {seq.shape[0]} "
                             f"(shape {list(x.shape)})")
        return seq

    def extra_repr(self) -> str:
        return f"T={self.T}"


class PixelEncoder(RowEncoder):
    """An image read one pixel per step: ``[B, C, H, W]`` -> ``[H * W, B, C]``; ``T`` must be ``H * W``."""

    order = "pixels"


ENCODERS = {"direct": DirectEncoder, "rate": RateEncoder, "latency": LatencyEncoder, "rows": RowEncoder,
            "pixels": PixelEncoder}


def build_encoder(name: str, T: int, **kwargs) -> nn.Module:
    """Encoder for static images by name: ``direct``, ``rate``, ``latency``, or ``rows``/``pixels``
    (an image read as a sequence)."""
    try:
        cls = ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; choose from {', '.join(ENCODERS)}") from None
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive number of time steps, got {T!r}")
    return cls(T, **kwargs)
