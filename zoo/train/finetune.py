"""Fine-tuning a pretrained SNN on the user's own event recordings (a custom event folder): the
pretrained weight's construction arguments, with input channels, sensor size and class count taken
from the data; the stem and head adapt on load (see :func:`zoo.hub.weights.adapt_state_dict`)."""
from __future__ import annotations

from pathlib import Path

from ..data import load_dataset
from ..hub.weights import get_weights
from .config import load_recipe

FINETUNE_DEFAULTS = {"epochs": 5, "batch_size": 16, "lr": 1e-3, "val_fraction": 0.2}


def finetune_config(name: str, data: str | Path, epochs: int | None = None, batch_size: int | None = None,
                    lr: float | None = None, T: int | None = None, sensor_size: tuple[int, int, int] | None = None,
                    freeze_backbone: bool = False) -> dict:
    """The run configuration that fine-tunes the weight ``name`` (``arch`` or ``arch.tag``) on the
    custom event folder ``data``."""
    weights = get_weights(name)
    card = weights.meta
    T = T or card["T"]
    probe = load_dataset("events", root=data, split="train", T=T, sensor_size=sensor_size)
    width, height, polarities = probe.sensor_size
    kwargs = {**card["kwargs"], "T": T, "num_classes": len(probe.classes), "in_channels": polarities,
              "input_size": [height, width]}
    return load_recipe({
        "paper": card.get("paper", {}),
        "model": {"name": weights.name, "kwargs": kwargs},
        "data": {"name": "events", "root": str(data), "val_fraction": FINETUNE_DEFAULTS["val_fraction"],
                 "kwargs": {"T": T, "sensor_size": [width, height, polarities]}},
        "train": {"epochs": epochs or FINETUNE_DEFAULTS["epochs"],
                  "batch_size": batch_size or FINETUNE_DEFAULTS["batch_size"],
                  "eval_batch_size": batch_size or FINETUNE_DEFAULTS["batch_size"],
                  "lr": lr or FINETUNE_DEFAULTS["lr"], "optimizer": "adam", "schedule": "cosine", "loss": "ce",
                  "freeze": "backbone" if freeze_backbone else "none"},
    })
