"""The SEW-ResNet authors' released checkpoints (Fang et al., NeurIPS 2021, their
``Spike-Element-Wise-ResNet`` code) in the zoo's module names.

Their ImageNet nets wrap each conv and its BN in one ``SeqToANNContainer`` (``layerX.Y.conv1.module.0``
is the conv, ``.module.1`` the BN; ``downsample.0.module.{0,1}``); their event-data nets are one flat
``conv`` ``Sequential`` of up-convs, blocks and pools (``conv.N.0.module.0``, ``conv.N.conv.0.1.w``, ...)
with the read-out ``out``, and store PLIF's ``w`` with shape ``[1]``. The zoo's names follow SpikingJelly's
``sew_resnet`` instead; this module translates, so ``zoo.load_weights`` takes either, and SpikingJelly 2.x's
``spikformer_*`` state dicts (:mod:`zoo.hub.spikingjelly2_layout`).
"""
from __future__ import annotations

import re

import torch

from .spikingjelly2_layout import from_spikingjelly2_spikformer

_IMAGENET_RULES = [
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.module\.0\."), r"\1.conv\2."),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\.module\.1\."), r"\1.bn\2."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.0\.module\.0\."), r"\1.downsample.0."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\.0\.module\.1\."), r"\1.downsample.1."),
]


def is_authors_layout(state: dict[str, torch.Tensor]) -> bool:
    # a read-out module named ``head``: the zoo's models use ``head`` to name their read-out instead
    return any(".module." in key or key.startswith("out.") for key in state) or "head.weight" in state


def from_authors_layout(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` in ``model``'s names (unchanged if it is not in the authors' layout); a SpikingJelly 2.x
    ``spikformer_*`` state dict only for a Spikformer that pools as it does (else a ``WeightsError``)."""
    state = from_spikingjelly2_spikformer(model, state)
    if not is_authors_layout(state):
        return state
    if hasattr(model, "patch_embed"):  # the spiking transformers: the authors' read-out ``head`` is ``fc``
        return {("fc." + key[len("head."):] if key.startswith("head.") else key): value for key, value in state.items()}
    if hasattr(model, "stages"):
        names = _event_net_names(model)
        renamed = {names.get(key, key): value for key, value in state.items()}
    else:
        renamed = {}
        for key, value in state.items():
            for pattern, replacement in _IMAGENET_RULES:
                key = pattern.sub(replacement, key)
            renamed[key] = value
    own = model.state_dict()
    return {key: value.reshape(own[key].shape) if key in own and value.numel() == own[key].numel() == 1 else value
            for key, value in renamed.items()}  # PLIF w: [1] there, a scalar here


def _event_net_names(model: torch.nn.Module) -> dict[str, str]:
    """Authors' key -> zoo key for a :class:`~zoo.models.sew_dvs.SEWDVSNet`, walking its stages in the
    order their flat ``conv`` list holds them (up-conv, block, pool)."""
    names, index = {"out.weight": "fc.weight", "out.bias": "fc.bias"}, 0

    def conv_bn(prefix: str, ours_conv: str, ours_bn: str) -> None:
        names[f"{prefix}.module.0.weight"] = f"{ours_conv}.weight"
        for field in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            names[f"{prefix}.module.1.{field}"] = f"{ours_bn}.{field}"

    for s, stage in enumerate(model.stages):
        ours = f"stages.{s}"
        if hasattr(stage, "up_conv"):
            conv_bn(f"conv.{index}.0", f"{ours}.up_conv", f"{ours}.up_bn")
            names[f"conv.{index}.1.w"] = f"{ours}.up_sn.w"
            index += 1
        block = f"conv.{index}.conv"
        conv_bn(f"{block}.0.0", f"{ours}.block.conv1", f"{ours}.block.bn1")
        names[f"{block}.0.1.w"] = f"{ours}.block.sn1.w"
        if stage.block.block == "basic":   # conv-BN only, the neuron after the sum
            conv_bn(f"{block}.1", f"{ours}.block.conv2", f"{ours}.block.bn2")
            names[f"conv.{index}.sn.w"] = f"{ours}.block.sn2.w"
        else:
            conv_bn(f"{block}.1.0", f"{ours}.block.conv2", f"{ours}.block.bn2")
            names[f"{block}.1.1.w"] = f"{ours}.block.sn2.w"
        index += 2  # the block, then its max-pool
    return names
