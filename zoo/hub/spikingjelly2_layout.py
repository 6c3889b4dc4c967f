"""SpikingJelly 2.x's ``spikformer_ti``, ``spikformer_s`` and ``spikformer_cifar10`` state dicts
(``spikingjelly.activation_based.model.spikformer``) in the zoo Spikformer's names.

Their tensors are the zoo's, one for one: ``patch_embed.stages.N.conv_bn.block.{0,1}`` are ``proj_conv``/
``proj_bn`` of stage N, ``positional_encoding`` is ``rpe_*``, each block's fused ``attn.qkv_conv_bn`` holds Q,
K and V in thirds, the bias-free ``proj_conv_bn``/``mlp.fc1``/``mlp.fc2`` are the zoo's projections with a
zero bias, and ``head`` is ``fc``; so are their neurons, attention and read-out. Their patch stem is not the
authors': it max-pools a pooled stage's batch-norm output *before* the stage's LIF, where the authors' code
pools the spikes after it. Such a file loads only into a Spikformer built with ``pool_before_neuron=True``
(the same function, checked against SpikingJelly 2.x in ``tests/test_spikformer.py``); a model pooling as the
authors do refuses it with the reason, since renamed keys would load and compute another function. The file
holds neither the number of heads nor the pooled stages: the model must be built with SpikingJelly's.
"""
from __future__ import annotations

import re

import torch

from ..errors import WeightsError

# keys only SpikingJelly 2.x's Spikformer has (the zoo's, as the authors', are ``patch_embed.proj_conv``,
# ``block.N.attn.q_linear``/``q_conv``, ...)
_SPIKINGJELLY2_KEY = re.compile(r"^(patch_embed\.(stages\.\d+|positional_encoding)\.conv_bn\."
                                r"|blocks\.\d+\.attn\.qkv_conv_bn\.)")
_STAGE = re.compile(r"^patch_embed\.stages\.([0-3])\.conv_bn\.block\.([01])\.(\w+)$")
_POSITION = re.compile(r"^patch_embed\.positional_encoding\.conv_bn\.block\.([01])\.(\w+)$")
_HEAD = re.compile(r"^head\.(weight|bias)$")
_BLOCK = re.compile(r"^blocks\.(\d+)\.(attn|mlp)\.(qkv_conv_bn|proj_conv_bn|fc1|fc2)\.([01])\.(\w+)$")
_STAGE_SUFFIX = ("", "1", "2", "3")


def is_spikingjelly2_spikformer(state: dict[str, torch.Tensor]) -> bool:
    return any(_SPIKINGJELLY2_KEY.match(key) for key in state)


def from_spikingjelly2_spikformer(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` in ``model``'s names if it is a SpikingJelly 2.x ``spikformer_*`` state dict (unchanged if it
    is not); a :class:`~zoo.errors.WeightsError` if ``model`` does not pool its patch stem as those do."""
    if not is_spikingjelly2_spikformer(state):
        return state
    if not getattr(getattr(model, "patch_embed", None), "pool_before_neuron", False):
        raise WeightsError("a SpikingJelly 2.x spikformer_* state dict (patch_embed.stages.*.conv_bn, "
                           "blocks.*.attn.qkv_conv_bn) max-pools the batch-norm output before each pooled stage's "
                           "LIF: load it into a Spikformer built with pool_before_neuron=True (the authors' code, "
                           "and the zoo's default, max-pools the spikes after it)")
    ours: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if match := _STAGE.match(key):  # patch_embed.stages.N.conv_bn.block.{0: conv, 1: BN}.field
            stage, index, field = match.groups()
            ours[f"patch_embed.{('proj_conv', 'proj_bn')[int(index)]}{_STAGE_SUFFIX[int(stage)]}.{field}"] = value
        elif match := _POSITION.match(key):  # patch_embed.positional_encoding.conv_bn.block.{0, 1}.field
            index, field = match.groups()
            ours[f"patch_embed.{('rpe_conv', 'rpe_bn')[int(index)]}.{field}"] = value
        elif match := _HEAD.match(key):
            ours[f"fc.{match.group(1)}"] = value
        elif match := _BLOCK.match(key):  # blocks.N.{attn, mlp}.{qkv_conv_bn, proj_conv_bn, fc1, fc2}.{0, 1}.field
            ours.update(_block_tensor(*match.groups(), value, model.variant))
        else:  # not a tensor of SpikingJelly's Spikformer: load_weights names it as unexpected
            ours[key] = value
    dim = model.fc.in_features
    for n in {key.split(".")[1] for key in state if key.startswith("blocks.")}:
        for norm in ("norm1", "norm2"):  # the authors' LayerNorms, never called: their initial values
            ours[f"block.{n}.{norm}.weight"], ours[f"block.{n}.{norm}.bias"] = torch.ones(dim), torch.zeros(dim)
    return ours


def _block_tensor(n: str, branch: str, module: str, index: str, field: str, value: torch.Tensor,
                  variant: str) -> dict[str, torch.Tensor]:
    """One block tensor under the zoo's names: the fused Q/K/V split in thirds, the bias-free 1x1 ``Conv1d``
    weights as the CIFAR code's ``Linear`` or the ImageNet code's ``Conv1d``/``Conv2d`` weights, with zero
    biases where the zoo's layer has one."""
    if module == "qkv_conv_bn":
        pieces = list(zip("qkv", value.chunk(3) if value.ndim else [value] * 3))
    else:
        pieces = [("proj" if module == "proj_conv_bn" else module, value)]
    ours = {}
    for name, piece in pieces:
        prefix = f"block.{n}.{branch}.{name}"
        if index == "1":
            ours[f"{prefix}_bn.{field}"] = piece
        elif variant == "cifar":
            ours[f"{prefix}_linear.weight"] = piece[..., 0]
            ours[f"{prefix}_linear.bias"] = piece.new_zeros(len(piece))
        else:
            ours[f"{prefix}_conv.weight"] = piece[..., None] if branch == "mlp" else piece  # fc1/fc2: Conv2d
            if name not in ("q", "k", "v"):
                ours[f"{prefix}_conv.bias"] = piece.new_zeros(len(piece))
    return ours
