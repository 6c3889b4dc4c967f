"""The optimisers a recipe names (``train.optimizer``), built as their papers' code builds them.

``adamw`` is the spiking transformers' optimiser (Spikformer's and the Spike-driven Transformer's training
scripts take timm's ``create_optimizer``): decoupled weight decay on the weight matrices and kernels only,
biases and normalisation scales (the 1-D parameters) left undecayed, as timm's
``param_groups_weight_decay`` groups them. ``adam`` and ``sgd`` decay every parameter (PyTorch's L2 term)."""
from __future__ import annotations

import torch

OPTIMIZERS = ("adam", "adamw", "sgd")


def fused_if_supported(optimizer_class: type[torch.optim.Optimizer], params, **kwargs) -> torch.optim.Optimizer:
    """``optimizer_class`` with its fused kernel where PyTorch has one for these parameters: on a CPU the
    default per-tensor (foreach) Adam spends about 95 ms a step on the PLIF net's 13 M parameters, the
    fused one 7 ms, for the same update to float rounding."""
    try:
        return optimizer_class(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # a device or dtype without fused kernels
        return optimizer_class(params, **kwargs)


def without_decay_on_vectors(groups: list[dict], weight_decay: float) -> list[dict]:
    """Each parameter group split in two: its matrices and kernels at ``weight_decay``, its 1-D
    parameters (biases, normalisation scales) at none, each half keeping the group's other settings."""
    split = []
    for group in groups:
        for decay, members in ((weight_decay, [p for p in group["params"] if p.ndim > 1]),
                               (0.0, [p for p in group["params"] if p.ndim <= 1])):
            if members:
                split.append({**group, "params": members, "weight_decay": decay})
    return split


def build_optimizer(params: list, train_cfg: dict) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` (tensors, or parameter groups as dicts)."""
    name, lr, weight_decay = train_cfg["optimizer"], train_cfg["lr"], train_cfg["weight_decay"]
    if name == "sgd":
        return fused_if_supported(torch.optim.SGD, params, lr=lr, momentum=train_cfg["momentum"],
                                  weight_decay=weight_decay)
    if name == "adamw":
        groups = params if params and isinstance(params[0], dict) else [{"params": params}]
        return fused_if_supported(torch.optim.AdamW, without_decay_on_vectors(groups, weight_decay), lr=lr)
    return fused_if_supported(torch.optim.Adam, params, lr=lr, weight_decay=weight_decay)
