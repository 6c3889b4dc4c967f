"""Recipes: YAML files with ``model``, ``data`` and ``train`` sections, merged over defaults and
checked, so a typo fails before hours of training rather than after.

A recipe may start from another with ``base: other.yaml`` (a path relative to the recipe): the base is
loaded first (with its own base, if any), and the recipe's keys are merged over it exactly as ``--set``
overrides are, so a continuation or a variant names only what it changes."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..errors import RecipeError
from ..errors import suggest
from .distillation import DISTILLATION_TYPES
from .gradients import GRADIENTS
from .losses import LOSSES
from .optimizers import OPTIMIZERS
from .precision import SETTINGS as AMP_SETTINGS

DEFAULTS: dict[str, Any] = {
    "recipe": None,
    "paper": {},
    "finetune": {},  # what `zoo finetune` chose and why, for the card
    # head: keep, reset, or the pretrained classes' new order; from_ann: an ANN weight whose conversion starts
    # the converted network model.name builds
    "model": {"name": None, "kwargs": {}, "head": "keep", "from_ann": None},
    "data": {"name": None, "root": None, "kwargs": {}, "val_fraction": 0.1, "split_seed": 0, "num_workers": 0,
             "augment": {"hflip": False, "crop_padding": 0, "time_subsample": 0, "event_drop": 0.0,
                         "time_jitter": 0, "erase": 0.0}},
    "train": {
        "epochs": 1,
        "steps": 0,  # a budget of optimizer steps instead of epochs (0: epochs decide)
        "batch_size": 64,
        "eval_batch_size": 500,
        "optimizer": "adam",  # adam, adamw (the transformers': decoupled decay, none on 1-D parameters) or sgd
        "lr": 1e-3,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "lr_step_epochs": 30,
        "lr_gamma": 0.1,
        "warmup_steps": 0,
        "schedule_epochs": 0,  # a schedule longer than this run, trained in legs (0: this run's epochs)
        "schedule_from_epoch": 0,  # where in that schedule this leg starts
        "loss": "ce",
        "label_smoothing": 0.0,
        "tet_lambda": 1e-3,
        "tet_phi": 1.0,
        "teacher": None,  # a published weight to distil from (zoo.train.distillation)
        "distillation_type": "soft",  # soft (KL divergence at distillation_tau) or hard (the teacher's class)
        "distillation_alpha": 0.5,  # the distillation term's share of the loss
        "distillation_tau": 1.0,
        "grad_clip": 0.0,
        "gradient": "bptt",  # bptt, sltt or sltt-k (zoo.train.gradients)
        "sltt_k": 2,  # the time steps sltt-k backpropagates per batch
        "ema_decay": 0.0,
        "ema_warmup": False,  # the decay grows with the schedule's step, as timm's ModelEmaV3 (zoo.train.ema)
        "ema_bn_batches": 20,
        "amp": False,  # mixed precision: true, false or auto (native only; zoo.train.precision)
        "channels_last": "auto",  # 4-D weights channels-last: true, false or auto (zoo.train.memory_format)
        "compile": False,
        "seed": 0,
        "checkpoint_every": 200,
        "log_every": 50,
        "eval_seed": 0,
        "test_every_epoch": False,  # also measure the test set each epoch (logged, never used to choose)
        "freeze": "none",
        "backbone_lr_scale": 1.0,  # the learning rate of every layer but the read-out, as a fraction of lr
        "balanced": False,  # batches drawn with equal probability per class
        "early_stop": 0,  # stop after this many validations without a better one (0: never)
        "val_every": 0,  # validate (and checkpoint) every this many steps (0: at the end of every epoch)
        "ties_to_later": False,  # a validation equal to the best replaces it (tiny splits: later is better trained)
        "wandb": False,
    },
}
SCHEDULES = ("cosine", "constant", "step")
FREE_FORM = {("paper",), ("finetune",), ("model", "kwargs"), ("data", "kwargs")}


def _merge_free_form(base: dict | None, update: dict | None) -> dict:
    """Merge a free-form section (model or dataset arguments) key by key, nested mappings too, so
    ``--set model.kwargs.neuron_kwargs.v_reset=null`` changes that one argument and keeps the others."""
    merged = copy.deepcopy(base or {})
    for key, value in (update or {}).items():
        both_mappings = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge_free_form(merged[key], value) if both_mappings else value
    return merged


def _merge(base: dict, update: dict, path: tuple[str, ...] = ()) -> dict:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        where = path + (key,)
        if where in FREE_FORM:
            merged[key] = _merge_free_form(merged.get(key), value)
        elif key not in base:
            raise RecipeError(f"unknown recipe key {'.'.join(where)!r}{suggest(key, base)}")
        elif isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise RecipeError(f"recipe key {'.'.join(where)!r} must be a mapping")
            merged[key] = _merge(base[key], value, where)
        else:
            merged[key] = value
    return merged


def parse_override(text: str) -> dict:
    """``train.lr=0.01`` -> ``{'train': {'lr': 0.01}}`` (values parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise RecipeError(f"--set expects key=value, got {text!r}")
    value = yaml.safe_load(raw) if raw else None
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist")
    try:
        recipe = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RecipeError(f"recipe {path} is not valid YAML: {problem}{where}") from None
    if not isinstance(recipe, dict):
        raise RecipeError(f"recipe {path} must be a mapping of sections (model, data, train), "
                          f"got a {type(recipe).__name__}")
    return recipe


def _recipe_chain(path: Path) -> list[dict]:
    """The recipe and its bases, the farthest base first; ``base`` paths are relative to their recipe."""
    chain, seen = [], []
    while True:
        resolved = path.resolve()
        if resolved in seen:
            raise RecipeError(f"recipe bases form a cycle: {' -> '.join(p.name for p in seen + [resolved])}")
        seen.append(resolved)
        recipe = _read_yaml(path)
        base = recipe.pop("base", None)
        chain.insert(0, recipe)
        if base is None:
            return chain
        if not isinstance(base, str):
            raise RecipeError(f"recipe {path}: base must be a path to another recipe, got {base!r}")
        path = path.parent / base


def _check_weight_name(key: str, value: Any, what: str) -> None:
    """A recipe key that names a weight holds ``arch.tag`` (or nothing)."""
    if value is not None and not (isinstance(value, str) and "." in value):
        raise RecipeError(f"{key} must name {what} (arch.tag), got {value!r}")


def load_recipe(source: str | Path | dict, overrides: list[str] = ()) -> dict:
    """The full run configuration: defaults, then the recipe's bases and the recipe, then ``key=value``
    overrides."""
    chain = [source] if isinstance(source, dict) else _recipe_chain(Path(source))
    config = DEFAULTS
    for recipe in chain:
        config = _merge(config, recipe)
    if not isinstance(source, dict):
        config["recipe"] = Path(source).as_posix()
    for text in overrides:
        config = _merge(config, parse_override(text))
    for section, key in (("model", "name"), ("data", "name")):
        if not config[section][key]:
            raise RecipeError(f"recipe needs {section}.{key}")
    head = config["model"]["head"]
    if not (head in ("keep", "reset") or (isinstance(head, list) and all(isinstance(i, int) for i in head))):
        raise RecipeError(f"model.head must be 'keep', 'reset' or a list of class indices, got {head!r}")
    _check_weight_name("model.from_ann", config["model"]["from_ann"], "an ANN weight")
    train = config["train"]
    for key, default in DEFAULTS["train"].items():  # a typo such as lr=abc fails here, naming the key
        value = train[key]
        if isinstance(default, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RecipeError(f"train.{key} must be a number, got {value!r}")
        if isinstance(default, bool) and key != "amp" and not isinstance(value, bool):  # amp also takes auto
            raise RecipeError(f"train.{key} must be true or false, got {value!r}")
    if train["loss"] not in LOSSES:
        raise RecipeError(f"train.loss must be one of {', '.join(LOSSES)}, got {train['loss']!r}")
    if train["loss"] == "mse" and train["label_smoothing"]:
        raise RecipeError("train.label_smoothing applies to the 'ce' and 'tet' losses, not to 'mse'")
    for key, low, high in (("label_smoothing", 0.0, 1.0), ("ema_decay", 0.0, 1.0), ("tet_lambda", 0.0, 1.0)):
        if not isinstance(train[key], (int, float)) or not low <= train[key] < high:
            raise RecipeError(f"train.{key} must be in [{low}, {high}), got {train[key]!r}")
    if not isinstance(train["grad_clip"], (int, float)) or train["grad_clip"] < 0:
        raise RecipeError(f"train.grad_clip must be >= 0 (0: off), got {train['grad_clip']!r}")
    if not isinstance(train["ema_bn_batches"], int) or train["ema_bn_batches"] < 0:
        raise RecipeError(f"train.ema_bn_batches must be a non-negative integer (0: keep the averaged "
                          f"statistics), got {train['ema_bn_batches']!r}")
    if not isinstance(train["amp"], (bool, str)) or train["amp"] not in AMP_SETTINGS:  # 1 == True: not a setting
        raise RecipeError(f"train.amp must be true, false or auto, got {train['amp']!r}")
    if not (isinstance(train["channels_last"], bool) or train["channels_last"] == "auto"):
        raise RecipeError(f"train.channels_last must be true, false or auto, got {train['channels_last']!r}")
    _check_weight_name("train.teacher", train["teacher"], "a published weight")
    if train["distillation_type"] not in DISTILLATION_TYPES:
        raise RecipeError(f"train.distillation_type must be one of {', '.join(DISTILLATION_TYPES)}, got "
                          f"{train['distillation_type']!r}{suggest(str(train['distillation_type']), DISTILLATION_TYPES)}")
    if not 0.0 < train["distillation_alpha"] <= 1.0:
        raise RecipeError(f"train.distillation_alpha must be in (0, 1], got {train['distillation_alpha']!r}")
    if train["distillation_tau"] <= 0:
        raise RecipeError(f"train.distillation_tau must be positive, got {train['distillation_tau']!r}")
    if train["teacher"] and train["gradient"] != "bptt":
        raise RecipeError(f"train.teacher distils through the whole read-out: it needs train.gradient: bptt, "
                          f"not {train['gradient']!r}")
    if train["gradient"] not in GRADIENTS:
        raise RecipeError(f"train.gradient must be one of {', '.join(GRADIENTS)}, got {train['gradient']!r}"
                          f"{suggest(str(train['gradient']), GRADIENTS)}")
    if not isinstance(train["sltt_k"], int) or isinstance(train["sltt_k"], bool) or train["sltt_k"] < 1:
        raise RecipeError(f"train.sltt_k must be a positive number of time steps, got {train['sltt_k']!r}")
    if train["optimizer"] not in OPTIMIZERS:
        raise RecipeError(f"train.optimizer must be one of {', '.join(OPTIMIZERS)}, got {train['optimizer']!r}"
                          f"{suggest(str(train['optimizer']), OPTIMIZERS)}")
    if train["freeze"] not in ("none", "backbone"):
        raise RecipeError(f"train.freeze must be 'none' or 'backbone', got {train['freeze']!r}")
    if train["schedule"] not in SCHEDULES:
        raise RecipeError(f"train.schedule must be one of {', '.join(SCHEDULES)}, got {train['schedule']!r}")
    for key in ("epochs", "batch_size", "eval_batch_size", "checkpoint_every", "log_every", "lr_step_epochs"):
        if not isinstance(train[key], int) or train[key] < 1:
            raise RecipeError(f"train.{key} must be a positive integer, got {train[key]!r}")
    for key in ("steps", "early_stop", "val_every", "schedule_epochs", "schedule_from_epoch"):
        if not isinstance(train[key], int) or isinstance(train[key], bool) or train[key] < 0:
            raise RecipeError(f"train.{key} must be a non-negative integer (0: off), got {train[key]!r}")
    if train["schedule_from_epoch"] and not train["schedule_epochs"]:
        raise RecipeError("train.schedule_from_epoch places a leg in a longer schedule: set train.schedule_epochs too")
    if train["schedule_epochs"] and train["schedule_from_epoch"] >= train["schedule_epochs"]:
        raise RecipeError(f"train.schedule_from_epoch ({train['schedule_from_epoch']}) must be inside "
                          f"train.schedule_epochs ({train['schedule_epochs']})")
    if train["schedule_epochs"] and not train["steps"] and \
            train["schedule_from_epoch"] + train["epochs"] > train["schedule_epochs"]:
        raise RecipeError(f"train.schedule_from_epoch + train.epochs ({train['schedule_from_epoch']} + {train['epochs']}) "
                          f"runs past train.schedule_epochs ({train['schedule_epochs']})")
    if not 0.0 <= train["backbone_lr_scale"] <= 1.0:
        raise RecipeError(f"train.backbone_lr_scale must be in [0, 1], got {train['backbone_lr_scale']!r}")
    if not isinstance(config["data"]["num_workers"], int) or config["data"]["num_workers"] < 0:
        raise RecipeError(f"data.num_workers must be a non-negative integer, got {config['data']['num_workers']!r}")
    return config
