"""Per-sample augmentation of a whole batch at once, drawing from the global torch RNG (saved in
checkpoints), so a resumed run sees the same augmented batches as an uninterrupted one.

Batches are images ``[B, C, H, W]`` or time-major frame sequences ``[T, B, C, H, W]``."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class BatchAugment:
    """Random horizontal flip (probability 1/2) and random crop after zero padding (a shift of up to
    ``crop_padding`` pixels), per sample; for sequences also a random, ordered subset of
    ``time_subsample`` frames (the same for the batch), as SEW's DVS Gesture recipe trains on 12 of 16
    frames. For event frames (counts, ``[T, B, P, H, W]``) also ``event_drop``: each event is kept with
    probability ``1 - event_drop`` (binomial thinning of the counts), and ``time_jitter``: a per-sample
    shift of up to that many frames, earlier or later, the emptied frames zero. ``erase``: with that
    probability a sample gets one rectangle of uniform noise in [0, 1] (Zhong et al., "Random Erasing Data
    Augmentation", AAAI 2020: 2-40% of the area, aspect ratio 0.3-3.3; a rectangle larger than the image
    is clipped to it instead of drawn again), the same rectangle in every frame of a sequence."""

    ERASE_AREA = (0.02, 0.4)
    ERASE_ASPECT = (0.3, 1 / 0.3)

    def __init__(self, hflip: bool = False, crop_padding: int = 0, time_subsample: int = 0,
                 event_drop: float = 0.0, time_jitter: int = 0, erase: float = 0.0):
        if crop_padding < 0 or time_subsample < 0 or time_jitter < 0:
            raise ValueError(f"crop_padding, time_subsample and time_jitter must be >= 0, got {crop_padding}, "
                             f"{time_subsample}, {time_jitter}")
        if not 0.0 <= event_drop < 1.0:
            raise ValueError(f"event_drop must be in [0, 1), got {event_drop}")
        if not 0.0 <= erase <= 1.0:
            raise ValueError(f"erase is a probability in [0, 1], got {erase}")
        self.hflip = bool(hflip)
        self.crop_padding = int(crop_padding)
        self.time_subsample = int(time_subsample)
        self.event_drop = float(event_drop)
        self.time_jitter = int(time_jitter)
        self.erase = float(erase)

    @property
    def active(self) -> bool:
        return (self.hflip or self.crop_padding > 0 or self.time_subsample > 0 or self.event_drop > 0
                or self.time_jitter > 0 or self.erase > 0)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.dim() not in (4, 5):
            raise ValueError(f"augmentation expects [B, C, H, W] or [T, B, C, H, W], got {list(batch.shape)}")
        if (self.event_drop or self.time_jitter) and batch.dim() != 5:
            raise ValueError("event_drop and time_jitter apply to event frames [T, B, P, H, W], "
                             f"got {list(batch.shape)}")
        if self.time_subsample and batch.dim() == 5 and self.time_subsample < batch.shape[0]:
            keep = torch.randperm(batch.shape[0])[:self.time_subsample].sort().values
            batch = batch[keep.to(batch.device)]
        if self.hflip:
            flip = (torch.rand(batch.shape[-4]) < 0.5).view(-1, 1, 1, 1).to(batch.device)
            batch = torch.where(flip, batch.flip(-1), batch)
        if self.crop_padding:
            batch = self._random_crop(batch)
        if self.event_drop:
            batch = torch.binomial(batch.round(), torch.full_like(batch, 1.0 - self.event_drop))
        if self.time_jitter:
            batch = self._jitter(batch)
        if self.erase:
            batch = self._erase(batch)
        return batch

    def _erase(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.dim() == 5:  # the same rectangle in every frame of a sample
            return _per_sample_frames(self._erase, batch)
        size, _, height, width = batch.shape
        area = height * width * torch.empty(size).uniform_(*self.ERASE_AREA)
        aspect = torch.empty(size).uniform_(*map(math.log, self.ERASE_ASPECT)).exp()
        box_h = (area * aspect).sqrt().round().clamp(1, height)
        box_w = (area / aspect).sqrt().round().clamp(1, width)
        top = (torch.rand(size) * (height - box_h + 1)).floor()
        left = (torch.rand(size) * (width - box_w + 1)).floor()
        chosen = torch.rand(size) < self.erase
        rows = torch.arange(height).view(1, -1)
        cols = torch.arange(width).view(1, -1)
        in_rows = (rows >= top.view(-1, 1)) & (rows < (top + box_h).view(-1, 1))  # [B, H]
        in_cols = (cols >= left.view(-1, 1)) & (cols < (left + box_w).view(-1, 1))  # [B, W]
        mask = (in_rows.view(size, 1, height, 1) & in_cols.view(size, 1, 1, width)) & chosen.view(-1, 1, 1, 1)
        return torch.where(mask.to(batch.device), torch.rand_like(batch), batch)

    def _jitter(self, batch: torch.Tensor) -> torch.Tensor:
        steps, size = batch.shape[:2]
        offset = torch.randint(-self.time_jitter, self.time_jitter + 1, (size,)).to(batch.device)
        source = torch.arange(steps, device=batch.device).view(-1, 1) - offset.view(1, -1)  # [T, B]
        inside = ((source >= 0) & (source < steps)).view(steps, size, 1, 1, 1)
        index = source.clamp(0, steps - 1).view(steps, size, 1, 1, 1).expand_as(batch)
        return torch.gather(batch, 0, index) * inside

    def _random_crop(self, batch: torch.Tensor) -> torch.Tensor:
        if batch.dim() == 5:  # crop every frame of a sample the same way
            return _per_sample_frames(self._random_crop, batch)
        pad = self.crop_padding
        size, channels, height, width = batch.shape
        padded = F.pad(batch, (pad, pad, pad, pad))
        top = torch.randint(0, 2 * pad + 1, (size,)).to(batch.device)
        left = torch.randint(0, 2 * pad + 1, (size,)).to(batch.device)
        rows = (top.view(-1, 1) + torch.arange(height, device=batch.device)).view(size, 1, height, 1)
        cols = (left.view(-1, 1) + torch.arange(width, device=batch.device)).view(size, 1, 1, width)
        index = torch.arange(size, device=batch.device).view(-1, 1, 1, 1)
        channel = torch.arange(channels, device=batch.device).view(1, -1, 1, 1)
        return padded[index, channel, rows, cols]

    def __repr__(self) -> str:
        return (f"BatchAugment(hflip={self.hflip}, crop_padding={self.crop_padding}, "
                f"time_subsample={self.time_subsample}, event_drop={self.event_drop}, time_jitter={self.time_jitter}, erase={self.erase})")


def _per_sample_frames(image_op, frames: torch.Tensor) -> torch.Tensor:
    """``image_op`` (per sample, on ``[B, C, H, W]``) applied to ``[T, B, C, H, W]`` with time folded into
    channels, so every frame of a sample gets the same draw."""
    steps, size = frames.shape[:2]
    folded = frames.transpose(0, 1).reshape(size, -1, *frames.shape[-2:])
    return image_op(folded).reshape(size, steps, *frames.shape[2:]).transpose(0, 1)


def time_major(batch: torch.Tensor) -> torch.Tensor:
    """A loader's batch of frame sequences ``[B, T, C, H, W]`` or feature sequences ``[B, T, F]`` as the
    models' ``[T, B, ...]``; image batches ``[B, C, H, W]`` pass through."""
    return batch.transpose(0, 1) if batch.dim() in (3, 5) else batch
