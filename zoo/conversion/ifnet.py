"""The runtime of converted SNNs: an ANN whose ReLUs became integrate-and-fire neurons.

The layers between neurons are linear and stateless, so they run on all ``T`` steps at once
(``[T*B, ...]``) and only the neurons unroll time. Two things make evaluation cheap without changing a
single spike: the layers before the first neuron see a static image, so they run once on ``[B, ...]``
and the first neuron integrates that constant current; and batches are cut into chunks of about
:data:`STEP_CHUNK` images times steps, which keeps the activations in cache (one 500-image batch at
T=32 is 16,000 images per convolution). :meth:`ConvertedSNN.forward_steps_reference` is the plain
path (the image repeated ``T`` times through every layer) that both are tested and benchmarked against.

A conversion may be calibrated for several ``T``: each calibrated state (thresholds, shifts, initial
potentials and the weights, which weight calibration changes) is kept as buffers, and setting ``T``
(or loading a file) puts the state calibrated for that ``T`` in place.
"""
from __future__ import annotations

import logging
import math
import warnings

import torch
from torch import nn

from ..models.base import check_image_batch
from ..models.qcfs import QCFS
from ..neurons.fused import if_steps
from ..neurons.surrogates import build_surrogate

log = logging.getLogger("zoo")
DEFAULT_SURROGATE = "triangle"  # max(0, 1 - |v / threshold - 1|): the hybrid papers' linear surrogate
STEP_CHUNK = 512  # images x steps per forward chunk: fastest of 256-8192 measured on a 2-core CPU


class IFNeuron(nn.Module):
    """Integrate-and-fire with soft reset over ``T`` steps of a ``[T*B, C, ...]`` input current; emits
    ``threshold`` (per channel) per spike, so its mean output over ``T`` steps estimates the ReLU's
    activation.

    ``shift`` (per channel) is added to the current at every step and ``v_init`` (per neuron) is the
    initial membrane potential; with ``bias_shift`` a further ``threshold / (2T)`` per step makes the
    spike count round rather than floor ``a T / threshold``. A ``static_input`` neuron receives one
    ``[B, ...]`` current that is the same at every step.

    In training mode with gradients (fine-tuning the converted network through time), the neuron runs the
    same dynamics scaled to threshold 1 through the zoo's fused loop, with ``surrogate`` for the spike's
    derivative by ``v / threshold`` and the reset detached (the hybrid training of Rathi et al., ICLR 2020);
    the division may round a spike differently. In eval mode or without gradients it runs the exact loop
    below, which passes no gradient."""

    def __init__(self, shape: tuple[int, ...], T: int = 32, bias_shift: bool = True,
                 surrogate: nn.Module | None = None):
        super().__init__()
        self.T, self.bias_shift, self.static_input = T, bias_shift, False
        self.surrogate = surrogate or build_surrogate(DEFAULT_SURROGATE)
        self.register_buffer("threshold", torch.ones(shape[0]))
        self.register_buffer("shift", torch.zeros(shape[0]))
        self.register_buffer("v_init", torch.zeros(shape))

    def per_channel(self, values: torch.Tensor) -> torch.Tensor:
        """A ``[C]`` tensor shaped to broadcast over one sample's ``[C, ...]``."""
        return values.view(-1, *([1] * (self.v_init.dim() - 1)))

    def drive(self, current: torch.Tensor) -> torch.Tensor:
        """The current plus the per-channel shift (and the bias shift): what is integrated per step."""
        shift = self.per_channel(self.shift)
        if self.bias_shift:
            shift = shift + self.per_channel(self.threshold) / (2 * self.T)
        return current + shift

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if self.static_input:
            drive = self.drive(current)
            steps = drive.unsqueeze(0).expand(self.T, *drive.shape)
        else:
            steps = self.drive(current.view(self.T, -1, *current.shape[1:]))
        if self.training and torch.is_grad_enabled() and steps.requires_grad:
            return self._differentiable(steps).flatten(0, 1)
        v = self.v_init.expand(steps.shape[1:]).clone()
        out = torch.empty_like(steps)
        fired = torch.empty(steps.shape[1:], dtype=torch.bool, device=current.device)
        threshold = self.per_channel(self.threshold)
        for t in range(self.T):
            v += steps[t]
            torch.ge(v, threshold, out=fired)
            torch.mul(fired, threshold, out=out[t])
            v -= out[t]
        return out.view(-1, *out.shape[2:])

    def _differentiable(self, steps: torch.Tensor) -> torch.Tensor:
        """The loop above on ``steps / threshold`` from ``v_init / threshold`` with threshold 1, times the
        threshold: the same spikes (up to the rounding of the division) with a surrogate gradient."""
        threshold = self.per_channel(self.threshold)
        return if_steps(steps / threshold, self.v_init / threshold, self.surrogate) * threshold

    def extra_repr(self) -> str:
        low, high = float(self.threshold.min()), float(self.threshold.max())
        thresholds = f"{low:.4g}" if low == high else f"{low:.4g}..{high:.4g}"
        return f"threshold={thresholds}, T={self.T}, bias_shift={self.bias_shift}"


class CalibratedState(nn.Module):
    """A copy of every tensor of the converted network as calibrated for one ``T``, as buffers (their
    names are the network's state-dict keys with ``/`` for ``.``)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        super().__init__()
        for key, value in tensors.items():
            self.register_buffer(key.replace(".", "/"), value.detach().clone())

    def tensors(self) -> dict[str, torch.Tensor]:
        return {key.replace("/", "."): value for key, value in self.named_buffers()}


class ConvertedSNN(nn.Module):
    """The ANN with IF neurons in place of its ReLUs; images ``[B, C, H, W]`` are fed at every step and
    the output is the mean of the read-out over ``T`` steps. ``calibrated_T`` lists the ``T`` whose
    calibrated states the model holds (filled by :func:`zoo.conversion.convert` or a weight file);
    ``surrogate`` (with ``surrogate_alpha``) is the spike's derivative when the network is fine-tuned."""

    def __init__(self, ann: nn.Module, T: int = 32, bias_shift: bool = True, calibrated_T: tuple[int, ...] = (),
                 surrogate: str = DEFAULT_SURROGATE, surrogate_alpha: float | None = None):
        super().__init__()
        _check_T(T)
        self.net = ann
        self.in_channels = getattr(ann, "in_channels", None)
        self.num_classes = getattr(ann, "num_classes", None)
        self.input_size = getattr(ann, "input_size", None)
        self.stem = f"net.{ann.stem}" if getattr(ann, "stem", "") else ""
        self.head = f"net.{ann.head}" if getattr(ann, "head", "") else ""
        self._T = T
        self.bias_shift = bias_shift
        self.from_qcfs = any(isinstance(m, QCFS) for m in ann.modules())  # its neurons are the QCFS ones
        self._warned_calibrated = False
        self.calibration_seconds: dict[int, float] = {}  # what calibrating each T cost (set by convert)
        shapes = relu_shapes(ann)
        for name, shape in shapes.items():
            parent_name, _, attr = name.rpartition(".")
            parent = ann.get_submodule(parent_name) if parent_name else ann
            activation = getattr(parent, attr)
            if isinstance(activation, QCFS):  # the paper's neuron: threshold lambda, membrane from phi * lambda
                neuron = IFNeuron(shape, T, bias_shift=False, surrogate=build_surrogate(surrogate, surrogate_alpha))
                neuron.threshold.fill_(float(activation.threshold.detach()))
                neuron.v_init.fill_(activation.shift * float(activation.threshold.detach()))
            else:
                neuron = IFNeuron(shape, T, bias_shift, surrogate=build_surrogate(surrogate, surrogate_alpha))
            setattr(parent, attr, neuron)
        self.static_stem = _runs_first_on_the_image(ann, next(iter(shapes), None))
        self.calibrated = nn.ModuleDict({str(t): CalibratedState(self.net.state_dict()) for t in calibrated_T})
        self.register_load_state_dict_post_hook(_use_calibration_after_loading)

    @property
    def T(self) -> int:
        return self._T

    @T.setter
    def T(self, value: int) -> None:
        self.set_steps(value)

    def set_steps(self, T: int, use_calibration: bool = True) -> None:
        """Run at ``T`` steps, with the state calibrated for it unless ``use_calibration`` is false (while
        calibrating)."""
        _check_T(T)
        self._T = T
        for neuron in self.neurons():
            neuron.T = T
        if use_calibration:
            self.use_calibration()

    @property
    def calibrated_T(self) -> tuple[int, ...]:
        return tuple(sorted(int(t) for t in self.calibrated))

    def neurons(self) -> list[IFNeuron]:
        return [m for m in self.net.modules() if isinstance(m, IFNeuron)]

    def store_calibration(self) -> None:
        """Keep the network's present state as the one calibrated for the present ``T``."""
        self.calibrated[str(self.T)] = CalibratedState(self.net.state_dict())

    def use_calibration(self) -> int | None:
        """Put the state calibrated for ``T`` in place (the nearest calibrated ``T`` when ``T`` was not
        calibrated, with one log line); returns the ``T`` whose state is used."""
        if not self.calibrated:
            return None
        chosen = nearest_calibrated(self.T, self.calibrated_T)
        if chosen != self.T:
            log.warning("T=%d was not calibrated for this conversion; using the state calibrated for T=%d "
                        "(calibrated: %s)", self.T, chosen, ", ".join(map(str, self.calibrated_T)))
        live = self.net.state_dict(keep_vars=True)
        with torch.no_grad():
            for key, value in self.calibrated[str(chosen)].tensors().items():
                live[key].copy_(value)
        return chosen

    def drop_calibration(self) -> None:
        """Forget the states calibrated per ``T`` and keep the network as it now is, for every ``T``: before
        training it, since loading a file or setting ``T`` would otherwise put a calibrated state back over
        the trained weights."""
        self.calibrated = nn.ModuleDict()

    def neuron_card(self) -> tuple[dict, dict]:
        """The neuron and surrogate a weight's card names (the IF neurons are not SpikingJelly nodes)."""
        surrogate = self.neurons()[0].surrogate if self.neurons() else build_surrogate(DEFAULT_SURROGATE)
        neuron = {"type": "IF", "implementation": "zoo-converted", "v_threshold": "per channel, from the ANN",
                  "v_reset": None, "bias_shift": any(n.bias_shift for n in self.neurons())}
        return neuron, {"type": type(surrogate).__name__, "alpha": surrogate.alpha,
                        "used": "only when the network is fine-tuned through time"}

    def check_input(self, x: torch.Tensor) -> None:
        """Images ``[B, C, H, W]`` as the ANN took them, where the ANN checks its input (the zoo's ANNs do);
        errors name this network, not its ANN."""
        if hasattr(self.net, "check_input"):
            check_image_batch(self, x)

    def _steps(self, x: torch.Tensor, static_stem: bool) -> torch.Tensor:
        first = self.neurons()[0] if static_stem else None
        if first is None:
            x = x.unsqueeze(0).expand(self.T, *x.shape).reshape(self.T * x.shape[0], *x.shape[1:])
        else:
            first.static_input = True
        try:
            out = self.net(x)
            return out.view(self.T, -1, *out.shape[1:])
        finally:
            if first is not None:
                first.static_input = False

    @property
    def check_cost(self) -> int:
        """What an image costs against a CNN's at T=4: every layer runs at every one of ``T`` steps, so a card's
        quick check covers ``T / 4`` times fewer images (:func:`zoo.hub.publish.check_samples`)."""
        return max(1, self.T // 4)

    @property
    def chunk_images(self) -> int:
        """Images per forward chunk (a progress bar counts a batch's layers chunk by chunk)."""
        return max(1, STEP_CHUNK // self.T)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` read-outs, in chunks of about :data:`STEP_CHUNK` images x steps."""
        self.check_input(x)
        if self.training and torch.is_grad_enabled() and self.calibrated and not self._warned_calibrated:
            self._warned_calibrated = True
            warnings.warn(f"training a converted network that holds states calibrated for T="
                          f"{', '.join(map(str, self.calibrated_T))}: loading it or setting T puts one back over the "
                          f"trained weights; call drop_calibration() first (or model.eval() to evaluate)",
                          UserWarning, stacklevel=2)
        chunk = self.chunk_images
        return torch.cat([self._steps(part, self.static_stem) for part in x.split(chunk)], dim=1)

    def forward_steps_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The same read-outs the plain way: the image repeated ``T`` times through every layer, at once."""
        self.check_input(x)
        return self._steps(x, static_stem=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(0)


def _use_calibration_after_loading(module: ConvertedSNN, incompatible_keys) -> None:
    module.use_calibration()


def nearest_calibrated(T: int, calibrated: tuple[int, ...]) -> int:
    """The calibrated ``T`` closest to ``T`` in ratio (the smaller one on a tie)."""
    return min(calibrated, key=lambda t: (abs(math.log(t / T)), t))


def _check_T(T: int) -> None:
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive number of time steps, got {T!r}")


def is_activation(module: nn.Module) -> bool:
    """What conversion turns into IF neurons: ReLU and QCFS (:mod:`zoo.models.qcfs`) modules."""
    return isinstance(module, (nn.ReLU, QCFS))


def relu_shapes(ann: nn.Module) -> dict[str, tuple[int, ...]]:
    """The output shape (less the batch) of every activation (ReLU or QCFS), in the order they run
    (found with one forward pass); each must run once, since each becomes its own population of neurons."""
    seen: dict[str, list[tuple[int, ...]]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.setdefault(name, []).append(tuple(out.shape[1:])))
             for name, m in ann.named_modules() if is_activation(m)]
    try:
        with torch.no_grad():
            ann.eval()(torch.zeros(1, ann.in_channels, *ann.input_size))
    finally:
        for hook in hooks:
            hook.remove()
    shared = [name for name, calls in seen.items() if len(calls) > 1]
    if shared:
        raise ValueError(f"activation modules used more than once per forward pass cannot become neurons: {', '.join(shared)}; "
                         f"give every activation its own nn.ReLU")
    return {name: calls[0] for name, calls in seen.items()}


def _runs_first_on_the_image(ann: nn.Module, first_neuron: str | None) -> bool:
    """Whether feeding the image once and letting the first neuron repeat its current gives the same
    network: true when nothing that runs before the first neuron is used after it (a chain stem)."""
    if first_neuron is None:
        return False
    neuron = ann.get_submodule(first_neuron)
    x = torch.rand(2, ann.in_channels, *ann.input_size)
    try:
        with torch.no_grad():
            reference = ann(x.unsqueeze(0).expand(neuron.T, *x.shape).reshape(-1, *x.shape[1:]))
            neuron.static_input = True
            fast = ann(x)
    except RuntimeError:  # a shape mismatch: something before the neuron is used after it
        return False
    finally:
        neuron.static_input = False
    return fast.shape == reference.shape and torch.allclose(fast, reference, atol=1e-5)
