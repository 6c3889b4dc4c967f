"""BPTT, SLTT and SLTT-K at the same wall-clock budget: the PLIF paper's Fashion-MNIST recipe
(``recipes/plif_net_fashion_mnist.yaml``, T=8, batch 16, bfloat16 autocast) trained for as many
optimizer steps as each method fits in ``--budget`` seconds, everything else the same (seed, batch
order, cosine schedule over the run's own steps), then measured on the 10,000 test images.

The step times come first, measured side by side in this process (the methods alternate), so the
step counts do not depend on what else the machine runs later; each run's own wall time is reported
beside them. Writes ``results.json`` and ``README.md`` into ``--out``::

    python examples/gradient_budget.py --budget 600 --out docs/bench/training_budget
"""
from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch

from zoo.bench.timing import interleaved, median
from zoo.bench.training import training_step
from zoo.hub.factory import create_model
from zoo.train import evaluate, load_recipe, train
from zoo.train.checkpoint import load_checkpoint
from zoo.train.losses import build_loss
from zoo.data import load_dataset

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "plif_net_fashion_mnist.yaml"
METHODS = ("bptt", "sltt", "sltt-k")
K = 2


def step_times(repeats: int) -> dict[str, float]:
    """Median seconds of one training step (forward and backward) of each method, interleaved."""
    config = load_recipe(str(RECIPE))
    torch.manual_seed(0)
    model = create_model("plif_net_mnist", **config["model"]["kwargs"]).train()
    images, labels = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    loss_fn, generator = build_loss(config["train"]["loss"]), torch.Generator().manual_seed(0)

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    seconds = interleaved({m: functools.partial(training_step, model, m, images, labels, loss_fn, autocast,
                                                generator) for m in METHODS}, repeats)
    return {m: median(v) for m, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of training per method")
    parser.add_argument("--repeats", type=int, default=7, help="step-time measurements per method")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "training_budget")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "training_budget")
    parser.add_argument("--limit", type=int, default=None, help="test images (all 10,000 by default)")
    args = parser.parse_args()
    times = step_times(args.repeats)
    rows = []
    for method in METHODS:
        steps = max(1, round(args.budget / times[method]))
        overrides = [f"train.steps={steps}", f"train.gradient={method}",  # no validation: the test set judges
                     f"train.sltt_k={K}", "train.test_every_epoch=false", f"train.checkpoint_every={steps}"]
        config = load_recipe(str(RECIPE), overrides)
        run = args.runs / method
        started = time.time()
        summary = train(config, run, resume=(run / "checkpoints" / "last.pt").exists())
        wall = time.time() - started
        model = create_model("plif_net_mnist", **config["model"]["kwargs"])
        model.load_state_dict(load_checkpoint(run / "checkpoints" / "last.pt")["model"])
        test = evaluate(model, load_dataset("fashion-mnist", split="test"), batch_size=500, limit=args.limit,
                        desc=f"test {method}")
        rows.append({"method": method, "step_s": round(times[method], 4), "steps": steps,
                     "images": steps * config["train"]["batch_size"], "wall_s": round(wall, 1),
                     "test_acc1": test["acc1"], "test_images": test["num_samples"], "finished": summary["finished"]})
        print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"budget_s": args.budget, "recipe": RECIPE.relative_to(REPO).as_posix(), "K": K,
              "threads": torch.get_num_threads(), "rows": rows,
              "command": f"python examples/gradient_budget.py --budget {args.budget:g}"}
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# BPTT, SLTT and SLTT-{K} at the same training budget", "",
             f"The PLIF Fashion-MNIST recipe (`{result['recipe']}`, T=8, batch 16, bfloat16 autocast), "
             f"{args.budget:g} s of training steps per method at the step times measured side by side "
             f"first ({result['threads']} thread(s)); the last weights measured on the "
             f"{rows[0]['test_images']:,} test images. `{result['command']}`", "",
             "| method | s / step | steps | images | test acc1 | wall s |", "|---|---|---|---|---|---|"]
    names = {"bptt": "BPTT", "sltt": "SLTT", "sltt-k": f"SLTT-{K}"}
    lines += [f"| {names[r['method']]} | {r['step_s']:.3f} | {r['steps']} | {r['images']} | {r['test_acc1']:.2f}% "
              f"| {r['wall_s']:.0f} |" for r in rows]
    (args.out / "README.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
