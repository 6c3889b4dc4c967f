"""``optimizer``: a training step with PyTorch's default (foreach) Adam against the fused Adam the trainer
picks where it runs, in the setting of recipes/plif_net_fashion_mnist.yaml (PLIF net, T=8, batch 16,
bfloat16 autocast on a CPU): 13 M parameters, most in the 6272x2048 layer, against a small network, so
the optimizer is a large part of the step. So that the speed is not bought with a different update, the
row also gives the largest parameter difference between the two after one float32 step on the same data
(with autocast, a rounding difference can flip a spike and the runs then part as any two runs do)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..hub.factory import create_model
from ..train.optimizers import fused_if_supported
from .timing import interleaved, median, median_ratio


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor,
                dtype: torch.dtype | None):
    def step():
        with torch.autocast(images.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            rates = model(images)
        loss = nn.functional.mse_loss(rates.float(), nn.functional.one_hot(labels, rates.shape[1]).float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def max_difference(a: nn.Module, b: nn.Module) -> float:
    """Largest absolute difference between corresponding parameters of two copies of a network."""
    with torch.no_grad():
        return max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))


def run(repeats: int = 5, device: str = "cpu", batch: int = 16, model: str = "plif_net_mnist",
        **kwargs) -> list[dict]:
    """Ratio foreach / fused seconds of a training step (above 1: the fused optimizer is faster)."""
    dtype = torch.float16 if torch.device(device).type == "cuda" else torch.bfloat16
    torch.manual_seed(0)
    foreach_model = create_model(model, **kwargs).to(device)
    fused_model = copy.deepcopy(foreach_model)
    foreach = torch.optim.Adam(foreach_model.parameters(), lr=1e-3, foreach=True)
    fused = fused_if_supported(torch.optim.Adam, fused_model.parameters(), lr=1e-3)
    images = torch.rand(batch, foreach_model.in_channels, *foreach_model.input_size, device=device)
    labels = torch.randint(0, foreach_model.num_classes, (batch,), device=device)
    # dropout draws its masks from the global generator: both copies get the same masks from the same state
    state = torch.get_rng_state()
    _train_step(foreach_model, foreach, images, labels, None)()
    torch.set_rng_state(state)
    _train_step(fused_model, fused, images, labels, None)()
    drift = max_difference(foreach_model, fused_model)
    times = interleaved({"foreach": _train_step(foreach_model, foreach, images, labels, dtype),
                         "fused": _train_step(fused_model, fused, images, labels, dtype)}, repeats)
    name = str(dtype).removeprefix("torch.")
    return [{"suite": "optimizer", "case": f"{model} T={foreach_model.T} B={batch}, {name} autocast: train "
             f"step with foreach / fused Adam (after one float32 step the parameters differ by at most "
             f"{drift:.1e})",
             "foreach_s": median(times["foreach"]), "fused_s": median(times["fused"]), "max_difference": drift,
             "ratio": median_ratio(times["foreach"], times["fused"])}]
