"""The exponential moving average of the weights that a run validates and keeps as its best.

With ``train.ema_warmup`` the decay grows with the schedule's step as timm's ``ModelEmaV3`` warms it up,
``min(decay, 1 - (1 + step) ** -0.75)``: the average forgets its starting point within a few hundred
steps instead of keeping ``decay ** steps`` of it (0.999 holds 70% of the initial weights after 352
steps), so the ``latest.pt`` of a short leg early in a schedule is a usable weight. The step is the
schedule's (a later leg goes on where the last stopped, the average restarting from the weight it
continues from)."""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

WARMUP_POWER = 0.75  # timm ModelEmaV3's warmup_power for runs of a few thousand steps (warmup_gamma 1)


def ema_decay_at(step: int, decay: float, warmup: bool) -> float:
    """The decay the average applies at the schedule's ``step`` (counted from 0)."""
    if not warmup:
        return decay
    return min(decay, 1.0 - (1.0 + step) ** -WARMUP_POWER)


def build_ema(model: nn.Module, decay: float, warmup: bool = False, first_step: int = 0) -> AveragedModel:
    """An average of ``model``'s parameters and buffers whose first update copies them and whose
    ``n``-th update after it blends in ``1 - ema_decay_at(first_step + n)`` of the model."""

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        decay_now = ema_decay_at(first_step + int(updates), decay, warmup)
        get_ema_multi_avg_fn(decay_now)(averaged, current, updates)  # torch's update at this step's decay

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def describe(train_cfg: dict) -> dict:
    """The card's record of a recipe's weight average (the published weights are the average's), or an empty
    mapping where it keeps none."""
    if not train_cfg.get("ema_decay"):
        return {}
    return {"ema": {"decay": train_cfg["ema_decay"], "warmup": train_cfg["ema_warmup"]}}


def recipe_keys(card_train: dict) -> dict:
    """The recipe's keys behind a card's record of its weight average (the inverse of :func:`describe`), so
    that a published weight stands in for the run it came from."""
    if "ema" not in card_train:
        return {}
    return {"ema_decay": card_train["ema"]["decay"], "ema_warmup": card_train["ema"]["warmup"]}
