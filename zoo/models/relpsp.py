"""ReL-PSP temporal-coding networks (Zhang et al., "Rectified Linear Postsynaptic Potential Function for
Backpropagation in Deep Spiking Neural Networks", IEEE TNNLS 2021).

Every neuron fires at most once. An input spike at ``t_i`` raises the membrane potential linearly
from then on, ``V(t) = sum_i w_i * max(0, t - t_i)`` (no leak, no refractory period), and the neuron
fires when ``V`` first reaches ``theta``. On the interval where that happens the causal inputs ``C``
(those that arrived before the output spike) are fixed, so the spike time has a closed form

    t_out = (theta + sum_{i in C} w_i t_i) / sum_{i in C} w_i,

and its exact gradients are ``dt_out/dw_i = (t_i - t_out) / sum_C w`` and ``dt_out/dt_i = w_i / sum_C w``
for ``i`` in ``C`` (zero otherwise). :func:`spike_times` scans the inputs in time order for the first
crossing and its backward applies these gradients directly, in chunks of rows, so no
``[B, N_out, N_in]`` tensor is ever kept.

Inputs are latency coded (a brighter pixel fires earlier: ``t = t_max * (1 - x)``; black pixels never
fire). Convention for neurons that never fire: their time is ``NEVER`` (``+inf``) and no gradient flows
through them. Each layer simulates a window ``[0, window * t_max]`` (a neuron that has not fired by
then is silent: this bounds spike times and so the gradients). The read-out uses ``-t`` as logits; an
output silent in the window reads as a virtual time after it, set by how far its potential fell short
of the threshold (see :class:`ReLPSPNet`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..hub.registry import register_model
from .base import ImageClassifier

PAPER = "Zhang et al., Rectified Linear Postsynaptic Potential Function for Backpropagation in Deep SNNs, IEEE TNNLS 2021"
NEVER = math.inf


CHUNK_ELEMENTS = 1 << 22  # rows per pass keep the [rows, N_in, N_out] work tensors near 16 MB (float32)


def spike_times(t_in: torch.Tensor, weight: torch.Tensor, theta: float = 1.0, window: float = NEVER) -> torch.Tensor:
    """First spike times ``[B, N_out]`` of ReL-PSP neurons with weights ``[N_out, N_in]`` receiving
    spikes at ``t_in`` ``[B, N_in]`` (``inf``: no spike); a neuron that has not fired by ``window``
    is silent. Differentiable in ``t_in`` and ``weight``."""
    if t_in.dim() != 2 or weight.dim() != 2 or t_in.shape[1] != weight.shape[1]:
        raise ValueError(f"spike_times expects t_in [B, N_in] and weight [N_out, N_in], got "
                         f"{list(t_in.shape)} and {list(weight.shape)}")
    return _SpikeTimes.apply(t_in, weight, theta, window)


def _row_chunks(rows: int, n_in: int, n_out: int) -> list[slice]:
    step = max(1, CHUNK_ELEMENTS // max(1, n_in * n_out))
    return [slice(start, min(start + step, rows)) for start in range(0, rows, step)]


def first_crossings(t_in: torch.Tensor, weight: torch.Tensor, theta: float,
                    window: float = NEVER) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike times ``[B, N_out]`` and the summed weight of each neuron's causal inputs (``1`` where it
    never fires). Inputs are scanned in time order: after the ``k``-th, ``V(t) = slope_k t - offset_k``,
    and the spike is the first ``k`` whose crossing ``(theta + offset_k) / slope_k`` falls before the
    next input, if it falls within ``window``."""
    times, order = torch.sort(t_in, dim=1)                                    # [B, N_in]
    present = torch.isfinite(times)
    finite = torch.where(present, times, torch.zeros_like(times))
    next_time = torch.cat([times[:, 1:], torch.full_like(times[:, :1], NEVER)], dim=1)
    weight_t = weight.t()                                                     # [N_in, N_out]
    t_out = torch.empty(t_in.shape[0], weight.shape[0], dtype=t_in.dtype, device=t_in.device)
    slope_out = torch.empty_like(t_out)
    for rows in _row_chunks(t_in.shape[0], weight.shape[1], weight.shape[0]):
        sorted_w = weight_t[order[rows]] * present[rows, :, None]             # [c, N_in, N_out]
        slope = sorted_w.cumsum(dim=1)
        crossing = (theta + (sorted_w * finite[rows, :, None]).cumsum(dim=1)) / slope
        valid = ((slope > 0) & (crossing >= times[rows, :, None]) & (crossing < next_time[rows, :, None])
                 & present[rows, :, None])
        fired = valid.any(dim=1)
        first = valid.to(torch.uint8).argmax(dim=1, keepdim=True)             # the first valid k
        spike = crossing.gather(1, first)[:, 0]
        fired &= spike <= window
        t_out[rows] = torch.where(fired, spike, torch.full_like(t_out[rows], NEVER))
        slope_out[rows] = torch.where(fired, slope.gather(1, first)[:, 0], torch.ones_like(t_out[rows]))
    return t_out, slope_out


class _SpikeTimes(torch.autograd.Function):
    """``t_out = (theta + sum_C w_i t_i) / sum_C w_i`` over the causal inputs ``C = {i : t_i <= t_out}``;
    the backward uses its exact gradients ``dt_out/dw_i = (t_i - t_out) / sum_C w`` and
    ``dt_out/dt_i = w_i / sum_C w`` without storing any ``[B, N_out, N_in]`` tensor."""

    @staticmethod
    def forward(ctx, t_in: torch.Tensor, weight: torch.Tensor, theta: float, window: float) -> torch.Tensor:
        t_out, slope = first_crossings(t_in, weight, theta, window)
        ctx.save_for_backward(t_in, weight, t_out, slope)
        return t_out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        t_in, weight, t_out, slope = ctx.saved_tensors
        fired = torch.isfinite(t_out)
        scaled = torch.where(fired, grad_out / slope, torch.zeros_like(grad_out))   # [B, N_out]
        spike = torch.where(fired, t_out, torch.full_like(t_out, -NEVER))           # silent: nothing is causal
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        grad_t = torch.zeros_like(t_in) if ctx.needs_input_grad[0] else None
        for rows in _row_chunks(t_in.shape[0], weight.shape[1], weight.shape[0]):
            causal = t_in[rows, None, :] <= spike[rows, :, None]                    # [c, N_out, N_in]
            if grad_w is not None:
                lead = torch.where(causal, t_in[rows, None, :] - spike[rows, :, None], torch.zeros((), dtype=t_in.dtype))
                grad_w += torch.einsum("bj,bji->ji", scaled[rows], lead)
            if grad_t is not None:
                grad_t[rows] = torch.einsum("bj,ji,bji->bi", scaled[rows], weight, causal.to(weight.dtype))
        return grad_t, grad_w, None, None


def simulate(t_in: torch.Tensor, weight: torch.Tensor, theta: float = 1.0, window: float = NEVER) -> torch.Tensor:
    """Reference: the same neurons simulated event by event (slow, for tests)."""
    out = torch.full((t_in.shape[0], weight.shape[0]), NEVER, dtype=torch.float64)
    for b in range(t_in.shape[0]):
        events = sorted((float(t), i) for i, t in enumerate(t_in[b]) if math.isfinite(float(t)))
        for j in range(weight.shape[0]):
            potential, slope, now = 0.0, 0.0, 0.0
            for k, (t, i) in enumerate(events + [(NEVER, None)]):
                if slope > 0 and potential + slope * (t - now) >= theta:  # crosses before this event
                    crossing = now + (theta - potential) / slope
                    out[b, j] = crossing if crossing <= window else NEVER
                    break
                if i is None:
                    break
                potential += slope * (t - now)
                now, slope = t, slope + float(weight[j, i])
    return out


class LatencyTimes(nn.Module):
    """Latency coding of images in [0, 1]: ``t = t_max * (1 - x)``; pixels at or below ``threshold``
    never fire."""

    def __init__(self, t_max: float = 1.0, threshold: float = 0.0):
        super().__init__()
        self.t_max, self.threshold = t_max, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        times = self.t_max * (1.0 - x)
        return torch.where(x > self.threshold, times, torch.full_like(times, NEVER))


class ReLPSPLinear(nn.Module):
    """A fully connected layer of ReL-PSP neurons: spike times in, spike times out (silent after ``window``)."""

    def __init__(self, in_features: int, out_features: int, theta: float = 1.0, window: float = NEVER):
        super().__init__()
        self.theta, self.window = theta, window
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        # positive mean so that neurons start firing inside the input window
        nn.init.normal_(self.weight, mean=2.0 * theta / in_features, std=math.sqrt(2.0 / in_features))

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        return spike_times(t_in, self.weight, self.theta, self.window)


class ReLPSPConv2d(nn.Module):
    """A convolution of ReL-PSP neurons (stride 1, no padding): every output position is a neuron with
    the shared kernel as its weights."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, theta: float = 1.0,
                 window: float = NEVER):
        super().__init__()
        self.theta, self.kernel_size, self.window = theta, kernel_size, window
        fan_in = in_channels * kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, fan_in))
        nn.init.normal_(self.weight, mean=2.0 * theta / fan_in, std=math.sqrt(2.0 / fan_in))

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] spike times
        batch, _, height, width = t_in.shape
        k = self.kernel_size
        # unfold cannot carry inf: mark silence with a sentinel, restore it after
        big = torch.finfo(t_in.dtype).max
        patches = F.unfold(torch.where(torch.isfinite(t_in), t_in, torch.full_like(t_in, big)), k)
        patches = torch.where(patches >= big, torch.full_like(patches, NEVER), patches)  # [B, C*k*k, L]
        positions = patches.shape[2]
        flat = patches.transpose(1, 2).reshape(batch * positions, -1)
        out = spike_times(flat, self.weight, self.theta, self.window)     # [B*L, C_out]
        return out.view(batch, positions, -1).transpose(1, 2).reshape(batch, -1, height - k + 1, width - k + 1)


class MinPool2d(nn.Module):
    """Pooling of spike times: the earliest spike of each window (max-pooling of activity)."""

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return -F.max_pool2d(-t, self.kernel_size)


class ReLPSPNet(ImageClassifier):
    """A ReL-PSP network: latency-coded input, layers of single-spike neurons, output spike times.

    ``forward`` returns ``-t_out`` (earliest spike wins: argmax is the prediction, and softmax
    cross-entropy on it is the paper's loss on spike times). Every layer simulates the window
    ``[0, window * t_max]``; an output neuron still silent at its end ``W`` reads as the virtual time
    ``W + t_max * (theta - V(W)) / theta``, from the potential ``V(W)`` it reached: later the further
    it fell short, equal to ``W`` at the threshold (continuous with real spikes), and differentiable, so
    the loss can still teach a silent target class to fire. Time is continuous: ``T`` is None.
    """

    def __init__(self, layers: nn.Sequential, in_channels: int, num_classes: int, input_size: tuple[int, int],
                 t_max: float = 1.0, head: str = ""):
        super().__init__(in_channels, num_classes, input_size)
        window = layers[-1].window
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"a ReL-PSP net needs a finite, positive window to read out silent outputs, got {window}")
        self.encoder = LatencyTimes(t_max)
        self.layers = layers
        self.head = head

    def output_times(self, x: torch.Tensor) -> torch.Tensor:
        """Spike times of the output neurons ``[B, num_classes]`` (``inf``: silent in the window)."""
        self.check_input(x)
        return self.layers(self.encoder(x))

    def read_out_times(self, x: torch.Tensor) -> torch.Tensor:
        """Output spike times, with virtual times for outputs silent in the window."""
        self.check_input(x)
        hidden = self.layers[:-1](self.encoder(x))
        output = self.layers[-1]
        times = output(hidden)
        end, t_max = output.window, self.encoder.t_max
        elapsed = torch.where(torch.isfinite(hidden), (end - hidden).clamp(min=0.0), torch.zeros_like(hidden))
        potential = elapsed @ output.weight.t()                                   # V(W) [B, num_classes]
        virtual = end + t_max * (output.theta - potential) / output.theta
        return torch.where(torch.isfinite(times), times, virtual)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        return -self.read_out_times(x)[None]

    def neuron_card(self) -> tuple[dict, dict]:
        """The neuron and "surrogate" entries of a weight card: ReL-PSP neurons need no surrogate."""
        output = self.layers[-1]
        neuron = {"type": "ReL-PSP", "psp": "max(0, t - t_i)", "spikes": "at most one per neuron",
                  "v_threshold": output.theta, "window": output.window}
        return neuron, {"type": "none: exact spike-time gradients"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x)[0]


@register_model(paper=PAPER)
def relpsp_fc(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
              hidden: int = 800, theta: float = 1.0, t_max: float = 1.0,
              window: float = 4.0) -> ReLPSPNet:
    """Fully connected ReL-PSP net, 784-800-10 as in the paper's MNIST experiment; neurons that have
    not fired by ``window * t_max`` are silent."""
    n_in = in_channels * input_size[0] * input_size[1]
    end = window * t_max
    layers = nn.Sequential(nn.Flatten(), ReLPSPLinear(n_in, hidden, theta, end),
                           ReLPSPLinear(hidden, num_classes, theta, end))
    return ReLPSPNet(layers, in_channels, num_classes, input_size, t_max, head="layers.2")


@register_model(paper=PAPER)
def relpsp_cnn(num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28),
               channels: tuple[int, int] = (16, 32), hidden: int = 128, theta: float = 1.0,
               t_max: float = 1.0, window: float = 4.0) -> ReLPSPNet:
    """Convolutional ReL-PSP net: 16C5-MP2-32C5-MP2-FC128-FC10 (pooling takes the earliest spike);
    neurons that have not fired by ``window * t_max`` are silent."""
    h, w = input_size
    h, w = ((h - 4) // 2 - 4) // 2, ((w - 4) // 2 - 4) // 2
    end = window * t_max
    layers = nn.Sequential(ReLPSPConv2d(in_channels, channels[0], 5, theta, end), MinPool2d(2),
                           ReLPSPConv2d(channels[0], channels[1], 5, theta, end), MinPool2d(2), nn.Flatten(),
                           ReLPSPLinear(channels[1] * h * w, hidden, theta, end),
                           ReLPSPLinear(hidden, num_classes, theta, end))
    return ReLPSPNet(layers, in_channels, num_classes, input_size, t_max, head="layers.6")
