"""Channels-last weights for training (``train.channels_last``).

oneDNN runs a 2-D convolution on a CPU (bfloat16 on AMX or AVX512-BF16, float32 on AVX2 alike) with the
channels innermost (NHWC); in PyTorch's default layout (NCHW) every convolution of a step reorders its
input, its output and both of their gradients. With the 4-D weights stored channels-last, each convolution
writes its output in that layout too, so the activations stay in it from the first convolution on (the input
needs no conversion):
``python -m zoo bench --suite memory_format`` measures the step side by side. The function computed is the
same up to float rounding; a published file holds contiguous tensors whatever layout trained them.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from ..neurons.strides import like
from . import precision

log = logging.getLogger("zoo")


def has_2d_convolutions(model: nn.Module) -> bool:
    return any(isinstance(module, nn.Conv2d) for module in model.modules())


def narrow_strided_pointwise_convolution(model: nn.Module) -> str | None:
    """The first 1x1 convolution with a stride and fewer than 8 input channels: in float32 channels-last on a
    CPU, oneDNN (3.12, PyTorch 2.14, AVX2) corrupts the heap computing its weight gradient (segmentation fault
    or ``double free`` on the backward pass); 8 channels or more, or bfloat16, compute it correctly."""
    for name, module in model.named_modules():
        if (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and max(module.stride) > 1
                and module.in_channels < 8):
            return name
    return None


def wants_channels_last(setting: bool | str, model: nn.Module, device: torch.device, amp: bool) -> bool:
    """Whether to train ``model`` channels-last: ``setting`` True or False says so; ``"auto"`` where it was
    measured faster, a network with 2-D convolutions on a CPU, in float32 or under bfloat16 autocast that
    oneDNN runs natively (not emulated bfloat16, nor CUDA, which keeps its default layout: not measured
    here). Never a network that oneDNN's float32 channels-last backward would crash
    (:func:`narrow_strided_pointwise_convolution`)."""
    if setting != "auto":
        wanted = bool(setting)
    else:
        wanted = (device.type == "cpu" and has_2d_convolutions(model)
                  and (not amp or precision.native_cpu_bfloat16()))
    hazard = wanted and device.type == "cpu" and not amp and narrow_strided_pointwise_convolution(model)
    if hazard:
        log.warning("train.channels_last: %s is a strided 1x1 convolution with fewer than 8 input channels, whose "
                    "float32 channels-last weight gradient crashes oneDNN on a CPU; training in the default layout",
                    hazard)
        return False
    return wanted


def to_channels_last(model: nn.Module) -> nn.Module:
    """``model`` with its 4-D parameters and buffers channels-last (in place; the others are unchanged)."""
    return model.to(memory_format=torch.channels_last)


def match_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Each per-parameter state tensor (momentum, Adam's moments) in its parameter's layout.
    ``Optimizer.load_state_dict`` keeps the strides a checkpoint was saved with, and PyTorch's fused kernels
    read a state tensor as if it had its parameter's: a run saved in one layout and resumed in the other
    would otherwise update with scrambled moments."""
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                state[key] = like(value, param)
