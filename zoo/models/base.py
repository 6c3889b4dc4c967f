"""What every zoo classifier shares: input checks, encoding of static images, neuron reset, and
firing-rate read-out, so each family file only describes its layers."""
from __future__ import annotations

import copy
import logging
import math
import warnings
from typing import Callable

import torch
from torch import nn

from ..encoding import DirectEncoder, build_encoder
from ..neurons.compat import import_spikingjelly
from ..neurons.strides import expand_steps

log = logging.getLogger("zoo")

sj = import_spikingjelly()


def warn_outside_unit_range(model: nn.Module, x: torch.Tensor) -> None:
    """Warn when static images are not in [0, 1]: the zoo's models normalise and encode inside, and
    mean/std-normalised input runs without error but predicts near chance."""
    if x.numel() == 0:
        return
    low, high = torch.aminmax(x.detach())
    if low < 0 or high > 1:
        warnings.warn(f"{type(model).__name__} expects images in [0, 1] (it normalises and encodes them "
                      f"itself), got values in [{float(low):.3g}, {float(high):.3g}]; pass unnormalised "
                      f"images", UserWarning, stacklevel=4)



def copy_replacing(model: nn.Module, kind: type | tuple[type, ...], make: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """A deep copy of ``model`` with every submodule of ``kind`` replaced by ``make(that module)``."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, kind):
                setattr(module, name, make(child))
    return model

class ResettableHead:
    """``reset_classifier(num_classes)``, as timm's models have it: a new, untrained read-out layer
    (the ``head`` attribute names it) for another number of classes, the rest of the network kept. A
    voting read-out keeps its neurons per class."""

    def _read_out(self) -> tuple[nn.Module, str, nn.Module]:
        """The read-out layer named by ``head``: its parent module, its attribute name, the layer."""
        parent_name, _, child_name = self.head.rpartition(".")
        parent = self.get_submodule(parent_name) if parent_name else self
        return parent, child_name, getattr(parent, child_name)

    def get_classifier(self) -> nn.Module:
        """The read-out layer (timm's name for it)."""
        return self._read_out()[2]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """What the read-out layer receives for ``x``: the features before the classifier (``[T, B, F]``
        where the read-out runs at every step)."""
        seen = []
        hook = self.get_classifier().register_forward_pre_hook(lambda module, args: seen.append(args[0]))
        try:
            self(x)
        finally:
            hook.remove()
        return seen[0]

    def reset_classifier(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        parent, child_name, old = self._read_out()
        weight = getattr(old, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            raise TypeError(f"{type(self).__name__}'s read-out {self.head} ({type(old).__name__}) has no "
                            f"[out, in] weight to resize")
        outputs = weight.shape[0] // self.num_classes * num_classes
        new = copy.deepcopy(old)
        new.weight = nn.Parameter(weight.new_empty(outputs, weight.shape[1]))
        if getattr(old, "bias", None) is not None:
            new.bias = nn.Parameter(old.bias.new_empty(outputs))
        if hasattr(new, "out_features"):
            new.out_features = outputs
        if hasattr(new, "reset_parameters"):
            new.reset_parameters()
        else:
            nn.init.kaiming_uniform_(new.weight, a=math.sqrt(5))
        setattr(parent, child_name, new)
        log.info("head %s reset: %d -> %d classes (new, untrained weights)", self.head, self.num_classes, num_classes)
        self.num_classes = num_classes

    def reorder_classes(self, order: list[int]) -> None:
        """Keep the read-out's outputs for the classes ``order`` (old class indices), in that order: a
        pretrained head for the same classes listed differently (a folder's classes are sorted by name)."""
        old = self._read_out()[2]
        group = old.weight.shape[0] // self.num_classes  # a voting read-out has several outputs a class
        if sorted(order) != list(range(self.num_classes)):
            raise ValueError(f"order must list each of the {self.num_classes} classes once, got {order}")
        rows = torch.tensor([c * group + k for c in order for k in range(group)], device=old.weight.device)
        with torch.no_grad():
            old.weight.copy_(old.weight[rows])
            if getattr(old, "bias", None) is not None:
                old.bias.copy_(old.bias[rows])


class SpikingClassifier(ResettableHead, nn.Module):
    """Base of the zoo's models.

    ``forward`` takes images ``[B, C, H, W]`` in [0, 1] (encoded over ``T`` steps inside the model)
    or frame sequences ``[T, B, C, H, W]``, resets every neuron, runs :meth:`forward_sequence`
    (which returns ``[T, B, num_classes]``, also available as :meth:`forward_steps`) and returns the
    mean over time: firing-rate logits. Models with a :attr:`static_stem` run :meth:`forward_stem` once
    and :meth:`forward_body` on images under direct encoding instead (a subclass that overrides
    :meth:`forward_sequence` keeps its own).

    Subclasses set ``stem`` and ``head`` to the attribute names of their first and last layers, so
    weights can be adapted to another ``in_channels``/``num_classes``.
    """

    stem: str = ""
    head: str = ""

    def __init__(self, *, T: int, encoding: str, in_channels: int, num_classes: int,
                 input_size: tuple[int, int] | None = None, encoding_kwargs: dict | None = None):
        super().__init__()
        if T < 1:
            raise ValueError(f"T must be a positive number of time steps, got {T}")
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes and in_channels must be positive, got {num_classes}, {in_channels}")
        self.T = T
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.input_size = tuple(input_size) if input_size is not None else None
        self.encoder = build_encoder(encoding, T, **(encoding_kwargs or {}))

    static_stem: bool = False
    """True where the layers before the first neuron are stateless (:meth:`forward_stem`, the rest
    :meth:`forward_body`): under direct encoding they see the same image at every step, so they run once
    on ``[1, B, ...]`` and the first neuron gets that current at every step (the same network; a
    batch-norm in training mode normalises the same values, only its running variance's ``n / (n - 1)``
    sees ``B`` instead of ``T * B`` copies). An instance may set it False to run them ``T`` times."""

    def forward_stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_body(self, current: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_sequence(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not type(self).static_stem:
            raise NotImplementedError
        return self.forward_body(self.forward_stem(x_seq))

    def expected_shape(self) -> str:
        h, w = self.input_size if self.input_size else ("H", "W")
        return f"[B, {self.in_channels}, {h}, {w}] or [T, B, {self.in_channels}, {h}, {w}]"

    def check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        channel_dim = {4: 1, 5: 2}.get(x.dim())
        spatial_ok = channel_dim is not None and (
            self.input_size is None or tuple(x.shape[-2:]) == self.input_size)
        if channel_dim is None or x.shape[channel_dim] != self.in_channels or not spatial_ok:
            raise ValueError(f"{type(self).__name__} expects input of shape {self.expected_shape()}, "
                             f"got {list(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{type(self).__name__} expects float input in [0, 1], got {x.dtype}")
        if x.dim() == 4:
            warn_outside_unit_range(self, x)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Static images as the first layer sees them (identity here; mean/std where a model has them)."""
        return x

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """The read-out at every time step, ``[T, B, num_classes]`` (what per-step losses such as TET
        need); :meth:`forward` is its mean over time."""
        self.check_input(x)
        sj.functional.reset_net(self)
        if (x.dim() == 4 and self.static_stem and isinstance(self.encoder, DirectEncoder)
                and type(self).forward_sequence is SpikingClassifier.forward_sequence):
            current = self.forward_stem(self.normalise(x).unsqueeze(0))
            return self.forward_body(expand_steps(current, self.T))
        x_seq = self.encoder(self.normalise(x)) if x.dim() == 4 else x
        return self.forward_sequence(x_seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(dim=0)


def check_image_batch(model: nn.Module, x: torch.Tensor) -> None:
    """``x`` must be float images ``[B, C, H, W]`` of ``model``'s channels and size; errors name the model."""
    name = type(model).__name__
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}")
    expected = (model.in_channels, *model.input_size)
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"{name} expects input of shape [B, {', '.join(map(str, expected))}], got {list(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects float input in [0, 1], got {x.dtype}")
    warn_outside_unit_range(model, x)


class ImageClassifier(ResettableHead, nn.Module):
    """Base of models that see an image once (ANNs to convert, ReL-PSP's continuous-time nets): input
    checks for ``[B, C, H, W]`` and the ``forward_steps`` view (``[1, B, classes]``) the trainer uses."""

    stem: str = ""
    head: str = ""

    def __init__(self, in_channels: int, num_classes: int, input_size: tuple[int, int]):
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes and in_channels must be positive, got {num_classes}, {in_channels}")
        self.in_channels, self.num_classes, self.input_size = in_channels, num_classes, tuple(input_size)
        self.T = None

    def check_input(self, x: torch.Tensor) -> None:
        check_image_batch(self, x)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[None]
