"""Surrogate gradients by name: SpikingJelly's sigmoid and atan, plus the zoo's rectangle (STBP),
triangle (LT-SNN) and Dspike (Li et al., NeurIPS 2021).

All of them take ``x = v - v_threshold``, spike with ``heaviside(x) = (x >= 0)`` in the forward
pass and replace its derivative by the named function in the backward pass. The zoo's own ones also
emit CUDA code so SpikingJelly's CuPy kernels can fuse them.
"""
from __future__ import annotations

import math

import torch

from .compat import import_spikingjelly, init_surrogate

sj = import_spikingjelly()
_base = sj.surrogate

__all__ = ["Rectangle", "Triangle", "Dspike", "build_surrogate", "SURROGATES"]


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, ``grad_fn(x, alpha)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float, grad_fn, strict: bool = False):
        if x.requires_grad:
            ctx.save_for_backward(x)
            ctx.alpha = alpha
            ctx.grad_fn = grad_fn
        return ((x > 0) if strict else (x >= 0)).to(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.grad_fn(x, ctx.alpha), None, None, None


class _ZooSurrogate(_base.SurrogateFunctionBase):
    """Base for the zoo's surrogates: subclasses give the derivative in torch and in CUDA C.

    ``strict=True`` spikes on ``x > 0`` rather than SpikingJelly's ``x >= 0`` (STBP's code fires on
    ``mem > thresh``); the two differ only where the membrane equals the threshold exactly."""

    def __init__(self, alpha: float, spiking: bool = True, strict: bool = False):
        if alpha <= 0:
            raise ValueError(f"{type(self).__name__} needs a positive width, got {alpha}")
        init_surrogate(self, float(alpha), spiking)
        self.strict = strict

    def extra_repr(self) -> str:
        return super().extra_repr() + (", strict=True" if self.strict else "")

    @staticmethod
    def derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
        raise NotImplementedError

    def spiking_function(self, x: torch.Tensor, alpha: float) -> torch.Tensor:
        """What SpikingJelly's ``forward`` calls in spiking mode: the step (strict or not), with
        :meth:`derivative` as its gradient."""
        return _SpikeFunction.apply(x, alpha, type(self).derivative, self.strict)

    half2_cuda = False  # CUDA code for float32 only: float16 inputs run SpikingJelly's kernels in float32

    def cuda_codes(self, y: str, x: str, dtype: str) -> str:
        if dtype != "float":
            raise NotImplementedError(f"{type(self).__name__} has CUDA code for float32 only")
        return self.float_cuda_code(y, x)

    def cuda_code(self, x: str, y: str, dtype: str = "fp32") -> str:
        """The older code-generation API, used by SpikingJelly's PLIF CuPy kernel."""
        if dtype != "fp32":
            raise NotImplementedError(f"{type(self).__name__} has CUDA code for float32 only")
        return self.float_cuda_code(f"const float {y}", x)

    def float_cuda_code(self, y: str, x: str) -> str:
        raise NotImplementedError


class Rectangle(_ZooSurrogate):
    """STBP's rectangular window (Wu et al. 2018): ``1/a`` for ``|x| < a/2``, else 0.

    ``alpha`` is the width ``a``; STBP's code uses ``a = 1`` (``lens = 0.5`` each side, height 1).
    """

    def __init__(self, alpha: float = 1.0, spiking: bool = True, strict: bool = False):
        super().__init__(alpha, spiking, strict)

    @staticmethod
    def derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return (x.abs() < alpha / 2).to(x) / alpha

    @staticmethod
    def derivative_(x: torch.Tensor, alpha: float) -> torch.Tensor:
        """:meth:`derivative` written into ``x`` (no new tensor)."""
        return x.abs_().lt_(alpha / 2).div_(alpha)

    @staticmethod
    def primitive_function(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return (x / alpha + 0.5).clamp(0.0, 1.0)

    def float_cuda_code(self, y: str, x: str) -> str:
        return f"{y} = (fabsf({x}) < {self.alpha / 2!r}f) ? {1 / self.alpha!r}f : 0.0f;"


class Triangle(_ZooSurrogate):
    """Triangle ``max(0, a - |x|) / a^2`` (LT-SNN uses ``a = 1``: ``max(0, 1 - |u - V_th|)``)."""

    def __init__(self, alpha: float = 1.0, spiking: bool = True, strict: bool = False):
        super().__init__(alpha, spiking, strict)

    @staticmethod
    def derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
        return (alpha - x.abs()).clamp(min=0.0) / alpha**2

    @staticmethod
    def derivative_(x: torch.Tensor, alpha: float) -> torch.Tensor:
        """:meth:`derivative` written into ``x`` (no new tensor)."""
        return x.abs_().neg_().add_(alpha).clamp_(min=0.0).div_(alpha**2)

    @staticmethod
    def primitive_function(x: torch.Tensor, alpha: float) -> torch.Tensor:
        t = (x / alpha).clamp(-1.0, 1.0)
        return torch.where(t < 0, 0.5 * (1 + t) ** 2, 1 - 0.5 * (1 - t) ** 2)

    def float_cuda_code(self, y: str, x: str) -> str:
        return f"{y} = fmaxf(0.0f, {self.alpha!r}f - fabsf({x})) / {self.alpha**2!r}f;"


class Dspike(_ZooSurrogate):
    """Dspike (Li et al. 2021): ``b (1 - tanh^2(b x)) / (2 tanh(b/2))`` for ``|x| <= 1/2``, else 0.

    ``alpha`` is the temperature ``b``; large ``b`` approaches the step, small ``b`` the straight-through
    estimator. It is the derivative of ``tanh(b x) / (2 tanh(b/2)) + 1/2`` on the unit window.
    """

    def __init__(self, alpha: float = 3.0, spiking: bool = True, strict: bool = False):
        super().__init__(alpha, spiking, strict)

    @staticmethod
    def derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
        t = torch.tanh(alpha * x)
        inside = (x.abs() <= 0.5).to(x)
        return inside * alpha * (1 - t * t) / (2 * math.tanh(alpha / 2))

    @staticmethod
    def primitive_function(x: torch.Tensor, alpha: float) -> torch.Tensor:
        xc = x.clamp(-0.5, 0.5)
        return torch.tanh(alpha * xc) / (2 * math.tanh(alpha / 2)) + 0.5

    def float_cuda_code(self, y: str, x: str) -> str:
        # 1 - tanh^2(z) = 4e / (1 + e)^2 with e = exp(-2|z|): SpikingJelly compiles its kernels with
        # -use_fast_math, where tanhf is an approximation good to about 5e-4 but expf to about 1e-6
        scale = 4 * self.alpha / (2 * math.tanh(self.alpha / 2))
        return (f"const float dspike__e = expf({-2 * self.alpha!r}f * fabsf({x}));\n"
                f"{y} = (fabsf({x}) <= 0.5f) ? {scale!r}f * dspike__e / ((1.0f + dspike__e) * (1.0f + dspike__e))"
                f" : 0.0f;")


def atan_derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """SpikingJelly's ``ATan`` gradient, ``(alpha / 2) / (1 + (pi alpha x / 2)^2)``."""
    return alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)


def sigmoid_derivative(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """SpikingJelly's ``Sigmoid`` gradient, ``alpha s (1 - s)`` with ``s = sigmoid(alpha x)``."""
    sg = torch.sigmoid(alpha * x)
    return alpha * sg * (1 - sg)


class StrictATan(_base.ATan):
    """SpikingJelly's atan surrogate, spiking on ``x > 0``."""

    strict = True
    derivative = staticmethod(atan_derivative)

    def spiking_function(self, x: torch.Tensor, alpha: float) -> torch.Tensor:
        return _SpikeFunction.apply(x, alpha, atan_derivative, True)


class StrictSigmoid(_base.Sigmoid):
    """SpikingJelly's sigmoid surrogate, spiking on ``x > 0``."""

    strict = True
    derivative = staticmethod(sigmoid_derivative)

    def spiking_function(self, x: torch.Tensor, alpha: float) -> torch.Tensor:
        return _SpikeFunction.apply(x, alpha, sigmoid_derivative, True)


STRICT_SPIKINGJELLY = {_base.ATan: StrictATan, _base.Sigmoid: StrictSigmoid}

SURROGATES = {
    "sigmoid": (_base.Sigmoid, 4.0),
    "atan": (_base.ATan, 2.0),
    "rectangle": (Rectangle, 1.0),
    "triangle": (Triangle, 1.0),
    "dspike": (Dspike, 3.0),
}


def build_surrogate(name: str, alpha: float | None = None, strict: bool = False) -> torch.nn.Module:
    """Surrogate by name (``"atan"``, ``"rectangle"``, ...), with its usual width unless ``alpha``;
    ``strict`` spikes on ``x > 0`` instead of ``x >= 0``."""
    try:
        cls, default_alpha = SURROGATES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; choose from {', '.join(SURROGATES)}") from None
    alpha = default_alpha if alpha is None else alpha
    if not strict:
        return cls(alpha=alpha)
    if cls in STRICT_SPIKINGJELLY:
        return STRICT_SPIKINGJELLY[cls](alpha=alpha)
    return cls(alpha=alpha, strict=True)
