"""Training curves from a run's ``metrics.jsonl``, written beside it as ``curves.png``."""
from __future__ import annotations

import json
from pathlib import Path


def plot_curves(run_dir: str | Path) -> Path:
    """Loss and accuracy against step (train), validation accuracy at each epoch end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot([e["step"] for e in train], [e["loss"] for e in train], lw=1)
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss")
    ax_acc.plot([e["step"] for e in train], [e["acc1"] for e in train], lw=1, alpha=0.6, label="train batch")
    ax_acc.plot([e["step"] for e in val], [e["acc1"] for e in val], "o-", label="validation")
    ax_acc.set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    out = run_dir / "curves.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
