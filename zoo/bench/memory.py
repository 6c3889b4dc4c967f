"""``memory``: what BPTT keeps for the backward pass as T grows, with SpikingJelly's neurons and with
the zoo's fused neurons (which store only the membrane before reset and the spikes).

On a CPU the measure is the bytes of the distinct tensors autograd saves during one forward (the
activation memory of BPTT, parameters excluded); on a GPU it is also the peak allocated memory."""
from __future__ import annotations

import torch

from ..hub.factory import create_model

STEPS = (1, 2, 4, 8, 16)
ARCH_KWARGS = {"stem": "cifar", "width": 16, "in_channels": 1, "input_size": (28, 28), "num_classes": 10,
               "zero_init_residual": False}


def saved_bytes(model: torch.nn.Module, images: torch.Tensor) -> int:
    """Bytes of the distinct non-parameter storages autograd saves for backward in one forward."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(images)
    return sum(seen.values())


def peak_cuda_bytes(model: torch.nn.Module, images: torch.Tensor) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    model(images).sum().backward()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def run(batch: int = 16, device: str = "cpu", steps: tuple[int, ...] = STEPS) -> list[dict]:
    rows = []
    images = torch.rand(batch, 1, 28, 28, device=device)
    for T in steps:
        row = {"suite": "memory", "case": f"sew_resnet18 w16 B={batch} T={T}", "T": T}
        for label, extra in (("spikingjelly", {"neuron_kwargs": {"fused": False}}), ("fused", {})):
            torch.manual_seed(0)
            model = create_model("sew_resnet18", T=T, **ARCH_KWARGS, **extra).to(device)
            row[f"{label}_saved_mb"] = saved_bytes(model, images) / 2**20
            if device != "cpu":
                row[f"{label}_peak_mb"] = peak_cuda_bytes(model, images) / 2**20
        row["ratio"] = row["fused_saved_mb"] / row["spikingjelly_saved_mb"]
        rows.append(row)
    return rows


def plot(rows: list[dict], path) -> None:
    """BPTT activation memory against T, both neuron implementations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = [row["T"] for row in rows]
    for label, key in (("SpikingJelly neurons", "spikingjelly_saved_mb"), ("zoo fused neurons", "fused_saved_mb")):
        ax.plot(steps, [row[key] for row in rows], marker="o", label=label)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("saved for backward (MiB)")
    ax.set_title(rows[0]["case"].rsplit(" T=", 1)[0])
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
