"""``zoo convert``: a trained ReLU network's checkpoint becomes a shipped, converted SNN weight,
calibrated separately for every ``T`` asked for. The card holds, per ``T``, the SNN's test accuracy
measured from the written file (what ``zoo eval NAME --T N`` gives), the calibration used and its cost,
next to the ANN's accuracy."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from ..data import load_dataset
from ..errors import WeightsError
from ..train.checkpoint import load_run_checkpoint, model_from_checkpoint
from ..train.distillation import recipe_keys as distillation_recipe_keys
from ..train.ema import recipe_keys as ema_recipe_keys
from ..train.evaluate import evaluate
from ..hub.factory import create_model
from ..hub.publish import card_dataset, card_root, check_tag, publish_model, write_card
from ..hub.registry import model_entry
from ..hub.weights import REPO_WEIGHTS, Weights, get_weights, load_into
from .ifnet import nearest_calibrated
from .pipeline import CALIBRATIONS, PIPELINES, convert, uses_qcfs


def calibration_batches(train_set, images: int, batch_size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """``images`` training images in a seeded random order, as batches (labels are not used)."""
    if images < 1:
        raise ValueError(f"calibration needs at least one image, got {images}")
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed))[:images]
    return list(torch.stack([train_set[int(i)][0] for i in order]).split(batch_size))


def resolve_pipeline(calibrate: str, weight_steps: int | None) -> tuple[str, int]:
    """``calibrate`` as a piece (none/bias/potential) or one of the paper's pipelines (light/advanced);
    ``weight_steps`` overrides the pipeline's weight-calibration steps."""
    if calibrate in PIPELINES:
        preset = PIPELINES[calibrate]
        return preset["calibrate"], preset["weight_steps"] if weight_steps is None else weight_steps
    if calibrate not in CALIBRATIONS:
        raise ValueError(f"calibrate must be one of {', '.join((*CALIBRATIONS, *PIPELINES))}, got {calibrate!r}")
    return calibrate, weight_steps or 0


PUBLISHED_TRAIN_KEYS = ("seed", "epochs", "val_fraction", "loss", "optimizer", "lr", "batch_size", "schedule")


def names_a_weight(argument: str, prefix: str) -> bool:
    """Whether a command-line argument is a published weight's name (``prefix...``) rather than a path."""
    return (argument.startswith(prefix) and not Path(argument).exists() and "/" not in argument
            and Path(argument).suffix not in (".pt", ".pth"))


def run_of_weights(name: str) -> tuple[dict, dict, str]:
    """A published ANN weight as the training run it came from: the checkpoint-like state (its recipe's
    configuration as the card records it, under the recipe's keys), the run record, and the weight's full name."""
    weights = get_weights(name)
    card = weights.meta
    lacking = [f"train.{key}" for key in PUBLISHED_TRAIN_KEYS if key not in card.get("train", {})]
    lacking += [key for key in ("dataset", "eval") if key not in card]
    if lacking:
        raise WeightsError(f"{weights.name}'s card lacks {', '.join(lacking)}: convert its run's checkpoint instead")
    train = {**{key: value for key, value in card["train"].items()
                if key not in ("best_epoch", "chosen", "val_acc1", "validation", "ema", "distillation")},
             **ema_recipe_keys(card["train"]), **distillation_recipe_keys(card["train"])}
    config = {"model": {"name": card.get("finetuned_from") or card["arch"], "kwargs": card["kwargs"]},
              "data": {"name": card["dataset"], "kwargs": card.get("dataset_kwargs", {}), "root": card_root(card),
                       "val_fraction": train["val_fraction"], "augment": train.get("augment", {})},
              "train": {**train, "eval_seed": card["eval"]["seed"]},
              "recipe": card.get("recipe", ""), "paper": card.get("paper", {}),
              **({"finetune": card["finetune"]} if card.get("finetune") else {})}
    state = {"config": config, "epoch": card["train"].get("best_epoch"), "val_acc1": card["train"].get("val_acc1"),
             "chosen": card["train"].get("chosen")}
    run = {"device": train.get("device", "not recorded"), "versions": card.get("versions"),
           "wall_s": train.get("wall_time_s", 0.0), "test_by_epoch": {},
           "precision": [train["precision"]] if "precision" in train else [],
           "validation": card["train"].get("validation", []),
           "best_test_epoch": card.get("best_test_epoch")}
    return state, run, weights.name


def convert_checkpoint(checkpoint: str | Path, tag: str, T: tuple[int, ...] = (8, 16, 32),
                       threshold: str | float | None = None, calibrate: str = "advanced", weight_steps: int | None = None,
                       calibration_images: int = 512, sweep: tuple[int, ...] = (), out_dir: str | Path | None = None,
                       default: bool = False, batch_size: int = 500, progress: bool = True) -> dict:
    """Convert the ANN of ``checkpoint`` (an ``ann_*`` training run, or a published ``ann_*`` weight's name),
    calibrated for every ``T``, and publish it as ``converted_*.<tag>`` whose own ``T`` is the largest;
    ``sweep`` adds uncalibrated ``T`` to the card. ``threshold`` None: the trained thresholds of a QCFS
    network, searched ones (``"mse"``) for ReLU."""
    check_tag(tag)
    calibrate, weight_steps = resolve_pipeline(calibrate, weight_steps)
    T = tuple(sorted(set(T)))
    if not T or any(t < 1 for t in (*T, *sweep)):
        raise ValueError(f"time steps must be positive, got T={list(T)} and sweep {list(sweep)}")
    if names_a_weight(str(checkpoint), "ann_"):  # its card says how it was trained and on which data
        state, run, source = run_of_weights(str(checkpoint))
        run_dir = None
    else:
        state, run, source = load_run_checkpoint(Path(checkpoint)), None, None
        run_dir = Path(checkpoint).parent.parent
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
    ann = create_model(source) if source else model_from_checkpoint(state, len(test_set.classes))
    seed = config["train"]["eval_seed"]
    ann_acc1 = evaluate(ann, test_set, batch_size=batch_size, seed=seed, progress=progress, desc="ANN test")["acc1"]
    qcfs = uses_qcfs(ann)
    threshold = threshold or ("qcfs" if qcfs else "mse")
    snn = convert(ann, calibration_batches(train_set, calibration_images), T=T, threshold=threshold,
                  calibrate=calibrate, weight_steps=weight_steps, progress=progress)
    snn.T = T[-1]
    method = {"threshold": {"mse": "searched per channel (mse)", "qcfs": "the QCFS thresholds (lambda), "
                            "membranes starting at lambda / 2 (Bu et al., ICLR 2022)"}.get(threshold,
                                                                                        f"percentile {threshold}"),
              "calibrate": calibrate,
              "weight_steps": weight_steps, "calibration_images": calibration_images}
    conversion = {"from": source or ann_arch, "ann_acc1": ann_acc1, "bias_shift": not qcfs, "reset": "soft (subtract threshold)",
                  **method, "per_T": {str(t): {"calibrated": True, "calibration_s": snn.calibration_seconds[t]}
                                      for t in T}}
    card = publish_model(snn, arch, tag, {**ann_kwargs, "T": T[-1], "calibrated_T": list(T)}, state,
                         run_dir, test_set, out_dir=out_dir, default=default, batch_size=batch_size,
                         extra={"conversion": conversion, "finetuned_from": None}, run=run)  # conversion.from names the ANN
    weights = Weights(f"{arch}.{tag}", card, Path(out_dir or REPO_WEIGHTS) / f"{arch}.{tag}.json")
    return sweep_weights(weights, (*T, *sweep), test_set, batch_size=batch_size, progress=progress)


def sweep_weights(weights: Weights, sweep: tuple[int, ...], test_set=None, batch_size: int | None = None,
                  progress: bool = True) -> dict:
    """Evaluate a converted weight file at every T of ``sweep`` (a T it was not calibrated for runs with the
    nearest calibrated state) and record each result in its card as soon as it is measured, so an
    interrupted sweep keeps what it finished."""
    card = dict(weights.meta)
    if "conversion" not in card and card.get("converted_from"):
        raise ValueError(f"{weights.name} was trained through time at T={card['T']} from the conversion of "
                         f"{card['converted_from']}: it has no calibrated states to sweep; measure another T "
                         f"with zoo eval {weights.name} --T N")
    if "conversion" not in card:
        raise ValueError(f"{weights.name} is not a converted SNN (its card has no conversion record)")
    if any(t < 1 for t in sweep):
        raise ValueError(f"time steps must be positive, got sweep {list(sweep)}")
    if test_set is None:  # the data the conversion was measured on: the card's dataset, from its root
        test_set = card_dataset(card)
    batch_size = batch_size or card["eval"]["batch_size"]
    model_kwargs = {k: v for k, v in card["kwargs"].items() if k != "T"}
    per_T = card["conversion"].setdefault("per_T", {})
    for steps in sweep:
        record = per_T.setdefault(str(steps), {"calibrated": False})
        if not record["calibrated"]:
            record["state_T"] = nearest_calibrated(steps, tuple(card["kwargs"]["calibrated_T"]))
        if steps == card["T"]:  # the card's own number, measured from the same file
            record["acc1"] = card["metrics"]["acc1"]
        else:
            model = create_model(card["arch"], **model_kwargs, T=steps)
            load_into(model, weights)
            started = time.perf_counter()
            record["acc1"] = evaluate(model, test_set, batch_size=batch_size, seed=card["eval"]["seed"],
                                      progress=progress, desc=f"SNN T={steps}")["acc1"]
            record["eval_s"] = round(time.perf_counter() - started, 1)
        card["conversion"]["per_T"] = dict(sorted(per_T.items(), key=lambda item: int(item[0])))
        write_card(weights.card_path, card)
    return card
