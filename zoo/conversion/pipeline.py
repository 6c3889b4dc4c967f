"""ANN-to-SNN conversion: a trained ReLU network becomes an IF-neuron SNN, calibrated for each ``T``.

1. **BN folding** into the preceding convolution (:func:`fold_bn`), checked numerically.
2. **Thresholds** (:mod:`zoo.conversion.calibration`): every ReLU becomes an integrate-and-fire neuron with soft
   reset whose threshold is searched to minimise the layer's clip-and-round error at that ``T``
   (``threshold="mse"``) or is a fixed percentile of its activations (threshold balancing). A QCFS
   activation (Bu et al., ICLR 2022) becomes the paper's neuron instead: its trained threshold, the
   membrane starting at half of it and no bias shift (``threshold="qcfs"``).
3. **Bias shift** of ``threshold / (2T)`` per step, so spike counts round instead of floor.
4. **Calibration** (Li et al., "A Free Lunch From ANN", ICML 2021), layer by layer from the input:
   weight calibration (``weight_steps``), then bias or potential calibration (``calibrate``). The
   paper's *light* pipeline is thresholds + bias calibration, its *advanced* one adds the weights
   (:data:`PIPELINES`).

Each ``T`` of ``T`` gets its own calibration from the ANN's weights; the model keeps every calibrated
state and uses the one for the ``T`` it is set to (:mod:`zoo.conversion.ifnet`).
"""
from __future__ import annotations

import copy
import time
from typing import Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..hub.checkpoints import state_dict_differences
from ..models.base import copy_replacing
from ..models.qcfs import QCFS
from .calibration import calibrate_potentials, calibrate_weights, relu_activations, set_thresholds
from .ifnet import ConvertedSNN, IFNeuron

__all__ = ["CALIBRATIONS", "PIPELINES", "ConvertedSNN", "IFNeuron", "convert", "fold_bn", "start_from_ann"]

CALIBRATIONS = ("none", "bias", "potential")
PIPELINES = {"light": {"calibrate": "bias", "weight_steps": 0},
             "advanced": {"calibrate": "potential", "weight_steps": 1000}}


def fold_bn(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) with every BatchNorm that directly follows a convolution in
    registration order folded into it and replaced by ``Identity``; any other BatchNorm is refused."""
    folded = copy.deepcopy(model).eval()
    for parent_name, parent in folded.named_modules():
        children = list(parent.named_children())
        for index, (name, second) in enumerate(children):
            if not isinstance(second, nn.BatchNorm2d):
                continue
            first = children[index - 1][1] if index else None
            if not isinstance(first, nn.Conv2d):
                where = f"{parent_name}.{name}" if parent_name else name
                raise ValueError(f"cannot convert: the BatchNorm {where} does not follow a convolution it could be "
                                 f"folded into")
            scale = second.weight.detach() / torch.sqrt(second.running_var + second.eps)
            first.weight.data = first.weight.data * scale.view(-1, 1, 1, 1)
            bias = first.bias.data if first.bias is not None else torch.zeros_like(second.running_mean)
            first.bias = nn.Parameter((bias - second.running_mean) * scale + second.bias.detach())
            setattr(parent, name, nn.Identity())
    return folded


def _as_relu(net: nn.Module) -> nn.Module:
    """``net`` itself, or for a QCFS network a copy with ReLU in place of each QCFS activation."""
    return copy_replacing(net, QCFS, lambda _: nn.ReLU()) if uses_qcfs(net) else net


def uses_qcfs(ann: nn.Module) -> bool:
    """Whether ``ann`` was built with QCFS activations (:mod:`zoo.models.qcfs`) in place of ReLU."""
    return any(isinstance(m, QCFS) for m in ann.modules())


def check_convertible(ann: nn.Module) -> None:
    """One line naming the first layer a converted SNN cannot run: only convolutions, linear layers,
    average pooling, BatchNorm after a convolution and ReLU convert."""
    for name, module in ann.named_modules():
        if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)):
            raise ValueError(f"cannot convert: {name} is a max-pooling layer, which spikes cannot compute; "
                             f"use average pooling in the ANN")
        if isinstance(module, (nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU)):
            raise ValueError(f"cannot convert: {name} is a {type(module).__name__}; only ReLU activations become "
                             f"IF neurons")


def convert(ann: nn.Module, calibration: list[torch.Tensor], T: int | Sequence[int] = 32,
            threshold: str | float = "mse", calibrate: str = "bias", weight_steps: int = 0,
            channel_wise: bool = True, bias_shift: bool = True, progress: bool = False) -> ConvertedSNN:
    """Convert the ReLU network ``ann`` into an IF SNN calibrated on the image batches ``calibration``
    for every ``T`` given (the model is left at the last one); ``threshold`` is ``"mse"`` (searched per
    channel when ``channel_wise``) or a percentile of each layer's activations.
    Each state's cost in seconds is in ``snn.calibration_seconds``."""
    steps = (T,) if isinstance(T, int) else tuple(T)
    if not steps or any(not isinstance(t, int) or t < 1 for t in steps):
        raise ValueError(f"T must be positive numbers of time steps, got {list(steps)}")
    if calibrate not in CALIBRATIONS:
        raise ValueError(f"calibrate must be one of {', '.join(CALIBRATIONS)}, got {calibrate!r}")
    if threshold not in ("mse", "qcfs") and not (isinstance(threshold, (int, float)) and 0.0 < threshold <= 100.0):
        raise ValueError(f"threshold must be 'mse', 'qcfs' or a percentile in (0, 100], got {threshold!r}")
    if threshold == "qcfs" and not uses_qcfs(ann):
        raise ValueError("threshold 'qcfs' takes the thresholds a QCFS network trained; this network has ReLU "
                         "activations (train it with model.kwargs.activation=qcfs, or use 'mse')")
    if weight_steps < 0:
        raise ValueError(f"weight_steps must be 0 (no weight calibration) or more, got {weight_steps}")
    if not calibration:
        raise ValueError("conversion needs at least one calibration batch")
    check_convertible(ann)
    folded = fold_bn(ann)
    with torch.no_grad():  # checked with ReLU for QCFS: its floor turns a 1e-7 rounding into a whole level
        reference, check = _as_relu(ann.eval())(calibration[0]), _as_relu(folded)(calibration[0])
    if not torch.allclose(reference, check, rtol=1e-4, atol=1e-4 * float(reference.abs().max())):
        raise ValueError("folding BatchNorm changed the network's outputs: a BatchNorm does not directly "
                         "follow its convolution in the module order")
    activations = relu_activations(folded, calibration)
    snn = ConvertedSNN(folded, T=steps[0], bias_shift=bias_shift).eval()
    ann_state = copy.deepcopy(snn.net.state_dict())
    for t in tqdm(steps, desc="calibrating", disable=not progress or len(steps) == 1):
        started = time.perf_counter()
        snn.set_steps(t, use_calibration=False)
        snn.net.load_state_dict(ann_state)  # every T starts from the ANN's weights
        set_thresholds(snn, activations, threshold, channel_wise)
        if weight_steps:
            calibrate_weights(snn, activations, calibration, steps=weight_steps, progress=progress)
        if calibrate != "none":
            calibrate_potentials(snn, activations, calibration, calibrate, progress=progress)
        snn.store_calibration()
        snn.calibration_seconds[t] = round(time.perf_counter() - started, 1)
    return snn


def start_from_ann(snn: ConvertedSNN, ann: nn.Module, images: torch.Tensor) -> ConvertedSNN:
    """Fill ``snn`` (built untrained, as a recipe names it) with the conversion of ``ann`` at ``snn.T``
    without calibration, as the start of fine-tuning through time: a QCFS network brings its trained
    thresholds, a ReLU network gets thresholds searched on ``images``. The result holds no calibrated
    states, since training changes the weights they would restore."""
    if isinstance(ann, ConvertedSNN):
        raise ValueError("it is a converted SNN already; name the ANN weight it was converted from")
    qcfs = uses_qcfs(ann)
    if qcfs != snn.from_qcfs:
        have, want = ("QCFS", "ReLU") if qcfs else ("ReLU", "QCFS")
        raise ValueError(f"the ANN has {have} activations and the converted network to train was built for {want} "
                         f"ones (set its activation argument, model.kwargs.activation, to the ANN's)")
    converted = convert(ann, [images], T=snn.T, threshold="qcfs" if qcfs else "mse", calibrate="none",
                        bias_shift=snn.bias_shift)
    own, theirs = snn.net.state_dict(), converted.net.state_dict()
    found = state_dict_differences(own, theirs)
    differences = ([f"{key} is {list(theirs[key].shape)} in the ANN, {list(own[key].shape)} here"
                    for key in found.wrong_shape]
                   + [f"{key} is missing from the ANN" for key in found.missing]
                   + [f"the ANN has {key}, this network not" for key in found.unexpected])
    if differences:
        raise ValueError(f"the ANN does not fit the converted network to train: {differences[0]}"
                         f"{f' (and {len(differences) - 1} more)' if len(differences) > 1 else ''}")
    snn.net.load_state_dict(theirs)
    return snn
