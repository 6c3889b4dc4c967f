"""``zoo convert``: a trained ReLU network's checkpoint becomes a shipped, converted SNN weight whose
card holds the SNN's accuracy at several T next to the ANN's, each measured here."""
from __future__ import annotations

from pathlib import Path

import torch

from ..convert import CALIBRATIONS, convert
from ..data import load_dataset
from ..train.checkpoint import load_checkpoint
from ..train.evaluate import evaluate
from .publish import check_tag, publish_model, write_card
from .registry import create_model, model_entry
from .weights import REPO_WEIGHTS, Weights, load_into

SWEEP = (4, 8, 16, 32, 64)


def calibration_batches(train_set, images: int, batch_size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """``images`` training images in a seeded random order, as batches (labels are not used)."""
    if images < 1:
        raise ValueError(f"calibration needs at least one image, got {images}")
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))[:images]
    return list(torch.stack([train_set[int(i)][0] for i in order]).split(batch_size))


def convert_checkpoint(checkpoint: str | Path, tag: str, T: int = 32, percentile: float = 99.99,
                       calibrate: str = "bias", calibration_images: int = 1024, sweep: tuple[int, ...] = SWEEP,
                       out_dir: str | Path | None = None, default: bool = False, batch_size: int = 500,
                       progress: bool = True) -> dict:
    """Convert the ANN of ``checkpoint`` (an ``ann_*`` training run) and publish it as
    ``converted_*.<tag>`` with ``T`` steps; the card also records the ANN's test accuracy and the
    SNN's at every T of ``sweep``."""
    check_tag(tag)
    if calibrate not in CALIBRATIONS:
        raise ValueError(f"calibrate must be one of {', '.join(CALIBRATIONS)}, got {calibrate!r}")
    if any(t < 1 for t in (T, *sweep)):
        raise ValueError(f"time steps must be positive, got T={T} and sweep {list(sweep)}")
    checkpoint = Path(checkpoint)
    state = load_checkpoint(checkpoint)
    config = state["config"]
    ann_arch = config["model"]["name"].partition(".")[0]
    if not ann_arch.startswith("ann_"):
        raise ValueError(f"zoo convert takes a checkpoint of a ReLU network (an ann_* architecture), got {ann_arch}")
    arch = "converted_" + ann_arch[len("ann_"):]
    model_entry(arch)  # an unknown converted architecture fails here, naming close ones
    data_cfg = config["data"]
    data_kwargs = data_cfg.get("kwargs", {})
    train_set = load_dataset(data_cfg["name"], root=data_cfg["root"], split="train", **data_kwargs)
    test_set = load_dataset(data_cfg["name"], root=data_cfg["root"], split="test", **data_kwargs)
    ann_kwargs = {"num_classes": len(test_set.classes), **config["model"]["kwargs"]}
    ann = create_model(ann_arch, **ann_kwargs)
    ann.load_state_dict(state["model"])
    ann.eval()
    seed = config["train"]["eval_seed"]
    ann_acc1 = evaluate(ann, test_set, batch_size=batch_size, seed=seed, progress=progress, desc="ANN test")["acc1"]
    snn = convert(ann, calibration_batches(train_set, calibration_images), T=T, percentile=percentile,
                  calibrate=calibrate)
    conversion = {"from": ann_arch, "ann_acc1": ann_acc1, "percentile": percentile, "calibrate": calibrate,
                  "calibration_images": calibration_images, "bias_shift": True, "reset": "soft (subtract threshold)"}
    card = publish_model(snn, arch, tag, {**ann_kwargs, "T": T}, state, checkpoint.parent.parent, test_set,
                         out_dir=out_dir, default=default, batch_size=batch_size, extra={"conversion": conversion})
    weights = Weights(f"{arch}.{tag}", card, Path(out_dir or REPO_WEIGHTS) / f"{arch}.{tag}.json")
    return sweep_weights(weights, sweep, test_set, batch_size=batch_size, progress=progress)


def sweep_weights(weights: Weights, sweep: tuple[int, ...], test_set=None, batch_size: int | None = None,
                  progress: bool = True) -> dict:
    """Evaluate a converted weight file at every T of ``sweep`` (thresholds and calibration were set for
    the card's T) and record each result in its card as soon as it is measured, so an interrupted sweep
    keeps what it finished."""
    card = dict(weights.meta)
    if "conversion" not in card:
        raise ValueError(f"{weights.name} is not a converted SNN (its card has no conversion record)")
    if any(t < 1 for t in sweep):
        raise ValueError(f"time steps must be positive, got sweep {list(sweep)}")
    if test_set is None:
        test_set = load_dataset(card["dataset"], split="test", **card.get("dataset_kwargs", {}))
    batch_size = batch_size or card["eval"]["batch_size"]
    model_kwargs = {k: v for k, v in card["kwargs"].items() if k != "T"}
    by_T = card["conversion"].setdefault("acc1_by_T", {})
    for steps in sweep:
        if steps == card["T"]:  # the card's own number, measured from the same file
            by_T[str(steps)] = card["metrics"]["acc1"]
        else:
            model = create_model(card["arch"], **model_kwargs, T=steps)
            load_into(model, weights)
            by_T[str(steps)] = evaluate(model, test_set, batch_size=batch_size, seed=card["eval"]["seed"],
                                        progress=progress, desc=f"SNN T={steps}")["acc1"]
        card["conversion"]["acc1_by_T"] = dict(sorted(by_T.items(), key=lambda item: int(item[0])))
        write_card(weights.card_path, card)
    return card
