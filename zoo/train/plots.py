"""Training curves from a run's ``metrics.jsonl``, written beside it as ``curves.png``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..conversion.records import was_calibrated
from ..data.copies import source_label

if TYPE_CHECKING:
    import torch


def running_mean(values: list[float], window: int) -> list[float]:
    """The mean of each value and the ``window - 1`` before it (fewer at the start): one batch's accuracy
    swings by several points, the mean over several batches shows the trend."""
    import numpy as np

    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    sums = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=float))])
    ends = np.arange(1, len(sums))
    starts = np.maximum(ends - window, 0)
    return ((sums[ends] - sums[starts]) / (ends - starts)).tolist()


def plot_curves(run_dir: str | Path, window: int = 10) -> Path:
    """Loss and accuracy against step (train: each logged batch faint, their running mean over ``window`` logs
    drawn over it), validation accuracy at each epoch end with the best one marked; titled with the run and
    its data as cards name it (a known copy too, e.g. "cifar10 (JPEG copy)")."""
    plt = _pyplot()
    run_dir = Path(run_dir)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    steps = [e["step"] for e in train]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((ax_loss, "loss", "training loss"), (ax_acc, "acc1", "train")):
        values = [e[key] for e in train]
        ax.plot(steps, values, lw=0.8, alpha=0.3, color="#3b75af")
        ax.plot(steps, running_mean(values, window), lw=1.5, color="#3b75af",
                label=f"{label} (mean of {window} logged batches)")
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss")
    if val:
        ax_acc.plot([e["step"] for e in val], [e["acc1"] for e in val], "o-", color="#d9822b", label="validation")
        best = max(val, key=lambda e: e["acc1"])
        ax_acc.annotate(f"{best['acc1']:.2f}%", (best["step"], best["acc1"]), textcoords="offset points",
                        xytext=(0, 6), ha="center", fontsize=8, color="#d9822b")
    ax_acc.set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):  # legends below the axes, where they hide no point
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
    data = next((e["data"] for e in reversed(events) if e["event"] == "start" and e.get("data")), "")
    fig.suptitle(f"{run_dir.name}: {data}" if data else run_dir.name)  # the data as cards name it
    fig.tight_layout()
    out = run_dir / "curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_legs(placed: list[dict], path: str | Path, title: str = "") -> Path:
    """A schedule trained in legs (:func:`zoo.hub.legs.positions`): each leg's validation accuracy against the
    epoch, one colour a leg, and the test accuracy of the weight it shipped as a star."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    colours = plt.get_cmap("viridis")
    for index, leg in enumerate(placed):
        colour = colours(index / max(len(placed) - 1, 1))
        if leg["val"]:
            ax.plot(*zip(*leg["val"]), "o-", ms=3, color=colour, label=leg["name"].split(".", 1)[1])
        ax.plot(*leg["test"], "*", ms=10, color=colour, markeredgecolor="black", markeredgewidth=0.5)
    ax.plot([], [], "*", color="grey", markeredgecolor="black", label="test (the shipped weight)")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_firing_rates(firing_rates: dict[str, float], path: str | Path, title: str = "") -> Path:
    """One bar per spiking layer, in forward order."""
    plt = _pyplot()
    names = list(firing_rates)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.32 * len(names) + 2), 3.4))
    ax.bar(range(len(names)), [100 * firing_rates[n] for n in names], color="#3b75af")
    ax.set_xticks(range(len(names)), names, rotation=70, ha="right", fontsize=7)
    ax.set(ylabel="firing rate (% of neuron-steps)", title=title or "firing rate per layer")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_raster(spikes: dict[str, torch.Tensor], path: str | Path, layers: int = 6, title: str = "") -> Path:
    """Spike rasters ``[T, neurons]`` of one sample (a spread of the neurons that fired, by first spike)
    for the first ``layers`` spiking layers."""
    plt = _pyplot()
    names = list(spikes)[:layers]
    fig, axes = plt.subplots(1, len(names), figsize=(2.3 * len(names) + 0.5, 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        raster = spikes[name]
        steps, neurons = raster.nonzero(as_tuple=True)
        ax.scatter(steps.numpy(), neurons.numpy(), s=6, marker="|", color="black")
        ax.set(xlim=(-0.5, raster.shape[0] - 0.5), ylim=(-0.5, max(raster.shape[1], 1) - 0.5), xlabel="time step",
               title=name, ylabel="neurons that fired (by first spike)" if ax is axes[0][0] else "")
        ax.title.set_fontsize(7)
    fig.suptitle(title or "spike raster of one sample")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_event_frames(dataset, path: str | Path, samples: int = 6, title: str = "") -> Path:
    """The first ``samples`` samples of an event-frame dataset, one row each, one column per frame:
    ON events red, OFF events blue (one polarity: grey), each frame scaled to its own maximum count."""
    import numpy as np

    plt = _pyplot()
    samples = min(samples, len(dataset))
    if samples < 1:
        raise ValueError("the dataset has no samples to show")
    first = dataset[0][0]
    steps = first.shape[0]
    fig, axes = plt.subplots(samples, steps, figsize=(0.9 * steps + 1.2, 0.95 * samples + 0.6), squeeze=False)
    classes = getattr(dataset, "classes", None)
    for row in range(samples):
        frames, label = dataset[row]
        frames = frames.float().numpy()
        for step in range(steps):
            counts = frames[step]
            scale = max(float(counts.max()), 1.0)
            if counts.shape[0] >= 2:  # ON red, OFF blue on black
                image = np.stack([counts[0], np.zeros_like(counts[0]), counts[1]], axis=-1) / scale
            else:  # one polarity: dark events on white
                image = 1.0 - np.repeat(counts[0][..., None], 3, axis=-1) / scale
            ax = axes[row][step]
            ax.imshow(image.clip(0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t={step}", fontsize=7)
        axes[row][0].set_ylabel(classes[label] if classes else str(label), fontsize=7, rotation=0, ha="right",
                                va="center")
    fig.suptitle(title or "event frames (ON red, OFF blue)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_accuracy_vs_T(card: dict, path: str | Path) -> Path:
    """A converted SNN's test accuracy against its time steps (the T it holds a state for filled, the others hollow),
    with its ANN's as a line: the latency/accuracy trade-off at a glance."""
    if "conversion" not in card:
        raise ValueError(f"{card.get('arch')}.{card.get('tag')} is not a converted SNN (its card has no conversion "
                         "record)")
    plt = _pyplot()
    per_T = {int(t): record for t, record in card["conversion"]["per_T"].items() if "acc1" in record}
    steps = sorted(per_T)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    ax.plot(steps, [per_T[t]["acc1"] for t in steps], "-", color="#3b75af", lw=1)
    own_state = "calibrated for T" if was_calibrated(card["conversion"]) else "converted for T, no calibration"
    for calibrated, style in ((True, {"label": f"SNN, {own_state}"}),
                              (False, {"label": "SNN, run with another T's state", "facecolors": "white"})):
        chosen = [t for t in steps if per_T[t]["calibrated"] == calibrated]
        if chosen:
            ax.scatter(chosen, [per_T[t]["acc1"] for t in chosen], edgecolors="#3b75af", zorder=3,
                       **{"facecolors": "#3b75af", **style})
    ax.axhline(card["conversion"]["ann_acc1"], ls="--", color="grey",
               label=f"ANN {card['conversion']['ann_acc1']:.2f}%")
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, [str(t) for t in steps])
    dataset = source_label(card["dataset"], card.get("data_source"))
    ax.set(xlabel="time steps T", ylabel="test accuracy (%)", title=f"{card['arch']}.{card['tag']}\non {dataset}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_confusion(targets: list[int], predictions: list[int], classes: list[str], path: str | Path,
                   title: str = "") -> Path:
    """Row-normalised confusion matrix (rows: true class)."""
    import numpy as np

    plt = _pyplot()
    matrix = np.zeros((len(classes), len(classes)))
    np.add.at(matrix, (np.asarray(targets), np.asarray(predictions)), 1)
    matrix = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.45 * len(classes) + 2.5, 0.45 * len(classes) + 2))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if matrix[i, j] >= 0.01:
                ax.text(j, i, f"{100 * matrix[i, j]:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if matrix[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion (% of each true class)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def save_activity(result: dict, classes: list[str], out_dir: str | Path, title: str = "",
                  weights: dict | None = None) -> list[Path]:
    """From an :func:`~zoo.train.evaluate.evaluate` result with ``per_sample`` and ``activity``:
    ``activity.json`` (headed by ``weights``, what was measured), ``firing_rates.png``, ``raster.png`` (spiking
    models) and ``confusion.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = result["activity"]
    summary = {**(weights or {}), "acc1": result["acc1"], "num_samples": result["num_samples"], **report.summary()}
    (out_dir / "activity.json").write_text(json.dumps(summary, indent=2) + "\n")
    written = [out_dir / "activity.json"]
    if report.firing_rates:
        written.append(plot_firing_rates(report.firing_rates, out_dir / "firing_rates.png", title))
        written.append(plot_raster(report.spikes, out_dir / "raster.png", title=title))
    written.append(plot_confusion(result["targets"], result["predictions"], classes, out_dir / "confusion.png", title))
    return written


def plot_runs(run_dirs: list[str | Path], labels: list[str], path: str | Path, title: str = "") -> Path:
    """Training loss and validation accuracy of several runs on shared axes (e.g. an ablation)."""
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run_dir, label in zip(run_dirs, labels):
        events = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
        train = [e for e in events if e["event"] == "train"]
        val = [e for e in events if e["event"] == "val"]
        ax_loss.plot([e["step"] for e in train], [e["loss"] for e in train], lw=1, label=label)
        ax_acc.plot([e["step"] for e in val], [e["acc1"] for e in val], "o-", label=label)
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="validation accuracy (%)", title="validation accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
