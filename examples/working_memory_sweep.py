"""Accuracy against delay for LIF and GIF recurrent networks of equal size on the delayed-recall task:
the notes' question (why can a GIF network be trained on working memory where a LIF network cannot?)
answered with measurements.

For each delay and neuron it trains ``recipes/rsnn_delayed_recall_{lif,gif}.yaml`` with that delay
(same data, parameters and budget; run folders under ``--runs``, resumed where a previous call stopped),
evaluates the best checkpoint on the test split, and writes ``results.json`` and ``accuracy_vs_delay.png``
into ``--out``. The recipes' layers have no recurrent weights, so each neuron's memory is its own;
``--recurrent-delays`` also trains both with explicit recurrent weights at those delays::

    python examples/working_memory_sweep.py --delays 0 25 50 100 200 --recurrent-delays 100 --out docs/rsnn
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import zoo
from zoo.train import evaluate, load_recipe, train
from zoo.train.checkpoint import load_checkpoint, model_from_checkpoint

REPO = Path(__file__).resolve().parents[1]
NEURONS = ("lif", "gif")


def run_one(neuron: str, delay: int, runs: Path, recurrent: bool = False) -> dict:
    """Train (or finish training) one net and measure its best checkpoint on the test split."""
    recipe = f"recipes/rsnn_delayed_recall_{neuron}.yaml"  # relative, as `zoo train` records it (cwd: REPO)
    out = runs / f"{neuron}_delay{delay}{'_recurrent' if recurrent else ''}"
    log = out / "metrics.jsonl"
    if not (log.is_file() and '"finished": true' in log.read_text()):
        resume = (out / "checkpoints" / "last.pt").is_file()
        overrides = [f"data.kwargs.delay={delay}"] + (["model.kwargs.recurrent=true"] if recurrent else [])
        train(load_recipe(recipe, overrides), out, resume=resume)
    best = load_checkpoint(out / "checkpoints" / "best.pt")
    config = best["config"]
    test_set = zoo.load_dataset(config["data"]["name"], split="test", **config["data"]["kwargs"])
    result = evaluate(model_from_checkpoint(best, len(test_set.classes)), test_set,
                      batch_size=config["train"]["eval_batch_size"], desc=f"{neuron} delay {delay}")
    return {"neuron": neuron, "delay": delay, "recurrent_weights": recurrent, "test_acc1": result["acc1"],
            "num_samples": result["num_samples"],
            "val_acc1": best["val_acc1"], "best_epoch": best["epoch"], "run": str(out)}


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for neuron, color in zip(NEURONS, ("tab:blue", "tab:orange")):
        for recurrent, style, suffix in ((False, "o-", ""), (True, "x", " + recurrent weights")):
            rows = sorted((r for r in results if r["neuron"] == neuron and r["recurrent_weights"] == recurrent),
                          key=lambda r: r["delay"])
            nudge = (-4 if neuron == "lif" else 4) if recurrent else 0  # side by side where both reach 100%
            if rows:
                ax.plot([r["delay"] + nudge for r in rows], [r["test_acc1"] for r in rows], style, color=color,
                        ms=9 if recurrent else 5, mew=2, label=neuron.upper() + suffix)
    chance = 100.0 / 2
    ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    ax.set(xlabel="delay between cue and recall (steps)", ylabel="test accuracy (%)", ylim=(40, 102),
           title="delayed recall: 100 neurons, same budget")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 25, 50, 100, 200])
    parser.add_argument("--recurrent-delays", type=int, nargs="*", default=[100])
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "working_memory")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "rsnn")
    args = parser.parse_args()
    args.runs, args.out = args.runs.resolve(), args.out.resolve()
    os.chdir(REPO)
    args.out.mkdir(parents=True, exist_ok=True)
    results = [run_one(neuron, delay, args.runs) for delay in args.delays for neuron in NEURONS]
    results += [run_one(neuron, delay, args.runs, recurrent=True) for delay in args.recurrent_delays
                for neuron in NEURONS]
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "accuracy_vs_delay.png")
    for r in results:
        kind = "with recurrent weights" if r["recurrent_weights"] else "implicit recurrence only"
        print(f"{r['neuron']:>4} delay {r['delay']:>4}, {kind}: test {r['test_acc1']:.2f}% "
              f"(validation {r['val_acc1']:.2f}%)")


if __name__ == "__main__":
    main()
