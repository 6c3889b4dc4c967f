"""Multi-step IF/LIF neurons whose whole time loop is one autograd function (CPU path).

SpikingJelly's torch backend builds a graph of a dozen small operations per neuron and time step
(charge, fire, reset, dtype copies, a final ``cat``); a training step of a SEW-ResNet spends about a third
of its CPU time there. Here the forward loop keeps only the membrane before reset ``H[t]`` and the spikes,
and the backward pass runs the BPTT recurrence directly:

    H[t] = a V[t-1] + b X[t] + c,   S[t] = 1{H[t] >= V_th},
    V[t] = H[t] (1 - S[t]) + S[t] V_reset   (hard)   or   H[t] - S[t] V_th   (soft),

    dL/dH[t] = dL/dS[t] sg'(H[t] - V_th) + dL/dV[t] dV[t]/dH[t],   dL/dX[t] = b dL/dH[t],
    dL/dV[t-1] = a dL/dH[t],

with ``dV/dH = 1 - S`` (hard) or ``1`` (soft) when the reset is detached, plus ``(V_reset - H) sg'`` or
``-V_th sg'`` when it is not. IF: ``a = b = 1, c = 0``; LIF: ``a = 1 - 1/tau``, ``c = V_reset/tau``,
``b = 1/tau`` (``decay_input``) or 1. Outputs and gradients equal SpikingJelly's nodes (tested).
"""
from __future__ import annotations

import math

import torch

from .compat import import_spikingjelly
from .nodes import IFNode, LIFNode

sj = import_spikingjelly()


def surrogate_derivative(surrogate: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``d spike / d x`` of a surrogate module: the zoo's own expose it; SpikingJelly's atan and sigmoid
    are written out here."""
    derivative = getattr(type(surrogate), "derivative", None)
    if derivative is not None:
        return derivative(x, surrogate.alpha)
    if isinstance(surrogate, sj.surrogate.ATan):
        return surrogate.alpha / 2 / (1 + (math.pi / 2 * surrogate.alpha * x) ** 2)
    if isinstance(surrogate, sj.surrogate.Sigmoid):
        sg = torch.sigmoid(surrogate.alpha * x)
        return surrogate.alpha * sg * (1 - sg)
    raise TypeError(f"no closed-form derivative for surrogate {type(surrogate).__name__}")


class _MultiStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_seq, v_init, a, b, c, v_th, v_reset, detach_reset, surrogate, keep_graph):
        # preallocated buffers and in-place operations: on a CPU the allocation and first touch of a
        # fresh tensor per operation costs as much as the arithmetic; without a backward to feed, one
        # H buffer is reused instead of keeping the sequence
        spikes = torch.empty_like(x_seq)
        h_seq = torch.empty_like(x_seq) if keep_graph else torch.empty_like(x_seq[:1]).expand_as(x_seq)
        v = torch.zeros_like(x_seq[0]) if not isinstance(v_init, torch.Tensor) else v_init.detach().clone()
        if not isinstance(v_init, torch.Tensor) and v_init != 0.0:
            v.fill_(float(v_init))
        plain = a == 1.0 and b == 1.0 and c == 0.0  # IF: H = V + X
        for t in range(x_seq.shape[0]):
            h = h_seq[t]
            if plain:
                torch.add(x_seq[t], v, out=h)
            else:
                torch.add(x_seq[t], v, alpha=a / b, out=h).mul_(b).add_(c)  # b X + a V + c
            fired = torch.ge(h, v_th, out=spikes[t])
            if v_reset is None:
                torch.sub(h, fired, alpha=v_th, out=v)
            else:  # V = H (1 - S) + S V_reset = H - S (H - V_reset)
                torch.addcmul(h, fired, h if v_reset == 0.0 else h - v_reset, value=-1.0, out=v)
        ctx.save_for_backward(h_seq, spikes)
        ctx.params = (a, b, v_th, v_reset, detach_reset, surrogate)
        ctx.v_init_is_tensor = isinstance(v_init, torch.Tensor)
        return spikes, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_last):
        h_seq, spikes = ctx.saved_tensors
        a, b, v_th, v_reset, detach_reset, surrogate = ctx.params
        # everything that does not depend on the recurrence, for all steps at once
        grad_h, sg = _surrogate_grad(surrogate, grad_spikes, h_seq, v_th, need_sg=not detach_reset)
        if v_reset is None:
            dv_dh = None if detach_reset else sg.mul(-v_th).add_(1.0)
        elif detach_reset:
            dv_dh = None  # 1 - S, applied inside the loop without a buffer of its own
        else:
            dv_dh = torch.sub(v_reset, h_seq).mul_(sg).add_(1.0).sub_(spikes)
        carry = grad_v_last
        hard_detached = v_reset is not None and detach_reset
        for t in reversed(range(h_seq.shape[0])):
            if carry is not None:
                if hard_detached:
                    grad_h[t].add_(carry).addcmul_(carry, spikes[t], value=-1.0)
                elif dv_dh is None:
                    grad_h[t].add_(carry)
                else:
                    grad_h[t].addcmul_(carry, dv_dh[t])
            carry = grad_h[t] if a == 1.0 else grad_h[t] * a
        if b != 1.0:
            grad_h.mul_(b)
        return grad_h, (carry if ctx.v_init_is_tensor else None), None, None, None, None, None, None, None, None


def _surrogate_grad(surrogate: torch.nn.Module, grad_spikes: torch.Tensor, h_seq: torch.Tensor, v_th: float,
                    need_sg: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``dL/dS * sg'(H - V_th)`` (and ``sg'`` itself when the reset is not detached). For SpikingJelly's
    atan (the SEW default), ``sg' = (alpha / 2) / (1 + (k x)^2)`` is built in the output buffer itself: on
    a CPU the first touch of a fresh tensor costs more than a pass over memory already in use."""
    if isinstance(surrogate, sj.surrogate.ATan):
        k, half_alpha = math.pi / 2 * surrogate.alpha, surrogate.alpha / 2
        # one fresh buffer (the returned gradient); everything else in place on memory already touched
        grad_h = torch.sub(h_seq, v_th).square_().mul_(k * k).add_(1.0)  # 1 + (k x)^2
        sg = None
        if need_sg:
            sg = torch.reciprocal(grad_h).mul_(half_alpha)
            return torch.mul(grad_spikes, sg, out=grad_h), sg
        return torch.div(grad_spikes, grad_h, out=grad_h).mul_(half_alpha), sg
    sg = surrogate_derivative(surrogate, h_seq - v_th)
    return torch.mul(grad_spikes, sg), sg


class _Fused:
    """Mixin: the fused loop on the torch backend, SpikingJelly's path otherwise (CuPy, stored V sequence,
    a learnable or tensor threshold, an initial membrane that needs its own gradient)."""

    def charge_coefficients(self) -> tuple[float, float, float]:
        raise NotImplementedError

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        v_init = self.v
        usable = (x_seq.device.type == "cpu" and not self.store_v_seq and isinstance(self.v_threshold, float)
                  and (self.v_reset is None or isinstance(self.v_reset, float))
                  and not (isinstance(v_init, torch.Tensor) and v_init.requires_grad))
        if not usable:
            return super().multi_step_forward(x_seq)
        a, b, c = self.charge_coefficients()
        keep_graph = torch.is_grad_enabled() and x_seq.requires_grad
        spikes, self.v = _MultiStep.apply(x_seq, v_init, a, b, c, self.v_threshold, self.v_reset,
                                          self.detach_reset, self.surrogate_function, keep_graph)
        return spikes


class FusedIFNode(_Fused, IFNode):
    """:class:`~zoo.neurons.nodes.IFNode` with the fused CPU loop."""

    def charge_coefficients(self) -> tuple[float, float, float]:
        return 1.0, 1.0, 0.0


class FusedLIFNode(_Fused, LIFNode):
    """:class:`~zoo.neurons.nodes.LIFNode` with the fused CPU loop."""

    def charge_coefficients(self) -> tuple[float, float, float]:
        v_reset = 0.0 if self.v_reset is None else self.v_reset
        b = 1.0 / self.tau if self.decay_input else 1.0
        return 1.0 - 1.0 / self.tau, b, v_reset / self.tau
