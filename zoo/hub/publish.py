"""From a training checkpoint to a hub weight: safetensors file named by its hash, and a card whose
metrics come from evaluating that very file through the normal loading path."""
from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

import torch
from safetensors.torch import save as save_safetensors_bytes

from ..atomic import atomic_open
from ..data import DATASETS, EMULATED_DATASETS, load_dataset
from ..data.copies import with_copy
from ..data.roots import describe_source
from ..train.checkpoint import load_run_checkpoint, model_from_checkpoint
from ..train.distillation import describe as describe_distillation
from ..train.ema import describe as describe_ema
from ..train.evaluate import evaluate
from ..train.plots import save_activity
from .factory import create_model
from .weights import REPO_WEIGHTS, Weights, get_weights, load_into, read_card, sha256_of, weight_filename

log = logging.getLogger("zoo")

CHECK_SAMPLES = 250  # the card also records accuracy on the first N test samples, for quick re-checks
MIN_CHECK_SAMPLES = 50  # however dear an image, a quick check covers at least this many
LICENSE = "MIT"


def check_samples(T: int | None, cost: int = 1) -> int:
    """How many test samples a card's quick check covers: :data:`CHECK_SAMPLES`, fewer beyond T=32, so
    the re-check of a long-T weight (a converted SNN at T=128) costs what one at T=32 does, and a
    ``cost`` times fewer for models whose image costs that many of a CNN's (a model's ``check_cost``)."""
    samples = CHECK_SAMPLES if not T or T <= 32 else CHECK_SAMPLES * 32 // T
    return max(MIN_CHECK_SAMPLES, samples // cost)


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_open(path) as handle:
        handle.write(data)


def write_card(path: Path, card: dict) -> None:
    """A weight card as the zoo writes every card: indented JSON, written atomically."""
    _write_atomic(path, (json.dumps(card, indent=2) + "\n").encode())


def neuron_name(module: torch.nn.Module) -> str:
    """The neuron's name as SpikingJelly writes it (``IFNode``), whichever implementation runs it."""
    return type(module).__name__.removeprefix("Fused")


def describe_neuron(model: torch.nn.Module) -> tuple[dict, dict]:
    """The first spiking neuron's type and parameters, and its surrogate, read off the model (or its
    own ``neuron_card()`` where its neurons are not SpikingJelly nodes)."""
    if hasattr(model, "neuron_card"):
        return model.neuron_card()
    for module in model.modules():
        surrogate = getattr(module, "surrogate_function", None)
        if surrogate is None:
            continue
        neuron = {"type": neuron_name(module),
                  "implementation": getattr(module, "implementation", "spikingjelly")}
        for key in ("tau", "decay_input", "v_threshold", "v_reset", "detach_reset", "tau_syn", "tau_adapt", "beta"):
            if hasattr(module, key):
                neuron[key] = getattr(module, key)
        surrogate_info = {"type": type(surrogate).__name__}
        for key in ("alpha", "w", "c"):
            if hasattr(surrogate, key):
                surrogate_info[key] = getattr(surrogate, key)
        if getattr(surrogate, "strict", False):
            neuron["spikes_when"] = "H > V_th"  # SpikingJelly's nodes: H >= V_th
        return neuron, surrogate_info
    return {}, {}


def describe_encoding(model: torch.nn.Module) -> str:
    """How the model turns its input into steps: its encoder's name, or what it takes without one."""
    if not hasattr(model, "encoder"):
        return "image at every step"
    if model.encoder is None:
        return "sequences [T, B, F] as given"
    return type(model.encoder).__name__


def _run_record(run_dir: Path) -> dict:
    """Device, versions, wall time, how far the training run went (the last step it logged, of all its
    steps) and every validation, from its metrics log. A session killed before its end event counts up to its
    last logged time."""
    record = {"device": "not recorded", "versions": None, "wall_s": 0.0, "test_by_epoch": {}}
    validations: dict[int, dict] = {}  # by step: a resumed session that validates a step again has the last word
    log_path = run_dir / "metrics.jsonl"
    if not log_path.is_file():
        return record
    unfinished = 0.0  # the elapsed time of the session (start ... end) being read, until its end event
    for line in log_path.read_text().splitlines():
        event = json.loads(line)
        record["last_step"] = max(record.get("last_step", 0), event.get("step", 0))  # also of a killed run
        if "total_steps" in event:  # start (since the zoo logs it there) and end events
            record["total_steps"] = event["total_steps"]
        unfinished = max(unfinished, event.get("elapsed_s", 0.0))
        if event.get("event") == "start":
            record["device"], record["versions"] = event["device"], event["versions"]
            if "precision" in event and event["precision"] not in record.setdefault("precision", []):
                record["precision"].append(event["precision"])  # a run resumed on another machine may differ
            record["wall_s"] += unfinished  # a session killed without its end event
            unfinished = 0.0
        elif event.get("event") == "end":
            record["wall_s"] += event.get("wall_s", 0.0)
            unfinished = 0.0
        elif event.get("event") == "test":  # a resumed epoch logs again: the last word counts
            record["test_by_epoch"][event["epoch"]] = event["acc1"]
        elif event.get("event") == "val":
            validations[event["step"]] = {"epoch": event.get("epoch"), "step": event["step"], "acc1": event["acc1"]}
    record["wall_s"] = round(record["wall_s"] + unfinished, 1)
    record["validation"] = [validations[step] for step in sorted(validations)]
    return record


def training_length(run: dict, train_cfg: dict) -> dict:
    """How long the run trained, for its card: ``epochs`` (whole epochs) or, for a run given a budget of
    optimizer steps, ``steps``; with ``epochs_planned`` / ``steps_planned`` where it stopped short (interrupted
    and published as it stood, killed, or stopped early on validation)."""
    unit = "steps" if train_cfg.get("steps") else "epochs"  # a budget of steps is the run's total_steps
    planned, done, total = train_cfg[unit], run.get("last_step", 0), run.get("total_steps", 0)
    if not total or done >= total:
        return {unit: planned}
    return {unit: planned * done // total, f"{unit}_planned": planned}


def best_test_epoch(test_by_epoch: dict) -> dict | None:
    """What choosing the epoch on the test set would read (a paper's protocol, not the zoo's): the best
    per-epoch test accuracy, its epoch, and how many epochs were measured."""
    if not test_by_epoch:
        return None
    epoch = max(test_by_epoch, key=lambda e: (test_by_epoch[e], -e))
    return {"acc1": test_by_epoch[epoch], "epoch": epoch, "epochs_measured": len(test_by_epoch),
            "note": "the best test accuracy over epochs; the zoo's number is the epoch chosen on validation"}


def evaluate_weights(name: str, dataset: str | None = None, root: str | None = None, split: str = "test",
                     limit: int | None = None, batch_size: int | None = None, progress: bool = True,
                     activity: bool = False, plots: str | Path | None = None, T: int | None = None,
                     device: str | torch.device = "cpu") -> dict:
    """Evaluate the shipped weight ``name`` exactly as its card was made (same seed and batch size);
    with ``activity`` also firing rates, SynOps and energy, with ``plots`` their pictures in that folder;
    ``T`` runs the network for another number of steps than its card's, on ``device``."""
    weights = get_weights(name)
    card = weights.meta
    try:
        model = create_model(weights.name, **({"T": T} if T is not None else {}))
    except TypeError as error:
        if T is None or "'T'" not in str(error):
            raise
        raise ValueError(f"{weights.name} takes as many steps as its input is long; --T applies to models "
                         f"that encode images over T steps") from None
    eval_cfg = card.get("eval", {})
    data = card_dataset(card, dataset, root, split)
    result = evaluate(model.to(device), data, batch_size=batch_size or eval_cfg.get("batch_size", 500),
                      seed=eval_cfg.get("seed", 0), limit=limit, device=device, progress=progress,
                      per_sample=plots is not None, activity=activity or plots is not None)
    label = with_copy(dataset or card["dataset"], getattr(data, "copy", None))
    if plots is not None:
        save_activity(result, list(data.classes), plots, title=f"{weights.name} on {label} {split}",
                      weights={"weights": weights.name, "dataset": label, "split": split})
    for key in ("per_sample", "predictions", "targets"):
        result.pop(key, None)
    if "activity" in result:
        result["activity"] = result["activity"].summary()
    return {"name": weights.name, "dataset": label, "split": split, **result, "card_metrics": card_metrics(card, T)}


def card_root(card: dict) -> str | None:
    """The folder a weight was trained and tested on, where it still exists on this machine: a fine-tuned
    weight's event folder, or the root its run read; None lets the dataset's own rule find it."""
    for root in ((card.get("finetune") or {}).get("folder"), (card.get("data_source") or {}).get("root")):
        if root and Path(root).is_dir():
            return root
    return None


def card_dataset(card: dict, dataset: str | None = None, root: str | None = None, split: str = "test"):
    """The data a card's number was measured on (its dataset and options, from ``root`` or the folder it
    records), or ``dataset`` from ``root`` when another one is asked for."""
    if dataset is not None and dataset != card["dataset"]:  # with the card's options it also takes (T, ...)
        builder = DATASETS.get(dataset.lower().replace("_", "-"))
        accepted = inspect.signature(builder).parameters if builder else {}
        options = {k: v for k, v in card.get("dataset_kwargs", {}).items() if k in accepted}
        return load_dataset(dataset, root=root, split=split, **options)
    return load_dataset(card["dataset"], root=root or card_root(card), split=split, **card.get("dataset_kwargs", {}))


def card_metrics(card: dict, T: int | None = None) -> dict | None:
    """The card's number for the ``T`` evaluated: its metrics at its own ``T``, a converted SNN's entry for
    another ``T``, or None when the card has no number for that ``T``."""
    if T is None or T == card.get("T"):
        return card.get("metrics")
    record = card.get("conversion", {}).get("per_T", {}).get(str(T), {})
    return {"acc1": record["acc1"], "num_samples": card["metrics"]["num_samples"]} if "acc1" in record else None


def weight_file_bytes(model: torch.nn.Module, arch: str, tag: str) -> bytes:
    """The safetensors file of ``model``'s state. Its metadata is one entry: safetensors writes the metadata
    map in a Rust HashMap's order, which changes from call to call, so two entries made the bytes (and the
    sha256 in the file's name) of one checkpoint differ between two publishes."""
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    return save_safetensors_bytes(tensors, metadata={"weight": f"{arch}.{tag}"})


def check_tag(tag: str) -> None:
    if not tag or not tag.replace("_", "").isalnum():
        raise ValueError(f"tag must be letters, digits and underscores, got {tag!r}")


def publish(checkpoint: str | Path, tag: str, out_dir: str | Path | None = None, default: bool = False,
            batch_size: int = 500, url: str = "", also: dict[str, str | None] | None = None) -> dict:
    """Write ``<arch>.<tag>-<sha8>.safetensors`` and ``<arch>.<tag>.json`` into ``out_dir``; ``also`` names
    more datasets (with their roots) whose test split the card records too, such as real recordings for a
    weight trained on emulated ones."""
    check_tag(tag)
    checkpoint = Path(checkpoint)
    state = load_run_checkpoint(checkpoint)
    if state.get("ema") is not None:
        log.warning("%s holds the raw weights of a run that averaged them (train.ema_decay); best.pt and latest.pt "
                    "beside it hold the averaged weights it validated", checkpoint.name)
    config = state["config"]
    arch, data_cfg = config["model"]["name"].partition(".")[0], config["data"]
    test_set = load_dataset(data_cfg["name"], root=data_cfg["root"], split="test", **data_cfg.get("kwargs", {}))
    kwargs = {"num_classes": len(test_set.classes), **config["model"]["kwargs"]}
    model = model_from_checkpoint(state, len(test_set.classes))
    return publish_model(model, arch, tag, kwargs, state, checkpoint.parent.parent, test_set, out_dir=out_dir,
                         default=default, batch_size=batch_size, url=url, also=also)


def describe_regularisation(train_cfg: dict) -> dict:
    """The card's record of what held the weights back: weight decay, SGD's momentum, label smoothing and the
    weight average, each where the recipe has it (or, for a conversion, the ANN's card records it)."""
    record = {"weight_decay": train_cfg["weight_decay"]} if "weight_decay" in train_cfg else {}
    if train_cfg.get("optimizer") == "sgd" and "momentum" in train_cfg:
        record["momentum"] = train_cfg["momentum"]
    if train_cfg.get("label_smoothing"):
        record["label_smoothing"] = train_cfg["label_smoothing"]
    return {**record, **describe_ema(train_cfg)}


def publish_model(model: torch.nn.Module, arch: str, tag: str, kwargs: dict, state: dict, run_dir: Path | None,
                  test_set, out_dir: str | Path | None = None, default: bool = False, batch_size: int = 500,
                  url: str = "", extra: dict | None = None, also: dict[str, str | None] | None = None,
                  run: dict | None = None) -> dict:
    """Write ``model`` (built as ``arch(**kwargs)``) as a hub weight; ``state`` is the training checkpoint
    it comes from (config, best epoch), ``run`` its run's record (else read from ``run_dir``), ``extra``
    more card fields, ``also`` more datasets to measure (see :func:`publish`). The card's metrics come
    from evaluating the written file."""
    check_tag(tag)
    config = state["config"]
    data_cfg, train_cfg = config["data"], config["train"]
    data = weight_file_bytes(model, arch, tag)
    sha256 = sha256_of(data)
    out_dir = Path(out_dir) if out_dir else REPO_WEIGHTS
    out_dir.mkdir(parents=True, exist_ok=True)
    filename = weight_filename(arch, tag, sha256)
    _write_atomic(out_dir / filename, data)

    neuron, surrogate = describe_neuron(model)
    if run is None and run_dir is None:
        raise ValueError("publish_model needs the training run's folder or its record")
    run = run if run is not None else _run_record(run_dir)
    best_test = run.get("best_test_epoch") or best_test_epoch(run["test_by_epoch"])
    card = {
        "arch": arch, "tag": tag, "default": default, "file": filename, "sha256": sha256,
        "file_size": len(data), "num_params": sum(p.numel() for p in model.parameters()),
        "kwargs": kwargs, "dataset": data_cfg["name"], "dataset_kwargs": data_cfg.get("kwargs", {}), "split": "test",
        "data_source": describe_source(data_cfg["root"] or getattr(test_set, "source_root", None),
                                       getattr(test_set, "source_files", []), getattr(test_set, "copy", None)),
        "classes": [str(name) for name in test_set.classes],
        **({"emulated": EMULATED_DATASETS[data_cfg["name"]]} if data_cfg["name"] in EMULATED_DATASETS else {}),
        "T": model.T, "encoding": describe_encoding(model),
        "input_shape": [model.in_channels, *(model.input_size or [])],
        "normalisation": ("inputs in [0, 1]; the model subtracts mean and divides by std" if kwargs.get("mean")
                          else "inputs in [0, 1]; no mean/std normalisation"),
        "neuron": neuron, "surrogate": surrogate,
        "recipe": config.get("recipe") or "", "paper": config.get("paper", {}),
        "finetuned_from": config["model"]["name"] if "." in config["model"]["name"] else None,
        **({"converted_from": config["model"]["from_ann"]} if config["model"].get("from_ann") else {}),
        "train": {"seed": train_cfg["seed"], **training_length(run, train_cfg), "best_epoch": state.get("epoch"),
                  **({"chosen": "latest"} if state.get("chosen") == "latest" else {}),
                  **({"schedule_epochs": train_cfg["schedule_epochs"], "schedule_from_epoch": train_cfg["schedule_from_epoch"]}
                     if train_cfg.get("schedule_epochs") else {}),
                  "val_acc1": state.get("val_acc1"), "val_fraction": data_cfg["val_fraction"],
                  **({"validation": run["validation"]} if run.get("validation") else {}),
                  "wall_time_s": run["wall_s"], "device": run["device"],
                  **({"precision": ", then ".join(run["precision"])} if run.get("precision") else {}),
                  "loss": train_cfg["loss"], **describe_distillation(train_cfg),
                  "optimizer": train_cfg["optimizer"], "lr": train_cfg["lr"], "batch_size": train_cfg["batch_size"],
                  **describe_regularisation(train_cfg),
                  "schedule": train_cfg["schedule"], "augment": data_cfg.get("augment", {}),
                  "gradient": train_cfg.get("gradient", "bptt"),
                  **({"sltt_k": train_cfg["sltt_k"]} if train_cfg.get("gradient") == "sltt-k" else {})},
        "versions": run["versions"], "license": LICENSE, "url": url,
        "eval": {"seed": train_cfg["eval_seed"], "batch_size": batch_size},
        **({"finetune": config["finetune"]} if config.get("finetune") else {}),
        **({"best_test_epoch": best_test} if best_test else {}),
        **(extra or {}),
    }
    card_path = out_dir / f"{arch}.{tag}.json"
    weights = Weights(f"{arch}.{tag}", card, card_path)
    fresh = create_model(arch, **kwargs)
    load_into(fresh, weights)  # the file must load through the normal, verified path
    full = evaluate(fresh, test_set, batch_size=batch_size, seed=card["eval"]["seed"], desc="test",
                    per_sample=True)
    # the slice `zoo eval --limit` re-measures quickly
    head = full["per_sample"][:check_samples(model.T, getattr(model, "check_cost", 1))]
    card["metrics"] = {"acc1": full["acc1"], "num_samples": full["num_samples"], "split": "test"}
    card["check"] = {"acc1": round(100.0 * sum(head) / len(head), 2), "num_samples": len(head)}
    if also:
        card["also_measured"] = [measure_also(fresh, card, name, root, batch_size) for name, root in also.items()]
    write_card(card_path, card)
    for stale in out_dir.glob(f"{arch}.{tag}-*.safetensors"):  # only once the card names the new file
        if stale.name != filename:
            stale.unlink()
    if default:
        _demote_other_defaults(out_dir, arch, tag, card["dataset"])
    return card


def measure_also(model: torch.nn.Module, card: dict, dataset: str, root: str | None, batch_size: int) -> dict:
    """The card's record of ``model`` on another dataset's test split (``zoo eval --data`` re-measures it)."""
    data = card_dataset(card, dataset, root, "test")
    result = evaluate(model, data, batch_size=batch_size, seed=card["eval"]["seed"], desc=dataset)
    return {"dataset": dataset, "split": "test", "acc1": result["acc1"], "num_samples": result["num_samples"],
            "data_source": describe_source(root, [], getattr(data, "copy", None)),
            **({"emulated": EMULATED_DATASETS[dataset]} if dataset in EMULATED_DATASETS else {})}


def _demote_other_defaults(out_dir: Path, arch: str, tag: str, dataset: str) -> None:
    """An architecture has one default weight: the one just published with ``--default``. Demoting a default
    trained on another dataset changes what ``pretrained=True`` gives its users, so that is said."""
    for path in sorted(out_dir.glob(f"{arch}.*.json")):
        other = read_card(path)
        if other["arch"] == arch and other["tag"] != tag and other.get("default"):
            write_card(path, {**other, "default": False})
            if other.get("dataset") != dataset:
                log.warning("%s.%s (%s) is no longer %s's default weight: pretrained=True now loads %s.%s (%s)",
                            arch, other["tag"], other.get("dataset"), arch, arch, tag, dataset)
