"""The zoo's trainer: BPTT over T (or SLTT, :mod:`zoo.train.gradients`), rate losses, Adam/SGD with a per-step cosine schedule, seeded
batch order, best-on-validation selection, JSON-lines metrics and atomic checkpoints that resume
bit for bit on CPU (the batch order is a function of seed and epoch, the RNG state is saved)."""
from __future__ import annotations

import copy
import importlib.metadata
import logging
import math
import platform
import random
import signal
import subprocess
import time
from pathlib import Path

import torch
import yaml
from torch.optim.swa_utils import update_bn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from .. import __version__
from ..conversion.ifnet import ConvertedSNN
from ..conversion.pipeline import start_from_ann
from .activity import FiringRateMeter
from ..data import holdout, load_dataset
from ..data.augment import BatchAugment, time_major
from ..data.copies import with_copy
from ..data.events import EventFrames
from ..errors import RecipeError, ZooError
from ..hub.factory import create_model
from ..runtime import cpu_model, resolve_device
from .checkpoint import load_checkpoint, model_from_checkpoint, save_atomic
from .config import load_recipe
from .distillation import Teacher
from .distributed import Distributed, StepsModule
from .ema import build_ema
from .evaluate import evaluate
from .gradients import OnlineStep, check_online, draw_steps
from .logging import RunLogger
from .losses import build_loss
from .memory_format import match_optimizer_state, to_channels_last, wants_channels_last
from .next_leg import shipped_checkpoint
from .optimizers import build_optimizer
from .plots import plot_curves, save_activity
from .precision import autocast_dtype, precision_name

__all__ = ["Trainer", "train"]

log = logging.getLogger("zoo")


class _StopRequested:
    """Turns SIGINT/SIGTERM into a flag, so the step in flight finishes and a checkpoint is saved."""

    def __init__(self):
        self.flag = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.flag:  # a second signal: the user does not want to wait for the checkpoint
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def git_commit() -> str | None:
    """The zoo checkout's commit (with ``+dirty`` for uncommitted changes), or None outside git."""
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def versions() -> dict:
    return {"zoo": __version__, "torch": torch.__version__,
            "spikingjelly": importlib.metadata.version("spikingjelly"),
            "python": platform.python_version(), "git_commit": git_commit()}


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'}, {cpu_model()})"


ACTIVITY_SAMPLES = 2000  # validation samples the end-of-run activity plots and confusion matrix cover


class Trainer:
    """Trains ``config`` (see :mod:`zoo.train.config`) into ``out`` (the run folder)."""

    def __init__(self, config: dict, out: str | Path, device: str | None = None, progress: bool = True):
        self.config = config
        self.out = Path(out)
        self.device = resolve_device(device)
        self.dist = Distributed.from_env(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.progress = progress and self.dist.is_main
        train_cfg = config["train"]
        data_cfg = config["data"]

        full_train = load_dataset(data_cfg["name"], root=data_cfg["root"], split="train", **data_cfg["kwargs"])
        if len(full_train) == 0:
            raise ZooError(f"the {data_cfg['name']} training split holds no samples "
                           f"(root {data_cfg['root']}, options {data_cfg['kwargs']})")
        if isinstance(full_train, EventFrames):  # integrate frames once, in order, before shuffled epochs
            full_train.fill_cache(progress=self.progress)
        self.data_label = with_copy(data_cfg["name"], getattr(full_train, "copy", None))  # as cards name it
        self.train_set, self.val_set = holdout(full_train, data_cfg["val_fraction"], data_cfg["split_seed"])
        # the papers that choose their epoch on the test set (e.g. PLIF's "Accuracy-A"): measured to say what
        # that protocol would read, never used to choose
        self.test_set = (load_dataset(data_cfg["name"], root=data_cfg["root"], split="test", **data_cfg["kwargs"])
                         if train_cfg["test_every_epoch"] else None)
        if hasattr(full_train, "without_augmentation"):  # validate on the test-time view of the images
            self.val_set = Subset(full_train.without_augmentation(), self.val_set.indices)
        self.augment = BatchAugment(**data_cfg["augment"])
        num_classes = len(full_train.classes)
        kwargs = {"num_classes": num_classes, **config["model"]["kwargs"]}
        torch.manual_seed(train_cfg["seed"])
        self.model = self._build_model(config["model"], kwargs)
        head = config["model"].get("head", "keep")  # configs assembled in code may leave it out
        if head != "keep" and not hasattr(self.model, "reset_classifier"):
            raise RecipeError(f"model.head {head!r} replaces or reorders the read-out, which "
                              f"{type(self.model).__name__} cannot; use head: keep")
        if head == "reset":  # a pretrained read-out for other classes: start it afresh
            self.model.reset_classifier(num_classes)
        elif isinstance(head, list):  # the pretrained classes, listed in the data's order
            self.model.reorder_classes(head)
        if train_cfg["schedule_from_epoch"]:  # a later leg: augmentation draws of its own, not the first leg's again
            torch.manual_seed(train_cfg["seed"] * 100_003 + train_cfg["schedule_from_epoch"])
        self.loss_fn = build_loss(train_cfg["loss"], train_cfg["label_smoothing"], train_cfg["tet_lambda"],
                                  train_cfg["tet_phi"])
        # mixed precision: float16 with loss scaling on CUDA; bfloat16 on a CPU, where oneDNN runs the
        # convolutions in it (spikes are exact in bfloat16; validation and `zoo eval` stay in float32)
        self.amp_dtype = autocast_dtype(train_cfg["amp"], self.device)
        self.amp = self.amp_dtype is not None
        self.channels_last = wants_channels_last(train_cfg["channels_last"], self.model, self.device, self.amp)
        if self.channels_last:  # before the EMA copy and the optimiser, which then hold the same layout
            to_channels_last(self.model)
        self.teacher = None
        if train_cfg["teacher"]:
            self.teacher = Teacher(train_cfg["teacher"], num_classes, time_major(self._first_samples(2)), self.device,
                                   train_cfg["distillation_alpha"], train_cfg["distillation_tau"],
                                   train_cfg["distillation_type"], self.channels_last)
        self.steps_per_epoch = math.ceil(len(self.train_set) / train_cfg["batch_size"])
        self.ema = None
        if train_cfg["ema_decay"]:  # an exponential moving average of the weights, validated and kept as best
            self.ema = build_ema(self.model, train_cfg["ema_decay"], train_cfg["ema_warmup"],
                                 first_step=train_cfg["schedule_from_epoch"] * self.steps_per_epoch)
        self.firing_rate = FiringRateMeter(self.model)  # after the EMA copy, which must not carry its hooks
        on_gpu = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and on_gpu)
        self.forward_steps = self.model.forward_steps
        if train_cfg["compile"] and on_gpu:
            self.forward_steps = torch.compile(self.model.forward_steps)
        elif train_cfg["compile"]:
            log.info("train.compile applies on CUDA only; training on %s without it", self.device)
        if self.dist.enabled:  # gradients averaged over the processes, each holding a share of the batch
            self.forward_steps = torch.nn.parallel.DistributedDataParallel(
                StepsModule(self.model), device_ids=[self.device.index] if on_gpu else None)
        self.online, self.gradient_rng = None, None
        if train_cfg["gradient"] != "bptt":  # SLTT: one time step at a time (zoo.train.gradients)
            check_online(self.model, train_cfg["gradient"])
            if self.dist.enabled:
                raise ZooError(f"train.gradient {train_cfg['gradient']!r} runs in one process; use 'bptt' with "
                               f"several")
            if train_cfg["gradient"] == "sltt-k" and train_cfg["sltt_k"] > (self.model.T or 0):
                raise ZooError(f"train.sltt_k is {train_cfg['sltt_k']}, more than the model's T="
                               f"{self.model.T} time steps")
            self.online = OnlineStep(self.model, self.loss_fn, autocast=self._autocast, scale=self.scaler.scale)
            self.gradient_rng = torch.Generator().manual_seed(train_cfg["seed"])
        self.total_steps = train_cfg["steps"] or self.steps_per_epoch * train_cfg["epochs"]
        if train_cfg["schedule_epochs"] and (train_cfg["schedule_from_epoch"] * self.steps_per_epoch + self.total_steps
                                             > train_cfg["schedule_epochs"] * self.steps_per_epoch):
            raise RecipeError(f"train.steps ({self.total_steps}) from epoch {train_cfg['schedule_from_epoch']} runs "
                              f"past train.schedule_epochs ({train_cfg['schedule_epochs']} epochs of "
                              f"{self.steps_per_epoch} steps)")
        self.train_labels = _labels(self.train_set) if train_cfg["balanced"] else None
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.step = 0
        self.best_val = -1.0
        self.since_best = 0  # validations since the best one, for early stopping

    def _build_model(self, model_cfg: dict, kwargs: dict) -> torch.nn.Module:
        """The recipe's network; with ``model.from_ann`` the converted network it names, filled with that
        ANN weight's conversion (fine-tuning a converted SNN through time)."""
        model = create_model(model_cfg["name"], **kwargs)
        if isinstance(model, ConvertedSNN) and model.calibrated_T:
            raise RecipeError(f"{model_cfg['name']} holds states calibrated per T ({', '.join(map(str, model.calibrated_T))}), "
                              f"which loading would put back over the trained weights; fine-tune the conversion "
                              f"from its ANN instead: model.name: {model_cfg['name'].partition('.')[0]} and "
                              f"model.from_ann: the ANN weight")
        from_ann = model_cfg.get("from_ann")  # configs assembled in code may leave it out
        if from_ann:
            if not isinstance(model, ConvertedSNN):
                raise RecipeError(f"model.from_ann converts an ANN weight into a converted network "
                                  f"(converted_resnet20); {model_cfg['name']} is not one")
            if "." in model_cfg["name"]:
                raise RecipeError(f"model.from_ann starts from an ANN's conversion, so model.name names the "
                                  f"architecture ({model_cfg['name'].partition('.')[0]}), not a weight")
            images = self._first_samples(256)
            try:
                start_from_ann(model, create_model(from_ann), images)
            except ValueError as error:
                raise RecipeError(f"model.from_ann {from_ann}: {error}") from None
        return model.to(self.device)

    def _first_samples(self, count: int) -> torch.Tensor:
        """Up to ``count`` training samples, stacked as the loader would batch them."""
        return torch.stack([self.train_set[i][0] for i in range(min(count, len(self.train_set)))])

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config["train"]
        head = self.model.head + "."
        if cfg["freeze"] == "backbone":  # fine-tuning: only the read-out layer learns
            for name, param in self.model.named_parameters():
                param.requires_grad_(name.startswith(head))
        named = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        params = [p for _, p in named]  # one group, in model order, as checkpoints of older runs hold it
        if cfg["backbone_lr_scale"] != 1.0:  # fine-tuning: the pretrained body learns more slowly than the new head
            params = [group for group in ({"params": [p for name, p in named if name.startswith(head)]},
                                          {"params": [p for name, p in named if not name.startswith(head)],
                                           "lr": cfg["lr"] * cfg["backbone_lr_scale"]}) if group["params"]]
        return build_optimizer(params, cfg)

    def _lr_factor(self, step: int) -> float:
        """The learning rate's factor at this run's ``step``; a leg of a longer schedule
        (``schedule_epochs``) reads it where the leg starts (``schedule_from_epoch``), so legs chained
        through published weights follow one schedule instead of restarting it."""
        cfg = self.config["train"]
        step += cfg["schedule_from_epoch"] * self.steps_per_epoch
        span = cfg["schedule_epochs"] * self.steps_per_epoch if cfg["schedule_epochs"] else self.total_steps
        if step < cfg["warmup_steps"]:
            return (step + 1) / cfg["warmup_steps"]
        if cfg["schedule"] == "constant":
            return 1.0
        if cfg["schedule"] == "step":  # SEW's DVS Gesture recipe: x lr_gamma every lr_step_epochs
            return cfg["lr_gamma"] ** (step // (cfg["lr_step_epochs"] * self.steps_per_epoch))
        progress = min(1.0, step / max(1, span))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def _batches(self, epoch: int) -> list[list[int]]:
        """The batch order of ``epoch``: a function of the seed and the epoch alone (the schedule's epoch
        for a leg of a longer one, so a later leg does not replay the first leg's orders)."""
        cfg = self.config["train"]
        generator = torch.Generator().manual_seed(cfg["seed"] * 100_003 + cfg["schedule_from_epoch"] + epoch)
        if self.train_labels is not None:  # every class equally likely in every batch, drawn with replacement
            counts = torch.bincount(self.train_labels).float()
            order = torch.multinomial(1.0 / counts[self.train_labels], len(self.train_labels), replacement=True,
                                      generator=generator).tolist()
        else:
            order = torch.randperm(len(self.train_set), generator=generator).tolist()
        size = cfg["batch_size"]
        return [order[i:i + size] for i in range(0, len(order), size)]

    # --- checkpoints -------------------------------------------------------------------------
    @property
    def last_path(self) -> Path:
        return self.out / "checkpoints" / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.out / "checkpoints" / "best.pt"

    @property
    def latest_path(self) -> Path:
        """The weights the latest validation measured (the averaged ones where the run averages them): what a
        leg before a schedule's last publishes, so the next leg goes on where this one stopped."""
        return self.out / "checkpoints" / "latest.pt"

    @property
    def shipped_path(self) -> Path:
        """The checkpoint this run publishes (:func:`~zoo.train.next_leg.shipped_checkpoint`)."""
        return self.out / "checkpoints" / shipped_checkpoint(self.config["train"])

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "best_val": self.best_val,
                "since_best": self.since_best,
                "rng_torch": torch.get_rng_state(), "rng_python": list(random.getstate()[1]),
                "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
                "rng_gradient": self.gradient_rng.get_state() if self.gradient_rng is not None else None,
                "config": self.config}

    def save(self) -> None:
        if self.dist.is_main:
            save_atomic(self.state(), self.last_path)
        self.dist.barrier()  # no process goes on (or ends) before the checkpoint exists

    def resume(self) -> None:
        state = load_checkpoint(self.last_path)
        self.model.load_state_dict(state["model"])
        fused = [group.get("fused") for group in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, flag in zip(self.optimizer.param_groups, fused):  # a checkpoint's flag is not this machine's
            group["fused"] = flag
        match_optimizer_state(self.optimizer)  # a checkpoint of the other layout (train.channels_last)
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.best_val = float(state["best_val"])
        self.since_best = int(state.get("since_best", 0))
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng_torch"])
        random.setstate((3, tuple(int(v) for v in state["rng_python"]), None))
        if self.gradient_rng is not None and state.get("rng_gradient") is not None:
            self.gradient_rng.set_state(state["rng_gradient"])

    # --- the loop ----------------------------------------------------------------------------
    @property
    def early_stopped(self) -> bool:
        patience = self.config["train"]["early_stop"]
        return bool(patience) and self.since_best >= patience

    def log(self, record: dict) -> None:
        self.logger(record)

    def validate(self, epoch: int, test: bool = True) -> float:
        """Rank 0 validates and keeps the best checkpoint; the other processes wait at the next save.
        ``test``: also measure the test set (``train.test_every_epoch``), which is logged per epoch."""
        if not self.dist.is_main:
            return self.best_val
        cfg = self.config["train"]
        model = self.model if self.ema is None else self._averaged_model()
        result = evaluate(model, self.val_set, cfg["eval_batch_size"], cfg["eval_seed"],
                          device=self.device, progress=self.progress, desc="val")
        improved = result["acc1"] > self.best_val or (cfg["ties_to_later"] and result["acc1"] == self.best_val)
        self.since_best = 0 if improved else self.since_best + 1
        validated = {"model": model.state_dict(), "epoch": epoch, "step": self.step, "val_acc1": result["acc1"],
                     "config": self.config}
        save_atomic({**validated, "chosen": "latest"}, self.latest_path)
        if improved:
            self.best_val = result["acc1"]
            save_atomic(validated, self.best_path)
        self.log({"event": "val", "epoch": epoch, "step": self.step, "acc1": result["acc1"],
                  "best": self.best_val})
        if self.test_set is not None and test:
            test = evaluate(model, self.test_set, cfg["eval_batch_size"], cfg["eval_seed"],
                            device=self.device, progress=self.progress, desc="test")
            self.log({"event": "test", "epoch": epoch, "step": self.step, "acc1": test["acc1"]})
        return result["acc1"]

    def _averaged_model(self) -> torch.nn.Module:
        """The EMA weights, with batch-norm statistics measured for them on ``ema_bn_batches`` training
        batches. The EMA of the running statistics belongs to no single set of weights, and in a spiking
        net the mismatch moves potentials across thresholds: a width-32 SEW-ResNet-18 four epochs into
        training read 33% on 300 test images with the averaged statistics and 94% with measured ones."""
        cfg = self.config["train"]
        if not cfg["ema_bn_batches"]:
            return self.ema.module
        model = copy.deepcopy(self.ema.module)
        count = min(len(self.train_set), cfg["ema_bn_batches"] * cfg["batch_size"])
        loader = DataLoader(Subset(self.train_set, range(count)), batch_size=cfg["batch_size"])
        with torch.random.fork_rng(devices=[]):  # stochastic encoders must not move the training RNG
            torch.manual_seed(cfg["eval_seed"])
            update_bn((time_major(images) for images, _ in loader), model, device=self.device)
        return model

    def fit(self, max_steps: int | None = None) -> dict:
        """Train until the recipe's last epoch or ``max_steps`` optimizer steps (then checkpoint)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            (self.out / "config.yaml").write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.logger = RunLogger(self.out, self.config, use_wandb=self.config["train"]["wandb"],
                                enabled=self.dist.is_main)
        cfg = self.config["train"]
        stop_at = self.total_steps if max_steps is None else min(self.total_steps, max_steps)
        self.model.train()
        start = time.time()
        self.log({"event": "start", "step": self.step, "total_steps": self.total_steps, "data": self.data_label,
                  "device": describe_device(self.device), "precision": precision_name(self.amp_dtype),
                  "channels_last": self.channels_last, "versions": versions()})
        first_step = self.step
        with _StopRequested() as stop:
            bar = tqdm(total=stop_at, initial=self.step, desc="train", unit="step",
                       disable=not self.progress, dynamic_ncols=True)
            while self.step < stop_at and not stop.flag and not self.early_stopped:
                epoch, offset = divmod(self.step, self.steps_per_epoch)
                # a private generator: creating an iterator must not draw from the global RNG,
                # or a resumed run (one extra iterator) would diverge from an uninterrupted one
                shards = [self.dist.shard(batch) for batch in self._batches(epoch)[offset:]]
                loader = DataLoader(self.train_set, batch_sampler=shards,
                                    generator=torch.Generator(), num_workers=self.config["data"]["num_workers"])
                for images, labels in loader:
                    self.firing_rate.pop()  # drop what validation forwards added
                    step_started = time.time()
                    loss, acc = self._train_step(images, labels)
                    step_s = time.time() - step_started
                    rate = self.firing_rate.pop()
                    self.step += 1
                    if self.step == first_step + 2:  # the first step warms caches up; the second is typical
                        self._say_expected_time(step_s, stop_at)
                    bar.update(1)
                    shown = {"loss": f"{loss:.4f}", "acc": f"{acc:.1f}%"}
                    if rate is not None:
                        shown["rate"] = f"{rate:.3f}"
                    bar.set_postfix(**shown, lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                    if self.step % self.config["train"]["log_every"] == 0:
                        self.log({"event": "train", "epoch": epoch, "step": self.step, "loss": loss,
                                  "acc1": acc, "firing_rate": rate, "lr": self.scheduler.get_last_lr()[0],
                                  "elapsed_s": round(time.time() - start, 1)})
                    epoch_done = self.step % self.steps_per_epoch == 0
                    # by steps: every val_every and at the end of the budget (not where --max-steps pauses
                    # the run, which must validate as an uninterrupted run does)
                    validating = (self.step % cfg["val_every"] == 0 or self.step >= self.total_steps) \
                        if cfg["val_every"] else epoch_done
                    if validating:
                        self.validate(epoch, test=epoch_done)
                        if self.early_stopped:
                            log.info("early stop at step %d: %d validations without a better one (best %.2f%%)",
                                     self.step, self.since_best, self.best_val)
                            stop_at = self.step
                    stopping = self.dist.any(stop.flag)  # every process stops at the same step
                    if validating or self.step % cfg["checkpoint_every"] == 0 or self.step >= stop_at or stopping:
                        self.save()
                    if self.step >= stop_at or stopping:
                        stop.flag = stop.flag or stopping
                        break
            bar.close()
        summary = {"step": self.step, "total_steps": self.total_steps, "best_val_acc1": self.best_val,
                   "interrupted": stop.flag, "finished": self.step >= self.total_steps or self.early_stopped,
                   "early_stopped": self.early_stopped}
        self.log({"event": "end", **summary, "wall_s": round(time.time() - start, 1)})
        self.logger.close()
        if self.dist.is_main:
            plot_curves(self.out)
            if (summary["finished"] or summary["interrupted"]) and self.shipped_path.exists():
                self._write_activity_unless_interrupted(announce=summary["interrupted"])
        return summary

    def _write_activity_unless_interrupted(self, announce: bool) -> None:
        """The end-of-run activity plots of the checkpoint the run publishes, also for a run stopped by a signal
        (a leg stopped short is published as it stands); the checkpoints are already saved, so a second Ctrl-C
        only skips the plots."""
        if announce:
            log.info("writing the activity plots of the checkpoint it publishes (Ctrl-C again skips them)")
        try:
            self.write_activity()
        except KeyboardInterrupt:
            log.info("activity plots skipped: `python -m zoo eval NAME --activity --plots DIR` writes them "
                     "for a published weight")

    def _say_expected_time(self, step_s: float, stop_at: int) -> None:
        """One line (from the main process) with the time the rest of the run should take at the measured
        step time."""
        if not self.dist.is_main:
            return
        cfg = self.config["train"]
        every = cfg["val_every"] or self.steps_per_epoch
        left = stop_at - self.step
        validations = stop_at // every - self.step // every + (1 if cfg["val_every"] and stop_at == self.total_steps
                                                               and stop_at % every else 0)
        log.info("a training step takes %.2f s here: the %d steps left take about %s (plus %d validations)",
                 step_s, left, _duration(step_s * left), validations)

    def write_activity(self) -> None:
        """Firing rates, a raster, the confusion matrix and SynOps/energy of the checkpoint the run publishes
        (:attr:`shipped_path`) on the first :data:`ACTIVITY_SAMPLES` validation samples, into the run folder
        (the whole split cost a long run another validation's time for rates that settle on far fewer samples)."""
        path = self.shipped_path
        shipped = load_checkpoint(path)
        model = model_from_checkpoint(shipped, self.model.num_classes)
        cfg = self.config["train"]
        result = evaluate(model.to(self.device), self.val_set, cfg["eval_batch_size"], cfg["eval_seed"],
                          limit=ACTIVITY_SAMPLES, device=self.device, progress=self.progress, desc="activity",
                          per_sample=True, activity=True)
        classes = getattr(self.val_set.dataset, "classes", [str(i) for i in range(model.num_classes)])
        which = "latest validation" if path == self.latest_path else "best epoch"
        save_activity(result, classes, self.out,
                      title=f"{self.out.name}: {self.data_label} (validation, {result['num_samples']:,} samples, "
                            f"{which}: {shipped['epoch']})",
                      weights={"checkpoint": path.name, "epoch": shipped["epoch"]})

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp)

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        images, labels = time_major(images.to(self.device)), labels.to(self.device)
        if self.augment.active:
            images = self.augment(images)
        self.optimizer.zero_grad(set_to_none=True)
        if self.online is None:
            with self._autocast():
                steps = self.forward_steps(images)
            steps = steps.float()  # the loss in float32 whatever the network ran in
            loss = self.loss_fn(steps, labels)
            if self.teacher is not None:
                with self._autocast():
                    teacher_logits = self.teacher.logits(images)
                loss = self.teacher.mix(loss, steps, teacher_logits)
            self.scaler.scale(loss).backward()
        else:  # gradients accumulated step by step; the recipe's loss on the whole read-out is logged
            cfg = self.config["train"]
            T = images.shape[0] if images.dim() == 5 else self.model.T
            trained = draw_steps(T, cfg["sltt_k"], self.gradient_rng) if cfg["gradient"] == "sltt-k" else None
            steps = self.online(images, labels, trained)
            loss = self.loss_fn(steps, labels)
        if self.config["train"]["grad_clip"]:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config["train"]["grad_clip"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        acc = 100.0 * float((steps.detach().mean(0).argmax(1) == labels).float().mean())
        return float(loss.detach()), acc


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min" if seconds >= 90 \
        else f"{seconds:.0f} s"


def _labels(subset: Subset) -> torch.Tensor:
    """The class of every sample of a hold-out subset, read from its dataset's ``targets``."""
    targets = getattr(subset.dataset, "targets", None)
    if targets is None:
        raise ZooError(f"train.balanced needs a dataset with per-sample targets; {type(subset.dataset).__name__} has none")
    return torch.as_tensor([int(targets[i]) for i in subset.indices])


def train(config: dict, out: str | Path, resume: bool = False, max_steps: int | None = None,
          device: str | None = None, progress: bool = True) -> dict:
    """Run (or, with ``resume``, continue) a recipe in the run folder ``out``."""
    out = Path(out)
    if resume:
        saved = out / "config.yaml"
        if not saved.is_file():
            raise ZooError(f"cannot resume: {out} has no config.yaml (is it a run folder?)")
        config = load_recipe(yaml.safe_load(saved.read_text()))  # defaults added since the run began
    trainer = Trainer(config, out, device=device, progress=progress)
    if resume:
        trainer.resume()
    summary = trainer.fit(max_steps=max_steps)
    trainer.dist.close()  # only on success: a rank that raised may have peers still in a collective
    return summary
