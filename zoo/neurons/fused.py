"""Multi-step IF/LIF/PLIF neurons whose whole time loop is one autograd function: the zoo's default on
the torch backend (CPU, or CUDA without CuPy).

SpikingJelly's torch backend builds a graph of a dozen small operations per neuron and time step
(charge, fire, reset, dtype copies, a final ``cat``); a training step of a SEW-ResNet spends about a third
of its CPU time there. Here the forward loop keeps only the membrane before reset ``H[t]`` and the spikes,
and the backward pass runs the BPTT recurrence directly:

    H[t] = a V[t-1] + b X[t] + c,   S[t] = 1{H[t] >= V_th},
    V[t] = H[t] (1 - S[t]) + S[t] V_reset   (hard)   or   H[t] - S[t] V_th   (soft),

    dL/dH[t] = dL/dS[t] sg'(H[t] - V_th) + dL/dV[t] dV[t]/dH[t],   dL/dX[t] = b dL/dH[t],
    dL/dV[t-1] = a dL/dH[t],

with ``dV/dH = 1 - S`` (hard) or ``1`` (soft) when the reset is detached, plus ``(V_reset - H) sg'`` or
``-V_th sg'`` when it is not. IF: ``a = b = 1, c = 0``; LIF: ``a = 1 - 1/tau``, ``b = 1/tau``
(``decay_input``) or 1; PLIF: the same with ``1/tau = sigmoid(w)``, and ``dL/dw`` gathered from
``dH[t]/dk`` over all steps. The charge is computed with SpikingJelly's own operations in its order, so
spikes and membranes are bit-identical to its nodes; gradients equal its autograd to float rounding
(tested for every neuron type and reset mode).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from . import backend as _backend
from .compat import import_spikingjelly, spikingjelly_major
from .nodes import IFNode, LIFNode, ParametricLIFNode
from .strides import empty_steps, flat_dot, like
from .surrogates import atan_derivative, sigmoid_derivative

sj = import_spikingjelly()

# charge(h_out, x_t, v): writes H[t] into h_out from the input and the membrane after the last reset
Charge = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


def surrogate_derivative(surrogate: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``d spike / d x`` of a surrogate module: the zoo's own expose it; SpikingJelly's atan and sigmoid
    are written out in :mod:`zoo.neurons.surrogates`."""
    derivative = getattr(type(surrogate), "derivative", None)
    if derivative is not None:
        return derivative(x, surrogate.alpha)
    if isinstance(surrogate, sj.surrogate.ATan):
        return atan_derivative(x, surrogate.alpha)
    if isinstance(surrogate, sj.surrogate.Sigmoid):
        return sigmoid_derivative(x, surrogate.alpha)
    raise TypeError(f"no closed-form derivative for surrogate {type(surrogate).__name__}")


def _reset_(v: torch.Tensor, h: torch.Tensor, fired: torch.Tensor, v_threshold: float,
            v_reset: float | None) -> torch.Tensor:
    """``V = H - S V_th`` (soft) or ``H (1 - S) + S V_reset`` (hard), into ``v``; exact as SpikingJelly's."""
    if v_reset is None:
        return torch.sub(h, fired, alpha=v_threshold, out=v)
    if v_reset == 0.0:
        return torch.addcmul(h, fired, h, value=-1.0, out=v)  # H - S H: exactly 0 or H
    return torch.where(fired.bool(), torch.tensor(v_reset, dtype=h.dtype), h, out=v)


def surrogate_derivative_(surrogate: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:func:`surrogate_derivative` written into ``x``: the backward loop works one time step at a time
    on buffers it reuses, which stay in the CPU's cache, instead of streaming fresh whole-sequence
    tensors through memory."""
    in_place = getattr(type(surrogate), "derivative_", None)
    if in_place is not None:
        return in_place(x, surrogate.alpha)
    if isinstance(surrogate, sj.surrogate.ATan):
        k = math.pi / 2 * surrogate.alpha
        return x.mul_(k).square_().add_(1.0).reciprocal_().mul_(surrogate.alpha / 2)
    if isinstance(surrogate, sj.surrogate.Sigmoid):
        x.mul_(surrogate.alpha).sigmoid_()
        return x.addcmul_(x, x, value=-1.0).mul_(surrogate.alpha)  # alpha s (1 - s)
    return x.copy_(surrogate_derivative(surrogate, x))


class _MultiStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq, v_init, k, charge, a, b, v_th, v_reset, detach_reset, surrogate, keep_graph,
                dh_dk):
        # preallocated buffers and in-place operations: on a CPU the allocation and first touch of a
        # fresh tensor per operation costs as much as the arithmetic; without a backward to feed, one
        # H buffer is reused instead of keeping the sequence
        spikes = empty_steps(x_seq)  # each step in the input's layout (channels-last or not)
        h_seq = empty_steps(x_seq) if keep_graph else torch.empty_like(x_seq[:1]).expand_as(x_seq)
        v = torch.empty_like(x_seq[0])
        # a float initial membrane enters the first charge as a 0-dim tensor (broadcast, same arithmetic)
        v_start = (v_init.detach() if isinstance(v_init, torch.Tensor)
                   else torch.tensor(float(v_init), dtype=x_seq.dtype, device=x_seq.device))
        v_first = v_start.expand_as(v) if dh_dk is not None and keep_graph else None
        fire = torch.gt if getattr(surrogate, "strict", False) else torch.ge
        for t in range(x_seq.shape[0]):
            h = h_seq[t]
            charge(h, x_seq[t], v_start if t == 0 else v)
            fired = fire(h, v_th, out=spikes[t])
            _reset_(v, h, fired, v_th, v_reset)
        ctx.save_for_backward(h_seq, spikes, v_first)
        ctx.set_materialize_grads(False)  # an unused final membrane sends no gradient: no zero tensor
        ctx.params = (a, b, v_th, v_reset, detach_reset, surrogate, dh_dk)
        ctx.v_init_is_tensor = isinstance(v_init, torch.Tensor)
        ctx.k_dtype = k.dtype if k is not None else None
        return spikes, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_last):
        h_seq, spikes, v_first = ctx.saved_tensors
        a, b, v_th, v_reset, detach_reset, surrogate, dh_dk = ctx.params
        if grad_spikes is None:
            grad_spikes = torch.zeros_like(h_seq)
        grad_spikes = like(grad_spikes, h_seq)  # channels-last H with a gradient arriving NCHW through a flatten
        grad_x = torch.empty_like(h_seq)
        sg = torch.empty_like(h_seq[0])
        scratch = torch.empty_like(h_seq[0])
        carry_buffer = torch.empty_like(h_seq[0]) if a != 1.0 else None
        need_k = dh_dk is not None and ctx.needs_input_grad[2]
        grad_k = torch.zeros((), dtype=torch.float64, device=h_seq.device) if need_k else None
        grad_dtype = torch.promote_types(h_seq.dtype, torch.float32)
        carry = grad_v_last
        # one time step at a time, on [B, ...] buffers that stay in cache: dL/dH[t] from dL/dS[t], the
        # surrogate and the carry dL/dV[t], written straight into the output
        atan_detached = detach_reset and isinstance(surrogate, sj.surrogate.ATan)
        if atan_detached:  # atan'(u) = (alpha/2) / (1 + (pi alpha u / 2)^2) = 1 / (c0 + c1 u^2)
            c0 = torch.tensor(2.0 / surrogate.alpha, dtype=h_seq.dtype, device=h_seq.device)
            c1 = math.pi**2 * surrogate.alpha / 2
        for t in reversed(range(h_seq.shape[0])):
            h, fired, g = h_seq[t], spikes[t], grad_x[t]
            if atan_detached:
                # the detached atan neuron of SEW-ResNet in four passes: u, c0 + c1 u^2, carry dV/dH, + dL/dS / .
                u = torch.sub(h, v_th, out=sg)
                denominator = torch.addcmul(c0, u, u, value=c1, out=sg)
                if carry is None:
                    torch.div(grad_spikes[t], denominator, out=g)
                else:
                    if v_reset is None:                         # dV/dH = 1
                        torch.addcdiv(carry, grad_spikes[t], denominator, out=g)
                    else:                                       # dV/dH = 1 - S
                        torch.addcmul(carry, carry, fired, value=-1.0, out=g).addcdiv_(grad_spikes[t], denominator)
            else:  # dL/dH = dL/dS sg' + carry dV/dH, grouped by sg' so each term is one pass
                surrogate_derivative_(surrogate, torch.sub(h, v_th, out=sg))
                grad_s = grad_spikes[t]
                if carry is None:
                    torch.mul(grad_s, sg, out=g)
                elif v_reset is None and detach_reset:          # dV/dH = 1
                    torch.addcmul(carry, grad_s, sg, out=g)
                elif v_reset is None:                           # dV/dH = 1 - V_th sg'
                    torch.addcmul(carry, torch.add(grad_s, carry, alpha=-v_th, out=scratch), sg, out=g)
                elif detach_reset:                              # dV/dH = 1 - S
                    torch.addcmul(carry, carry, fired, value=-1.0, out=g).addcmul_(grad_s, sg)
                else:                                           # dV/dH = 1 - S + (V_reset - H) sg'
                    torch.addcmul(grad_s, carry, torch.sub(v_reset, h, out=scratch), out=scratch)
                    torch.addcmul(carry, carry, fired, value=-1.0, out=g).addcmul_(scratch, sg)
            if need_k:
                v_prev = v_first if t == 0 else _reset_(scratch, h_seq[t - 1], spikes[t - 1], v_th, v_reset)
                # in float32 at least: under bfloat16 autocast H - V[t-1] cancels to a few bits, and a
                # bfloat16 dot rounds its sum to 8 bits and runs 9x slower on a CPU
                terms = dh_dk(h.to(grad_dtype), v_prev.to(grad_dtype))
                grad_k += flat_dot(g.to(grad_dtype), terms)
            carry = g if carry_buffer is None else torch.mul(g, a, out=carry_buffer)
        if b != 1.0:
            grad_x.mul_(b)
        grad_v_init = carry.clone() if ctx.v_init_is_tensor else None
        grad_k = grad_k.to(ctx.k_dtype) if need_k else None  # k is float32 when autocast runs the rest in bfloat16
        return grad_x, grad_v_init, grad_k, None, None, None, None, None, None, None, None, None


def if_steps(x_seq: torch.Tensor, v_init: torch.Tensor | float, surrogate: torch.nn.Module,
             detach_reset: bool = True) -> torch.Tensor:
    """Spikes of IF neurons with threshold 1 and soft reset over ``x_seq`` (``[T, B, ...]``) starting at
    ``v_init`` (no gradient), through the fused loop: for networks whose neurons are not SpikingJelly
    modules, such as converted SNNs fine-tuned with a surrogate gradient."""
    keep_graph = torch.is_grad_enabled() and x_seq.requires_grad
    v_init = v_init.detach() if isinstance(v_init, torch.Tensor) else float(v_init)
    spikes, _ = _MultiStep.apply(x_seq, v_init, None, _if_charge, 1.0, 1.0, 1.0, None, detach_reset, surrogate,
                                 keep_graph, None)
    return spikes


def uses_fused_loop(neuron: torch.nn.Module, x_seq: torch.Tensor) -> bool:
    """Whether ``neuron`` runs the fused loop on ``x_seq``: not where SpikingJelly's CuPy kernels (or on
    2.x, its own CUDA kernels) run, nor where a case it does not cover is asked for (stored V sequence,
    tensor threshold or reset, an initial membrane that needs its own gradient)."""
    v_init = neuron.v
    if x_seq.device.type == "cuda" and spikingjelly_major() >= 2:  # 2.x's nodes pick its triton kernels
        return False
    on_torch = _backend.backend_for(x_seq.device) == "torch" or getattr(neuron.surrogate_function, "strict", False)
    return (on_torch and not neuron.store_v_seq
            and isinstance(neuron.v_threshold, float)
            and (neuron.v_reset is None or isinstance(neuron.v_reset, float))
            and not (isinstance(v_init, torch.Tensor) and v_init.requires_grad))


class _Fused:
    """Mixin: the fused loop where :func:`uses_fused_loop` allows it, SpikingJelly's path otherwise."""

    implementation = "zoo-fused"  # SpikingJelly's CuPy kernels where they run

    def charge_rule(self) -> tuple[Charge, float, float, torch.Tensor | None, Callable | None]:
        """``(charge, a, b, k, dH/dk)``: the in-place charge, its partial derivatives by ``V[t-1]`` and
        ``X[t]``, and for a learnable decay ``k`` the tensor and ``dH/dk (H, V[t-1])``."""
        raise NotImplementedError

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not uses_fused_loop(self, x_seq):
            return super().multi_step_forward(x_seq)
        if hasattr(self, "supported_backends"):
            self._backend = "torch"  # what ran, for callers that read ``backend``
        charge, a, b, k, dh_dk = self.charge_rule()
        keep_graph = torch.is_grad_enabled() and (x_seq.requires_grad or (k is not None and k.requires_grad))
        spikes, self.v = _MultiStep.apply(x_seq, self.v, k, charge, a, b, self.v_threshold, self.v_reset,
                                          self.detach_reset, self.surrogate_function, keep_graph, dh_dk)
        return spikes


def _if_charge(h: torch.Tensor, x: torch.Tensor, v: torch.Tensor) -> None:
    torch.add(v, x, out=h)


def _leaky_charge(decay_input: bool, v_reset: float, scale: float | torch.Tensor, divide: bool,
                  general: bool = False) -> Charge:
    """SpikingJelly's LIF/PLIF charge in its own order of operations; ``scale`` is ``tau`` (``divide``) or
    ``sigmoid(w)``. ``general`` takes the ``V_reset`` form even for ``V_reset = 0``, as SpikingJelly's LIF
    does in eval mode with a hard reset."""
    def apply(t: torch.Tensor) -> torch.Tensor:
        return t.div_(scale) if divide else t.mul_(scale)

    if decay_input and v_reset == 0.0:      # v + (x - v) / tau
        def charge(h, x, v):
            apply(torch.sub(x, v, out=h)).add_(v)
    elif decay_input:                        # v + (x - (v - v_reset)) / tau
        def charge(h, x, v):
            apply(torch.sub(x, v - v_reset, out=h)).add_(v)
    # (h.copy_(v) rather than out=: the first step's membrane is a 0-dim tensor that copy_ broadcasts)
    elif v_reset == 0.0 and not general:     # v * (1 - 1/tau) + x
        keep = 1.0 - 1.0 / scale if divide else None

        def charge(h, x, v):
            h.copy_(v).mul_(keep if divide else 1.0 - scale).add_(x)
    else:                                    # v - (v - v_reset) / tau + x
        def charge(h, x, v):
            torch.sub(v, apply(h.copy_(v).sub_(v_reset)), out=h).add_(x)
    return charge


class FusedIFNode(_Fused, IFNode):
    """:class:`~zoo.neurons.nodes.IFNode` with the fused loop."""

    def charge_rule(self):
        return _if_charge, 1.0, 1.0, None, None


class FusedLIFNode(_Fused, LIFNode):
    """:class:`~zoo.neurons.nodes.LIFNode` with the fused loop."""

    def charge_rule(self):
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        # SpikingJelly 0.0.0.0.14's eval loop writes the hard-reset, no-decay-input charge as
        # v - (v - v_reset) / tau + x, and 2.x always does
        general = (not self.training and self.v_reset is not None) or spikingjelly_major() >= 2
        charge = _leaky_charge(self.decay_input, v_reset, self.tau, divide=True, general=general)
        return charge, 1.0 - 1.0 / self.tau, (1.0 / self.tau if self.decay_input else 1.0), None, None


class FusedParametricLIFNode(_Fused, ParametricLIFNode):
    """:class:`~zoo.neurons.nodes.ParametricLIFNode` with the fused loop; ``dL/dw`` through
    ``k = sigmoid(w)``."""

    def charge_rule(self):
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        k = self.w.sigmoid()
        k_value = float(k.detach())
        charge = _leaky_charge(self.decay_input, v_reset, k.detach(), divide=False,
                               general=spikingjelly_major() >= 2)  # 2.x: v - (v - v_reset) k + x
        if self.decay_input:   # H = V + (X - (V - V_reset)) k:  dH/dk = (H - V[t-1]) / k
            def dh_dk(h_seq, v_prev):
                return (h_seq - v_prev) / k_value
        else:                  # H = V - (V - V_reset) k + X:  dH/dk = V_reset - V[t-1]
            def dh_dk(h_seq, v_prev):
                return v_reset - v_prev
        return charge, 1.0 - k_value, (k_value if self.decay_input else 1.0), k, dh_dk
