"""Fine-tuning a pretrained SNN on the user's own event recordings (a custom event folder), with defaults
made for tens to hundreds of recordings.

Small data needs steps, not epochs: 60 recordings at batch 16 are 4 steps an epoch, so the run gets a
budget of optimizer steps. The read-out learns at ``lr``, the pretrained body at a tenth of it, so the
first steps' gradients of a new head do not wash out what the body learnt. A folder with the pretrained
classes (by name) keeps the pretrained read-out, its outputs reordered to the folder's (sorted) class
order; any other folder gets a new read-out. Batches are drawn class-balanced; recordings are augmented
the way sensors vary (shifts of a few pixels, dropped events, frames a step early or late; no flips, which
would swap classes told apart by direction or side).

The run validates and checkpoints ten times over its budget, not after every epoch of two or three steps,
and keeps the best validation checkpoint. A validation split of a few tens of recordings is too coarse to
stop on (one recording moves it by several points, and it reads 100% long before the test does), so below
:data:`TRUSTED_VALIDATION` recordings the run uses its whole budget and a tie with the best goes to the
later, better trained checkpoint; above it, the run stops after a third of the budget without a better
validation.

Another sensor size is kept as it is (``adapt="native"``): the convolutions run on any size and the
new read-out takes what the last pooling leaves. ``adapt="resize"`` averages frames down (or up) to the
pretrained input size instead; on the toy folders of ``docs/finetune`` it transferred worse (80% against
95% on motion, 50% against 100% on polarity). Each choice is printed, saved in the run's config and in
the card.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

from ..data import load_dataset
from ..data.events import FOLDER_SPLIT, FolderReader
from ..errors import ZooError
from ..hub.weights import get_weights
from .config import load_recipe

log = logging.getLogger("zoo")

FINETUNE_DEFAULTS = {"min_steps": 300, "batch_size": 16, "lr": 1e-3, "backbone_lr_scale": 0.1,
                     "val_fraction": 0.2, "validations": 10, "patience_fraction": 1 / 3, "adapt": "native"}
TRUSTED_VALIDATION = 50  # fewer validation recordings than this: no early stop, ties go to the later checkpoint
AUGMENTATIONS = {"default": {"crop_padding": 2, "event_drop": 0.1, "time_jitter": 1, "hflip": False},
                 "none": {"crop_padding": 0, "event_drop": 0.0, "time_jitter": 0, "hflip": False}}
ADAPTATIONS = ("native", "resize")


def warn_mixed_sensors(reader: FolderReader, extents: list[tuple[int, int]]) -> None:
    """Warn when some recordings stay within half the sensor inferred from all of them in both directions:
    they were most likely recorded with a smaller sensor, and their events would land in one corner."""
    width, height = max(w for w, _ in extents), max(h for _, h in extents)
    small = [i for i, (w, h) in enumerate(extents) if 0 < w <= width // 2 and 0 < h <= height // 2]
    if small:
        w, h = extents[small[0]]
        log.warning("%d of %d recordings (e.g. %s, events within %dx%d) use less than half of the %dx%d sensor "
                    "inferred from the folder in both directions: mixed sensor sizes? Pass --sensor-size W H P if "
                    "they belong together", len(small), len(extents), reader.where(small[0]), w, h, width, height)


def check_event_folder(data: str | Path) -> dict[str, int]:
    """Recordings per class of a folder meant for fine-tuning; one clear error for a folder that cannot
    give a train and a test split of every class, a warning for recordings that look like another sensor's."""
    return _check_folder(data)[0]


def _check_folder(data: str | Path) -> tuple[dict[str, int], FolderReader, list[tuple[int, int]]]:
    """:func:`check_event_folder`'s counts, with the reader and every file's extent (each file read once)."""
    reader = FolderReader(data)
    counts = Counter(reader.classes[label] for label in reader.labels)
    if len(reader.classes) < 2:
        raise ZooError(f"{data} holds one class ({reader.classes[0]}); fine-tuning a classifier needs at "
                       f"least two class folders")
    few = [name for name in reader.classes if round(counts[name] * FOLDER_SPLIT["train_fraction"]) < 2
           or counts[name] - round(counts[name] * FOLDER_SPLIT["train_fraction"]) < 1]
    if few:
        raise ZooError(f"class folder(s) {', '.join(f'{n} ({counts[n]})' for n in few)} in {data} have too "
                       f"few recordings: each class needs at least 3 (two to train and validate, one to test)")
    extents = reader.extents()
    warn_mixed_sensors(reader, extents)
    return {name: counts[name] for name in reader.classes}, reader, extents


def finetune_config(name: str, data: str | Path, epochs: int | None = None, steps: int | None = None,
                    batch_size: int | None = None, lr: float | None = None, T: int | None = None,
                    sensor_size: tuple[int, int, int] | None = None, freeze_backbone: bool = False,
                    augment: str = "default", adapt: str | None = None) -> dict:
    """The run configuration that fine-tunes the weight ``name`` (``arch`` or ``arch.tag``) on the
    custom event folder ``data``; its ``finetune`` entry lists every choice and why (for the card)."""
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
    adapt = adapt or FINETUNE_DEFAULTS["adapt"]
    if adapt not in ADAPTATIONS:
        raise ValueError(f"adapt must be one of {', '.join(ADAPTATIONS)}, got {adapt!r}")
    weights = get_weights(name)
    card = weights.meta
    counts, reader, extents = _check_folder(data)
    T = T or card["T"]
    sensor_size = sensor_size or reader.infer_sensor_size(extents)  # the files were just read: not again
    probe = load_dataset("events", root=data, split="train", T=T, sensor_size=sensor_size)
    width, height, polarities = probe.sensor_size
    pretrained_size = list(card["input_shape"][1:]) if len(card.get("input_shape", [])) == 3 else None
    resize = pretrained_size if adapt == "resize" and pretrained_size else None
    input_size = resize or [height, width]
    batch_size = batch_size or FINETUNE_DEFAULTS["batch_size"]
    train_count = round(len(probe) * (1 - FINETUNE_DEFAULTS["val_fraction"]))
    val_count = len(probe) - train_count
    per_epoch = math.ceil(train_count / batch_size)
    if steps is None and epochs is None:
        steps = max(FINETUNE_DEFAULTS["min_steps"], 5 * per_epoch)
    budget_steps = steps or epochs * per_epoch
    val_every = math.ceil(budget_steps / FINETUNE_DEFAULTS["validations"])
    trusted = val_count >= TRUSTED_VALIDATION
    patience = max(2, round(FINETUNE_DEFAULTS["patience_fraction"] * budget_steps / val_every)) if trusted else 0
    kwargs = {**card["kwargs"], "T": T, "num_classes": len(probe.classes), "in_channels": polarities,
              "input_size": input_size}
    data_kwargs = {"T": T, "sensor_size": [width, height, polarities], **({"resize": resize} if resize else {})}
    train = {"epochs": epochs or 1, "steps": steps or 0, "batch_size": batch_size, "eval_batch_size": batch_size,
             "lr": lr or FINETUNE_DEFAULTS["lr"], "optimizer": "adam", "schedule": "cosine", "loss": "ce",
             "freeze": "backbone" if freeze_backbone else "none",
             "backbone_lr_scale": 1.0 if freeze_backbone else FINETUNE_DEFAULTS["backbone_lr_scale"],
             "balanced": True, "early_stop": patience, "val_every": val_every, "checkpoint_every": val_every,
             "ties_to_later": not trusted}
    head, head_choice = read_out_plan(card.get("classes"), probe.classes)
    config = load_recipe({
        "paper": card.get("paper", {}),
        "model": {"name": weights.name, "kwargs": kwargs, "head": head},
        "data": {"name": "events", "root": str(data), "val_fraction": FINETUNE_DEFAULTS["val_fraction"],
                 "kwargs": data_kwargs, "augment": AUGMENTATIONS[augment]},
        "train": train,
    })
    budget = (f"{train['steps']} steps ({train['steps'] / per_epoch:.0f} epochs of {per_epoch})" if train["steps"]
              else f"{train['epochs']} epochs of {per_epoch} steps")
    choices = {
        "budget": f"{budget}: small folders get at least {FINETUNE_DEFAULTS['min_steps']} steps",
        "learning rate": (f"{train['lr']:g} for the read-out, " + ("the body frozen" if freeze_backbone else
                          f"{train['lr'] * train['backbone_lr_scale']:g} for the pretrained body")),
        "read-out": head_choice,
        "sampling": "class-balanced batches",
        "augmentation": ", ".join(f"{k}={v}" for k, v in AUGMENTATIONS[augment].items()) + f" ({augment})",
        "validation": (f"every {val_every} steps on {val_count} recordings; the best is kept"
                       + ("" if trusted else ", a tie going to the later one")),
        "early stop": (f"after {patience} validations ({patience * val_every} steps) without a better one" if trusted
                       else f"none: {val_count} validation recordings are too few to stop on (one moves it by "
                            f"{100 / max(1, val_count):.0f} points); the whole budget runs"),
        "sensor": (f"{width}x{height}x{polarities} " + (f"resized to the pretrained {input_size[1]}x{input_size[0]}"
                   if resize else f"kept as it is (pretrained on {pretrained_size[1]}x{pretrained_size[0]}): "
                   "the convolutions run on any size and the new read-out takes what the last pooling leaves"
                   if pretrained_size else "kept as it is")),
        "data": f"{sum(counts.values())} recordings in {len(counts)} classes: "
                + ", ".join(f"{k} {v}" for k, v in counts.items()),
    }
    config["finetune"] = {"choices": choices, "adapt": adapt, "augment": augment, "folder": str(Path(data).resolve()),
                          "classes": list(counts), "counts": counts}
    return config


def read_out_plan(pretrained: list[str] | None, classes: list[str]) -> tuple[str | list[int], str]:
    """What to do with the pretrained read-out: reorder its outputs when the folder holds the same classes
    (folder names sort them differently), start it afresh otherwise; with the reason, for the log."""
    names = [name.replace("/", "_").replace("\\", "_") for name in pretrained or []]  # as folder names
    if names and sorted(names) == sorted(classes):
        order = [names.index(name) for name in classes]
        if order == list(range(len(order))):
            return "keep", "the pretrained read-out: the folder has the same classes"
        return order, "the pretrained read-out, its outputs reordered to the folder's classes (same names)"
    return "reset", "new (the folder's classes are not the pretrained ones)"


def print_choices(config: dict) -> None:
    """The fine-tuning choices, one line each, before the run starts."""
    log.info("fine-tuning %s:", config["model"]["name"])
    for key, value in config["finetune"]["choices"].items():
        log.info("  %-13s %s", key, value)
