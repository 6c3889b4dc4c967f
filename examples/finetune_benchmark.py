"""How `zoo finetune`'s defaults do on small event folders: the pretrained `sew_4b_net.fmnist_dvs`
fine-tuned with the defaults, against the same architecture trained from scratch with the same recipe
(the whole net at the read-out's learning rate), on

- toy folders whose classes are plainly separable (position, motion direction, polarity; 24
  recordings a class on a 48x40 sensor, unlike the pretrained 34x34), and
- emulated Fashion-MNIST events (`fashion-mnist-dvs`) with 20, 50 and 200 recordings a class, taken
  from the test images, which the pretrained weight never trained on.

On the toy folders it also fine-tunes with the frames resized to the pretrained 34x34
(``--adapt resize``), the other way to meet a new sensor size. Writes ``results.json`` and ``README.md``
(the page with the table) into ``--out``; run folders go under ``--runs`` and are reused when finished::

    python examples/finetune_benchmark.py --out docs/finetune
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import yaml

import zoo
from zoo.data.export import export_event_dataset
from zoo.data.toy_events import TASKS, write_toy_folder
from zoo.train import evaluate, train
from zoo.train.checkpoint import load_checkpoint, model_from_checkpoint
from zoo.train.finetune import FINETUNE_DEFAULTS, TRUSTED_VALIDATION, finetune_config

DEFAULTS = {**FINETUNE_DEFAULTS, "trusted_validation": TRUSTED_VALIDATION}  # what a row was measured with

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = "sew_4b_net.fmnist_dvs"


def fmnist_dvs_folder(root: Path, per_class: int) -> Path:
    """The first ``per_class`` test images of each class, as emulated recordings in a custom folder."""
    folder = root / f"fmnist_dvs_{per_class}"
    if not folder.is_dir():
        test = zoo.load_dataset("fashion-mnist-dvs", split="test")
        chosen = [i for label in range(len(test.classes))
                  for i in [j for j, t in enumerate(test.targets) if t == label][:per_class]]
        export_event_dataset(test, folder, indices=chosen)
    return folder


def run(folder: Path, out: Path, pretrained: bool, adapt: str = "native") -> dict:
    """Fine-tune (or, with ``pretrained=False``, train from scratch) and measure the test split."""
    config = finetune_config(PRETRAINED, folder, adapt=adapt)
    if not pretrained:  # the same network and recipe from random weights
        config["model"].update(name=PRETRAINED.partition(".")[0], head="keep")
        config["train"]["backbone_lr_scale"] = 1.0
    saved = out / "config.yaml"
    if saved.is_file() and yaml.safe_load(saved.read_text())["train"] != config["train"]:
        shutil.rmtree(out)  # a run of other defaults: not this benchmark's
    log = out / "metrics.jsonl"
    if not (log.is_file() and '"finished": true' in log.read_text()):
        train(config, out, resume=(out / "checkpoints" / "last.pt").is_file())
    ends = [json.loads(line) for line in log.read_text().splitlines() if '"event": "end"' in line]
    start = time.time()
    best = load_checkpoint(out / "checkpoints" / "best.pt")
    data_kwargs = config["data"]["kwargs"]
    test = zoo.load_dataset("events", root=folder, split="test", **data_kwargs)
    result = evaluate(model_from_checkpoint(best), test, batch_size=64, progress=False)
    return {"test_acc1": result["acc1"], "test_samples": result["num_samples"], "val_acc1": best["val_acc1"],
            "steps": ends[-1]["step"], "wall_s": round(sum(e["wall_s"] for e in ends) + time.time() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "finetune_benchmark")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "finetune")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 200])
    parser.add_argument("--only", default=None, metavar="PREFIX",
                        help="re-run only the tasks whose label starts with PREFIX, keeping the other rows")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.runs / "data"
    tasks = {}
    for task in TASKS:
        folder = data / f"toy_{task}"
        if not folder.is_dir():
            write_toy_folder(folder, task)
        tasks[f"toy {task} (48x40, {len(TASKS[task])} classes, 24 a class)"] = folder
    for size in args.sizes:
        tasks[f"fashion-mnist-dvs (34x34, 10 classes, {size} a class)"] = fmnist_dvs_folder(data, size)
    previous = args.out / "results.json"
    kept = {row["task"]: row for row in json.loads(previous.read_text())} if args.only and previous.is_file() else {}
    results = []
    for label, folder in tasks.items():
        if args.only and not label.startswith(args.only) and label in kept:
            results.append(kept[label])
            continue
        row = {"task": label, "folder": folder.name, "defaults": DEFAULTS}
        kinds = [("finetuned", True, "native"), ("scratch", False, "native")]
        if label.startswith("toy"):
            kinds.insert(1, ("finetuned_resized", True, "resize"))
        for kind, pretrained, adapt in kinds:
            row[kind] = run(folder, args.runs / f"{folder.name}_{kind}", pretrained, adapt)
            print(f"{label}: {kind} {row[kind]['test_acc1']:.2f}% on {row[kind]['test_samples']} test recordings")
        results.append(row)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "README.md").write_text(page(results))
    print(page(results))


def page(results: list[dict]) -> str:
    def cell(row: dict, kind: str) -> str:
        return f"{row[kind]['test_acc1']:.2f}%" if kind in row else "-"

    lines = ["# Fine-tuning on small event folders", "", "Written by `python examples/finetune_benchmark.py "
             "--out docs/finetune` (its docstring says what each task is). `zoo finetune`'s defaults (a budget of at "
             "least 300 steps, the body at a tenth of the read-out's learning rate, class-balanced batches, shifts, "
             "event drop and time jitter, ten validations, an early stop only on a validation split of 50 "
             "recordings or more) from the shipped `sew_4b_net.fmnist_dvs`, against the same "
             "network and recipe from random weights. Accuracy on each folder's held-out test recordings (the "
             "folder's seeded 20% per class); the best validation checkpoint of each run. The last column is the "
             "default fine-tuning's wall time (the run and its test, the process alone on the 2-core CPU).", "",
             "| task | fine-tuned (sensor kept) | fine-tuned (frames resized to 34x34) | from scratch | test recordings "
             "| fine-tuning time |",
             "|---|---|---|---|---|---|"]
    earlier = False
    for row in results:
        mark = "" if row.get("defaults") == DEFAULTS else " (earlier defaults)"
        earlier = earlier or bool(mark)
        lines.append(f"| {row['task']}{mark} | {cell(row, 'finetuned')} | {cell(row, 'finetuned_resized')} | "
                     f"{cell(row, 'scratch')} | {row['finetuned']['test_samples']} | {row['finetuned']['wall_s']:.0f} s |")
    if earlier:
        lines += ["", "Rows marked *earlier defaults* were measured before fine-tuning validated by steps (an early "
                  "stop after 150 steps without a better validation, whatever the split's size); "
                  "`--only PREFIX` re-measures them."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
