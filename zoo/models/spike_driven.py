"""Spike-driven Transformer (Yao, Hu, Zhou, Yuan, Tian, Xu, Li, "Spike-driven Transformer", NeurIPS 2023),
as the authors' code builds it (github.com/BICLab/Spike-Driven-Transformer, ``model/spikeformer.py``,
``module/sps.py``, ``module/ms_conv.py``; configurations from ``conf/cifar10/*.yml`` and
``conf/imagenet/*.yml``).

It is Spikformer (:mod:`zoo.models.spikformer`) rearranged so that every neuron's input is a real-valued
membrane and every product has a binary spike operand:

* Membrane shortcuts: residuals join *before* the neurons. The SPS's last stage is ``conv-BN[-MP]``
  without a neuron, and the position embedding adds ``BN(conv3x3(LIF(x)))`` to it; each block computes
  ``x + SDSA(LIF(x))`` and ``x + BN(fc2(LIF(BN(fc1(LIF(x))))))``, with ``fc1``/``fc2`` 1x1 convolutions.
* Spike-driven self-attention (SDSA): ``Q, K, V = LIF(BN(conv1x1(S)))`` from the block's input spikes
  ``S``, then ``Q * LIF_0.5(sum_N(K * V))``: ``K * V`` is a mask of spikes (an AND), the sum over the
  tokens is an addition, and the result masks ``Q`` again; no real-valued product and no softmax. The
  attention output goes through ``BN(conv1x1(.))`` (with bias) and joins the membrane shortcut.
* Read-out: tokens averaged, ``LIF``, then the linear ``fc`` (their ``head``) at every step (the mean
  over ``T`` is the authors' non-TET output).

Every neuron is the authors' ``MultiStepLIFNode(tau=2.0, detach_reset=True)`` (SpikingJelly 0.0.0.0.12:
hard reset to 0, ``Sigmoid(alpha=4)`` surrogate); the one after ``sum_N(K * V)`` fires at 0.5.
Module names are the authors' except the read-out (their ``head`` is ``fc``, as in
:mod:`zoo.models.spikformer`); their checkpoints (timm's saver: ``{"state_dict": ..., "args": ...}``)
load through ``zoo.load_weights``, which renames ``head.*`` to ``fc.*``. Their attention also builds ``talking_heads`` (a bias-free ``Conv1d``
over the heads) and an ``attn_lif`` that ``forward`` never calls; the conv's weight is kept as a buffer
(:class:`~zoo.models.spikformer.Unused`: it loads, and parameter counts leave it out as the paper's
do) and the neuron, which has no tensors, is left out. Their ``spike_mode='plif'`` and the DVS
``Erode`` pooling (``dvs_mode``) are not built here.
Input sizes are handled as in Spikformer's SPS (the sizes the pools produce; 28x28 with the CIFAR
configurations gives 7x7 tokens).
"""
from __future__ import annotations

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons.compat import import_spikingjelly
from .base import SpikingClassifier
from .spikformer import (ATTENTION_THRESHOLD, SPS, NeuronFactory, Normalising, Unused, check_width, lif_factory,
                         split_heads)

sj = import_spikingjelly()
layer = sj.layer

PAPER = "Yao et al., Spike-driven Transformer, NeurIPS 2023"
POOLING = {"cifar": "0011", "imagenet": "1111"}  # pooling_stat of conf/cifar10 and conf/imagenet


class MembraneSPS(SPS):
    """The authors' ``MS_SPS``: Spikformer's SPS with membrane shortcuts. The last stage is
    ``conv-BN[-MP]`` (no neuron) and the position embedding is ``BN(conv3x3(LIF(x))) + x`` on that
    membrane, so the blocks receive real values (their first neuron makes the spikes). The ``rpe_lif``
    it inherits is built but not called, as in the authors' ``MS_SPS``; it holds no tensors."""

    def body(self, current: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.proj_lif(current))
        x = self.stage(2, self.stage(1, x))
        x = self.maxpool3(self.proj_bn3(self.proj_conv3(x)))
        return self.rpe_bn(self.rpe_conv(self.proj_lif3(x))) + x


class SDSA(nn.Module):
    """Spike-driven self-attention with its membrane shortcut (the authors' ``MS_SSA_Conv``):
    ``x + BN(conv1x1(Q * LIF_0.5(sum_N(K * V))))`` with ``Q, K, V`` spikes of ``LIF(x)``."""

    def __init__(self, dim: int, num_heads: int, new_neuron: NeuronFactory):
        super().__init__()
        self.num_heads = num_heads
        self.shortcut_lif = new_neuron()
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_conv", layer.Conv2d(dim, dim, 1, bias=False, step_mode="m"))
            setattr(self, f"{name}_bn", layer.BatchNorm2d(dim, step_mode="m"))
            setattr(self, f"{name}_lif", new_neuron())
        self.talking_heads = Unused(nn.Conv1d(num_heads, num_heads, 1, bias=False))
        self.talking_heads_lif = new_neuron(ATTENTION_THRESHOLD)
        self.proj_conv = layer.Conv2d(dim, dim, 1, step_mode="m")
        self.proj_bn = layer.BatchNorm2d(dim, step_mode="m")

    def heads(self, name: str, spikes: torch.Tensor) -> torch.Tensor:
        """``LIF(BN(conv1x1(spikes)))`` as ``[T, B, heads, N, C / heads]``."""
        conv, bn, lif = (getattr(self, f"{name}_{part}") for part in ("conv", "bn", "lif"))
        return split_heads(lif(bn(conv(spikes))).flatten(3).transpose(-1, -2), self.num_heads)

    def attention_operations(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[float, float]:
        """``(accumulates, MACs)`` for the Q, K, V spikes ``[T, B, C, H, W]`` its neurons fired: masking
        is free, summing ``K * V`` over the tokens adds one per coinciding pair; on real values the two
        products and the sum are ``2 N C`` MACs per step."""
        return float(k.mul(v).sum()), 2.0 * q.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = x.shape
        spikes = self.shortcut_lif(x)
        q, k, v = (self.heads(name, spikes) for name in ("q", "k", "v"))
        kv = self.talking_heads_lif(k.mul(v).sum(dim=-2, keepdim=True))  # mask, add over tokens, fire
        attended = q.mul(kv).transpose(3, 4).reshape(T, B, C, H, W)    # mask Q with the fired channels
        return x + self.proj_bn(self.proj_conv(attended))


class MembraneMLP(nn.Module):
    """The authors' ``MS_MLP_Conv``: ``x + BN(fc2(LIF(BN(fc1(LIF(x))))))`` with 1x1 convolutions (and a
    shortcut around ``fc1`` too where the hidden width equals the input's, as their ``res``)."""

    def __init__(self, dim: int, hidden: int, new_neuron: NeuronFactory):
        super().__init__()
        self.res = dim == hidden
        self.fc1_lif = new_neuron()
        self.fc1_conv = layer.Conv2d(dim, hidden, 1, step_mode="m")
        self.fc1_bn = layer.BatchNorm2d(hidden, step_mode="m")
        self.fc2_lif = new_neuron()
        self.fc2_conv = layer.Conv2d(hidden, dim, 1, step_mode="m")
        self.fc2_bn = layer.BatchNorm2d(dim, step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        x = self.fc1_bn(self.fc1_conv(self.fc1_lif(x)))
        if self.res:
            x = identity = identity + x
        return self.fc2_bn(self.fc2_conv(self.fc2_lif(x))) + identity


class MembraneBlock(nn.Module):
    """The authors' ``MS_Block_Conv``: SDSA, then the MLP, each with its membrane shortcut."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, new_neuron: NeuronFactory):
        super().__init__()
        self.attn = SDSA(dim, num_heads, new_neuron)
        self.mlp = MembraneMLP(dim, int(dim * mlp_ratio), new_neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attn(x))


class SpikeDrivenTransformer(Normalising, SpikingClassifier):
    """Spike-driven Transformer-``depth``-``embed_dim``: membrane-shortcut SPS, ``depth`` SDSA/MLP blocks,
    token mean, ``LIF`` and a linear read-out at every step. ``pooling`` is the authors' ``pooling_stat``
    (``'0011'`` CIFAR, ``'1111'`` ImageNet)."""

    stem = "patch_embed.proj_conv"
    head = "fc"  # the authors' ``head`` (the zoo's ``head`` attribute names the read-out layer)
    static_stem = True
    check_cost = 4  # an image costs about four of a CNN's: a card's quick check covers a quarter as many

    def __init__(self, num_classes: int = 10, in_channels: int = 3, T: int = 4,
                 input_size: tuple[int, int] | None = (32, 32), embed_dim: int = 512, depth: int = 2,
                 num_heads: int = 8, mlp_ratio: float = 4.0, pooling: str = "0011", encoding: str = "direct",
                 surrogate: str = "sigmoid", surrogate_alpha: float = 4.0,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        check_width(embed_dim, num_heads, depth)
        self._set_normalisation(mean, std)
        new_neuron = lif_factory(surrogate, surrogate_alpha)
        self.patch_embed = MembraneSPS(in_channels, embed_dim, pooling, new_neuron)
        self.block = nn.ModuleList([MembraneBlock(embed_dim, num_heads, mlp_ratio, new_neuron) for _ in range(depth)])
        self.head_lif = new_neuron()
        self.fc = layer.Linear(embed_dim, num_classes, step_mode="m")
        self.apply(_init_weights)

    def forward_stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.patch_embed.stem(x_seq)

    def forward_body(self, current: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed.body(current)
        for block in self.block:
            x = block(x)
        return self.fc(self.head_lif(x.flatten(3).mean(3)))


def _init_weights(module: nn.Module) -> None:
    """The authors' ``_init_weights``: truncated normal (std 0.02) 2-d convolutions with zero biases, BN
    weight 1 and bias 0; the read-out keeps PyTorch's default."""
    if isinstance(module, nn.Conv2d):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def _cifar(embed_dim: int, kwargs: dict) -> SpikeDrivenTransformer:
    return SpikeDrivenTransformer(**{"embed_dim": embed_dim, "depth": 2, "num_heads": 8, "pooling": POOLING["cifar"],
                                     "num_classes": 10, "in_channels": 3, "input_size": (32, 32), "T": 4, **kwargs})


def _imagenet(embed_dim: int, depth: int, kwargs: dict) -> SpikeDrivenTransformer:
    return SpikeDrivenTransformer(**{"embed_dim": embed_dim, "depth": depth, "num_heads": 8,
                                     "pooling": POOLING["imagenet"], "num_classes": 1000, "in_channels": 3,
                                     "input_size": (224, 224), "T": 4, **kwargs})


@register_model(paper=PAPER)
def sdt_2_512(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-2-512 for CIFAR (``conf/cifar10/2_512_300E_t4.yml``): 2 blocks, D=512, 8
    heads, MLP ratio 4, pooling_stat 0011 (8x8 tokens of 32x32 images), T=4. Authors' normalisation:
    ``mean=CIFAR10_MEAN, std=CIFAR10_STD`` of :mod:`zoo.models.spikformer`."""
    return _cifar(512, kwargs)


@register_model(paper=PAPER)
def sdt_2_256(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-2-256 for CIFAR (``conf/cifar10/2_256_300E_t4.yml``): 2 blocks, D=256, 8
    heads, MLP ratio 4, pooling_stat 0011, T=4."""
    return _cifar(256, kwargs)


@register_model(paper=PAPER)
def sdt_8_384(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-8-384 for ImageNet (``conf/imagenet/8_384_300E_t4.yml``): 8 blocks, D=384,
    8 heads, MLP ratio 4, pooling_stat 1111 (14x14 tokens of 224x224 images), T=4. Authors'
    normalisation: ``mean=IMAGENET_MEAN, std=IMAGENET_STD`` of :mod:`zoo.models.spikformer`."""
    return _imagenet(384, 8, kwargs)


@register_model(paper=PAPER)
def sdt_6_512(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-6-512 for ImageNet (``conf/imagenet/6_512_300E_t4.yml``): 6 blocks, D=512,
    8 heads, MLP ratio 4, pooling_stat 1111, T=4."""
    return _imagenet(512, 6, kwargs)


@register_model(paper=PAPER)
def sdt_8_512(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-8-512 for ImageNet (``conf/imagenet/8_512_300E_t4.yml``): 8 blocks, D=512,
    8 heads, MLP ratio 4, pooling_stat 1111, T=4."""
    return _imagenet(512, 8, kwargs)


@register_model(paper=PAPER)
def sdt_10_512(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-10-512 for ImageNet (the README's 10-layer, 512-channel model; its config
    is ``conf/imagenet/10_384_300E_t4.yml``, which sets dim 512): 10 blocks, D=512, 8 heads, T=4."""
    return _imagenet(512, 10, kwargs)


@register_model(paper=PAPER)
def sdt_8_768(**kwargs) -> SpikeDrivenTransformer:
    """Spike-driven Transformer-8-768 for ImageNet (``conf/imagenet/8_768_300E_t4.yml``): 8 blocks, D=768,
    8 heads, MLP ratio 4, pooling_stat 1111, T=4."""
    return _imagenet(768, 8, kwargs)
