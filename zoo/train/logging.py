"""Where a run's metrics go: ``metrics.jsonl`` always (every event, one JSON object a line),
``metrics.csv`` (train and validation rows, for spreadsheets) and, when the recipe asks for it and the
package is installed, Weights & Biases, offline unless ``WANDB_MODE`` says otherwise. wandb is never
required: without it the run logs locally and says so once."""
from __future__ import annotations

import csv
import importlib.util
import json
import logging
import os
from pathlib import Path

log = logging.getLogger("zoo")
CSV_FIELDS = ("event", "epoch", "step", "loss", "acc1", "lr", "best", "elapsed_s")


class RunLogger:
    def __init__(self, out: Path, config: dict, use_wandb: bool = False, enabled: bool = True):
        self.out, self.enabled = Path(out), enabled
        self.wandb = None
        if enabled and use_wandb:
            if importlib.util.find_spec("wandb") is None:
                log.info("train.wandb is on but wandb is not installed (pip install -e '.[wandb]'); logging locally")
            else:
                import wandb

                os.environ.setdefault("WANDB_MODE", "offline")
                self.wandb = wandb.init(project="spiking-zoo", name=self.out.name, dir=str(self.out),
                                        config=config, resume="allow", id=self.out.name)

    def __call__(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if record.get("event") in ("train", "val"):
            path = self.out / "metrics.csv"
            new = not path.exists()
            with open(path, "a", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerow(record)
            if self.wandb is not None:
                prefix = record["event"]
                self.wandb.log({f"{prefix}/{k}": v for k, v in record.items()
                                if isinstance(v, (int, float)) and k != "step"}, step=record["step"])

    def close(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
