"""Spikformer (Zhou, Zhu, He, Wang, Yan, Tian, Yuan, "Spikformer: When Spiking Neural Network Meets
Transformer", ICLR 2023), as the authors' code builds it (github.com/ZK-Zhou/spikformer, ``cifar10/model.py``
and ``imagenet/model.py``).

* Spiking Patch Splitting (SPS): four ``conv3x3-BN-LIF`` stages widening to D/8, D/4, D/2, D, a 3x3/2
  max-pool after the spikes of the last two stages (``variant='cifar'``: 32x32 -> 8x8 tokens, their
  "patch size 4") or of all four (``'imagenet'``: 224x224 -> 14x14, "patch size 16"), then the relative
  position embedding ``LIF(BN(conv3x3(x))) + x`` on the pooled spikes.
* Spiking Self-Attention (SSA): ``Q, K, V = LIF(BN(Linear(x)))``, then ``LIF_0.5(Q K^T V * 0.125)``
  without softmax (spikes are non-negative, so no normalisation is needed; 0.125 keeps the integer
  products in range), the attention neuron firing at threshold 0.5, then ``LIF(BN(Linear(.)))``.
  The CIFAR code uses ``nn.Linear`` (with bias) and ``BatchNorm1d`` on ``[T, B, N, C]`` tokens and forms
  ``(Q K^T) V``; the ImageNet code uses bias-free 1x1 ``Conv1d`` for Q, K, V on ``[T, B, C, N]`` and forms
  ``Q (K^T V)`` (equal: the products of spikes are exact integers).
* MLP: ``LIF(BN(fc2(LIF(BN(fc1(x))))))`` with hidden width ``mlp_ratio * D`` (Linear in the CIFAR code,
  1x1 ``Conv2d`` in the ImageNet code, both with bias).
* Blocks add spikes: ``x = x + SSA(x); x = x + MLP(x)`` (no norm, no drop-path in ``forward``).
* Read-out: tokens averaged, then the linear ``fc`` at every step; :meth:`forward`'s mean over ``T``
  equals the authors' ``head(mean_T(x))``.

Every neuron is the authors' ``MultiStepLIFNode(tau=2.0, detach_reset=True)`` of SpikingJelly 0.0.0.0.12:
hard reset to 0, threshold 1 (0.5 for the attention neuron) and SpikingJelly's default surrogate,
``Sigmoid(alpha=4)``.

Module names are the authors' (``patch_embed.*``, ``block.N.attn.q_linear``, ...) except the read-out,
their ``head``, which is ``fc`` here: in the zoo ``head`` is the attribute that *names* the read-out
layer, so a layer cannot have that name; ``zoo.load_weights`` renames their ``head.*`` to ``fc.*``
(:mod:`zoo.hub.authors_layout`). The authors' blocks also hold two LayerNorms (``norm1``, ``norm2``) that ``forward`` never
calls; they are kept as buffers (:class:`Unused`): their tensors load, :meth:`parameters` leaves them out
(the parameter counts then equal the paper's tables, which do not count them either) and distributed
training sees no parameter without a gradient.

Input size: the SPS reshapes with the sizes its pools produce (a 3x3/2 pool with padding 1 gives
``ceil(H / 2)``), where the authors' code reshapes to ``H // 2**k``. The two agree when H and W are
divisible by ``2**pools`` (32x32 CIFAR, 224x224 ImageNet, 28x28 Fashion-MNIST with the CIFAR
configurations: 7x7 tokens); other sizes (the ImageNet configurations on 28x28: 2x2 tokens) run here
and do not run in the authors' code. Images are normalised inside the model when ``mean``/``std`` are
given: the authors' checkpoints expect their data pipeline's (:data:`CIFAR10_MEAN` ..., :data:`IMAGENET_MEAN`
...); none by default.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..hub.registry import register_model
from ..neurons import build_neuron
from ..neurons.compat import import_spikingjelly
from .base import SpikingClassifier

sj = import_spikingjelly()
layer = sj.layer

PAPER = "Zhou et al., Spikformer: When Spiking Neural Network Meets Transformer, ICLR 2023"
VARIANTS = ("cifar", "imagenet")
POOLING = {"cifar": "0011", "imagenet": "1111"}  # which SPS stages end in a 3x3/2 max-pool
ATTENTION_SCALE = 0.125  # the authors' fixed scale (1/sqrt(64)), whatever the head width
ATTENTION_THRESHOLD = 0.5
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # cifar10/cifar10.yml
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)      # imagenet/imagenet.yml

NeuronFactory = Callable[..., nn.Module]


def lif_factory(surrogate: str = "sigmoid", surrogate_alpha: float = 4.0) -> NeuronFactory:
    """The authors' ``MultiStepLIFNode(tau=2.0, detach_reset=True[, v_threshold=...])``."""

    def new_neuron(v_threshold: float = 1.0) -> nn.Module:
        return build_neuron("lif", tau=2.0, detach_reset=True, v_threshold=v_threshold, surrogate=surrogate,
                            surrogate_alpha=surrogate_alpha)

    return new_neuron


class Unused(nn.Module):
    """The tensors of a module the authors build but never call, as buffers of the same names: their
    checkpoints load strictly, while :meth:`parameters` (counts, optimisers, DDP) does not see them."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.kind = type(module).__name__
        for name, tensor in module.named_parameters(recurse=False):
            self.register_buffer(name, tensor.detach().clone())

    def forward(self, *args, **kwargs) -> torch.Tensor:
        raise RuntimeError(f"the authors' {self.kind} here is never called; it only keeps their tensors")

    def extra_repr(self) -> str:
        return f"unused {self.kind}, kept as buffers"


def _pool_or_identity(pooled: bool) -> nn.Module:
    return layer.MaxPool2d(3, stride=2, padding=1, step_mode="m") if pooled else nn.Identity()


def check_pooling(pooling: str) -> str:
    """``pooling`` if it is four 0/1 flags (the authors' ``pooling_stat``), else a ``ValueError``."""
    if len(pooling) != 4 or set(pooling) - {"0", "1"}:
        raise ValueError(f"pooling must be four 0/1 characters (one per SPS stage), got {pooling!r}")
    return pooling


class SPS(nn.Module):
    """Spiking Patch Splitting (the authors' ``SPS``): ``{conv3x3-BN-LIF[-MP3s2]} x 4`` to ``embed_dim``
    channels, then the relative position embedding ``LIF(BN(conv3x3(x))) + x`` on spikes. ``pooling[i]``
    says whether stage ``i`` ends in a max-pool; :meth:`stem` is the first conv-BN (what precedes the
    first neuron, with its pool when that comes first), :meth:`body` the rest. ``pool_before_neuron``
    max-pools a pooled stage's batch-norm output before its LIF instead of the spikes after it:
    SpikingJelly 2.x's ``spikformer_*`` do, so their weights compute here what they compute there."""

    def __init__(self, in_channels: int, embed_dim: int, pooling: str, new_neuron: NeuronFactory,
                 pool_before_neuron: bool = False):
        super().__init__()
        self.pool_before_neuron = pool_before_neuron
        if embed_dim % 8:
            raise ValueError(f"embed_dim must be divisible by 8 (SPS widens D/8, D/4, D/2, D), got {embed_dim}")
        self.pooling = check_pooling(pooling)
        widths = [in_channels, embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
        for i, suffix in enumerate(("", "1", "2", "3")):
            setattr(self, f"proj_conv{suffix}", layer.Conv2d(widths[i], widths[i + 1], 3, padding=1, bias=False,
                                                            step_mode="m"))
            setattr(self, f"proj_bn{suffix}", layer.BatchNorm2d(widths[i + 1], step_mode="m"))
            setattr(self, f"proj_lif{suffix}", new_neuron())
            setattr(self, f"maxpool{suffix}", _pool_or_identity(pooling[i] == "1"))
        self.rpe_conv = layer.Conv2d(embed_dim, embed_dim, 3, padding=1, bias=False, step_mode="m")
        self.rpe_bn = layer.BatchNorm2d(embed_dim, step_mode="m")
        self.rpe_lif = new_neuron()

    def stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """conv-BN-LIF-pool (or conv-BN-pool-LIF) of stage ``index`` (1..3)."""
        conv, bn, lif, pool = (getattr(self, f"{name}{index}")
                               for name in ("proj_conv", "proj_bn", "proj_lif", "maxpool"))
        return lif(pool(bn(conv(x)))) if self.pool_before_neuron else pool(lif(bn(conv(x))))

    def stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        current = self.proj_bn(self.proj_conv(x_seq))
        return self.maxpool(current) if self.pool_before_neuron else current

    def body(self, current: torch.Tensor) -> torch.Tensor:
        x = self.proj_lif(current) if self.pool_before_neuron else self.maxpool(self.proj_lif(current))
        for index in (1, 2, 3):
            x = self.stage(index, x)
        return self.rpe_lif(self.rpe_bn(self.rpe_conv(x))) + x

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x_seq))


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``[T, B, N, C]`` -> ``[T, B, heads, N, C / heads]``."""
    T, B, N, C = x.shape
    return x.reshape(T, B, N, num_heads, C // num_heads).permute(0, 1, 3, 2, 4)


class TokenSSA(nn.Module):
    """SSA of the authors' CIFAR code on tokens ``[T, B, N, C]``: Linear (with bias) + BatchNorm1d + LIF
    for Q, K, V, ``LIF_0.5((Q K^T) V * 0.125)``, then Linear + BN + LIF."""

    def __init__(self, dim: int, num_heads: int, new_neuron: NeuronFactory):
        super().__init__()
        self.num_heads = num_heads
        self.scale = ATTENTION_SCALE
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_linear", layer.Linear(dim, dim, step_mode="m"))
            setattr(self, f"{name}_bn", layer.BatchNorm1d(dim, step_mode="m"))
            setattr(self, f"{name}_lif", new_neuron())
        self.attn_lif = new_neuron(ATTENTION_THRESHOLD)
        self.proj_linear = layer.Linear(dim, dim, step_mode="m")
        self.proj_bn = layer.BatchNorm1d(dim, step_mode="m")
        self.proj_lif = new_neuron()

    @staticmethod
    def linear_bn(linear: nn.Module, bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """BatchNorm1d over the channels of ``[T, B, N, C]``: the authors' ``bn(x.transpose(-1, -2))``
        computed on the ``[T B N, C]`` rows it normalises (the same statistics and running averages;
        the transposed layout runs 9x slower on a CPU under bfloat16)."""
        y = linear(x)
        return nn.BatchNorm1d.forward(bn, y.reshape(-1, y.shape[-1])).view(y.shape)

    def spikes(self, name: str, x: torch.Tensor) -> torch.Tensor:
        linear, bn, lif = (getattr(self, f"{name}_{part}") for part in ("linear", "bn", "lif"))
        return lif(self.linear_bn(linear, bn, x))

    def attention_operations(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[float, float]:
        """``(accumulates, MACs)`` of the products of spikes for the Q, K, V spikes ``[T, B, N, C]`` its
        neurons fired: ``Q K^T`` adds one per coinciding pair of spikes, ``(.) V`` adds a non-zero score
        per value spike; the same attention on real values does ``2 N^2 C`` MACs per step (the 0.125
        folds into the threshold)."""
        q, k, v = (split_heads(s, self.num_heads) for s in (q, k, v))
        scores = q @ k.transpose(-2, -1)
        accumulates = (q.sum(-2) * k.sum(-2)).sum() + (v.sum(-1) * (scores != 0).sum(-2)).sum()
        return float(accumulates), 2.0 * q.shape[-2] * q.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, C = x.shape
        q, k, v = (split_heads(self.spikes(name, x), self.num_heads) for name in ("q", "k", "v"))
        attn = (q @ k.transpose(-2, -1)) * self.scale
        x = self.attn_lif((attn @ v).transpose(2, 3).reshape(T, B, N, C))
        return self.spikes("proj", x)


class ConvSSA(nn.Module):
    """SSA of the authors' ImageNet code on feature maps ``[T, B, C, H, W]``: bias-free 1x1 Conv1d + BN +
    LIF for Q, K, V over the ``N = H W`` tokens, ``LIF_0.5(Q (K^T V) * 0.125)``, then Conv1d (with bias)
    + BN + LIF."""

    def __init__(self, dim: int, num_heads: int, new_neuron: NeuronFactory):
        super().__init__()
        self.num_heads = num_heads
        self.scale = ATTENTION_SCALE
        for name in ("q", "k", "v"):
            setattr(self, f"{name}_conv", layer.Conv1d(dim, dim, 1, bias=False, step_mode="m"))
            setattr(self, f"{name}_bn", layer.BatchNorm1d(dim, step_mode="m"))
            setattr(self, f"{name}_lif", new_neuron())
        self.attn_lif = new_neuron(ATTENTION_THRESHOLD)
        self.proj_conv = layer.Conv1d(dim, dim, 1, step_mode="m")
        self.proj_bn = layer.BatchNorm1d(dim, step_mode="m")
        self.proj_lif = new_neuron()

    def spikes(self, name: str, tokens: torch.Tensor) -> torch.Tensor:
        conv, bn, lif = (getattr(self, f"{name}_{part}") for part in ("conv", "bn", "lif"))
        return lif(bn(conv(tokens)))

    def attention_operations(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[float, float]:
        """``(accumulates, MACs)`` for the Q, K, V spikes ``[T, B, C, N]`` its neurons fired: ``K^T V``
        adds one per coinciding pair, ``Q (.)`` adds a non-zero row entry per query spike; on real values
        ``2 N d C`` MACs per step (``d = C / heads``)."""
        q, k, v = (split_heads(s.transpose(-1, -2), self.num_heads) for s in (q, k, v))
        kv = k.transpose(-2, -1) @ v
        accumulates = (k.sum(-1) * v.sum(-1)).sum() + (q.sum(-2) * (kv != 0).sum(-1)).sum()
        return float(accumulates), 2.0 * q.shape[-1] * q.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = x.shape
        tokens = x.flatten(3)  # [T, B, C, N]
        q, k, v = (split_heads(self.spikes(name, tokens).transpose(-1, -2), self.num_heads) for name in ("q", "k", "v"))
        x = (q @ (k.transpose(-2, -1) @ v)) * self.scale
        x = self.attn_lif(x.transpose(3, 4).reshape(T, B, C, H * W))
        return self.proj_lif(self.proj_bn(self.proj_conv(x)).reshape(T, B, C, H, W))


class TokenMLP(nn.Module):
    """The CIFAR code's MLP on tokens: Linear-BN1d-LIF twice."""

    def __init__(self, dim: int, hidden: int, new_neuron: NeuronFactory):
        super().__init__()
        self.fc1_linear, self.fc1_bn, self.fc1_lif = layer.Linear(dim, hidden, step_mode="m"), \
            layer.BatchNorm1d(hidden, step_mode="m"), new_neuron()
        self.fc2_linear, self.fc2_bn, self.fc2_lif = layer.Linear(hidden, dim, step_mode="m"), \
            layer.BatchNorm1d(dim, step_mode="m"), new_neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1_lif(TokenSSA.linear_bn(self.fc1_linear, self.fc1_bn, x))
        return self.fc2_lif(TokenSSA.linear_bn(self.fc2_linear, self.fc2_bn, x))


class ConvMLP(nn.Module):
    """The ImageNet code's MLP on feature maps: 1x1 Conv2d-BN2d-LIF twice."""

    def __init__(self, dim: int, hidden: int, new_neuron: NeuronFactory):
        super().__init__()
        self.fc1_conv, self.fc1_bn, self.fc1_lif = layer.Conv2d(dim, hidden, 1, step_mode="m"), \
            layer.BatchNorm2d(hidden, step_mode="m"), new_neuron()
        self.fc2_conv, self.fc2_bn, self.fc2_lif = layer.Conv2d(hidden, dim, 1, step_mode="m"), \
            layer.BatchNorm2d(dim, step_mode="m"), new_neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2_lif(self.fc2_bn(self.fc2_conv(self.fc1_lif(self.fc1_bn(self.fc1_conv(x))))))


class Block(nn.Module):
    """``x + SSA(x)``, then ``x + MLP(x)``: spikes added to spikes (the sums reach 2, 3, ...)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, variant: str, new_neuron: NeuronFactory):
        super().__init__()
        self.norm1 = Unused(nn.LayerNorm(dim))
        attn, mlp = (TokenSSA, TokenMLP) if variant == "cifar" else (ConvSSA, ConvMLP)
        self.attn = attn(dim, num_heads, new_neuron)
        self.norm2 = Unused(nn.LayerNorm(dim))
        self.mlp = mlp(dim, int(dim * mlp_ratio), new_neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


def check_variant(variant: str) -> str:
    """``variant`` if it names one of the authors' two codes, else a ``ValueError`` listing them."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return variant


def check_width(embed_dim: int, num_heads: int, depth: int) -> None:
    """Refuse widths the heads cannot split (and an empty stack) before any layer is built."""
    if depth < 1 or embed_dim < 8 or num_heads < 1 or embed_dim % num_heads:
        raise ValueError(f"need depth >= 1 and embed_dim divisible by num_heads, got depth={depth}, "
                         f"embed_dim={embed_dim}, num_heads={num_heads}")


class Normalising:
    """Mixin: ``mean``/``std`` buffers (optional) applied to static images, as in :class:`SEWResNet`."""

    def _set_normalisation(self, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> None:
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if mean is not None:
            if len(mean) != self.in_channels or len(std) != self.in_channels:
                raise ValueError(f"mean and std need {self.in_channels} values (one per input channel), "
                                 f"got {len(mean)} and {len(std)}")
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        else:
            self.mean = self.std = None

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else (x - self.mean) / self.std


class Spikformer(Normalising, SpikingClassifier):
    """Spikformer-``depth``-``embed_dim``: SPS, ``depth`` blocks of SSA and MLP, a linear read-out at
    every step. ``variant`` picks the authors' CIFAR code (Linear/BN1d on tokens, two SPS pools) or
    their ImageNet code (1x1 convolutions, four SPS pools); ``pooling`` overrides the SPS pools, and
    ``pool_before_neuron`` pools them as SpikingJelly 2.x's ``spikformer_*`` do (to run their weights)."""

    stem = "patch_embed.proj_conv"
    head = "fc"  # the authors' ``head`` (the zoo's ``head`` attribute names the read-out layer)
    static_stem = True
    check_cost = 4  # an image costs about four of a CNN's: a card's quick check covers a quarter as many

    def __init__(self, num_classes: int = 10, in_channels: int = 3, T: int = 4,
                 input_size: tuple[int, int] | None = (32, 32), embed_dim: int = 384, depth: int = 4,
                 num_heads: int = 12, mlp_ratio: float = 4.0, variant: str = "cifar", pooling: str | None = None,
                 encoding: str = "direct", surrogate: str = "sigmoid", surrogate_alpha: float = 4.0,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 pool_before_neuron: bool = False):
        super().__init__(T=T, encoding=encoding, in_channels=in_channels, num_classes=num_classes,
                         input_size=input_size)
        self.variant = check_variant(variant)
        check_width(embed_dim, num_heads, depth)
        self._set_normalisation(mean, std)
        new_neuron = lif_factory(surrogate, surrogate_alpha)
        self.patch_embed = SPS(in_channels, embed_dim, pooling or POOLING[variant], new_neuron, pool_before_neuron)
        self.block = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio, variant, new_neuron) for _ in range(depth)])
        self.fc = layer.Linear(embed_dim, num_classes, step_mode="m")
        self.apply(_init_weights)

    def forward_stem(self, x_seq: torch.Tensor) -> torch.Tensor:
        return self.patch_embed.stem(x_seq)

    def forward_body(self, current: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed.body(current)  # [T, B, D, h, w]
        if self.variant == "cifar":
            x = x.flatten(-2).transpose(-1, -2)  # tokens [T, B, N, D]
        for block in self.block:
            x = block(x)
        features = x.mean(2) if self.variant == "cifar" else x.flatten(3).mean(3)
        return self.fc(features)


def _init_weights(module: nn.Module) -> None:
    """The authors' ``_init_weights``: truncated normal (std 0.02) linear weights, zero biases; the
    convolutions keep PyTorch's default."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _cifar(embed_dim: int, depth: int, num_heads: int, kwargs: dict) -> Spikformer:
    return Spikformer(**{"embed_dim": embed_dim, "depth": depth, "num_heads": num_heads, "variant": "cifar",
                         "num_classes": 10, "in_channels": 3, "input_size": (32, 32), "T": 4, **kwargs})


def _imagenet(embed_dim: int, depth: int, kwargs: dict) -> Spikformer:
    return Spikformer(**{"embed_dim": embed_dim, "depth": depth, "num_heads": embed_dim // 64,
                         "variant": "imagenet", "num_classes": 1000, "in_channels": 3, "input_size": (224, 224),
                         "T": 4, **kwargs})


@register_model(paper=PAPER)
def spikformer_4_384(**kwargs) -> Spikformer:
    """Spikformer-4-384 for CIFAR (``cifar10/cifar10.yml``): 4 blocks, D=384, 12 heads, MLP ratio 4, patch
    size 4 (8x8 tokens of 32x32 images), T=4. Authors' normalisation: ``mean=CIFAR10_MEAN, std=CIFAR10_STD``."""
    return _cifar(384, 4, 12, kwargs)


@register_model(paper=PAPER)
def spikformer_2_384(**kwargs) -> Spikformer:
    """Spikformer-2-384 for CIFAR (the paper's table): 2 blocks, D=384, 12 heads, MLP ratio 4, patch size 4, T=4."""
    return _cifar(384, 2, 12, kwargs)


@register_model(paper=PAPER)
def spikformer_4_256(**kwargs) -> Spikformer:
    """Spikformer-4-256 for CIFAR (the paper's table): 4 blocks, D=256, 8 heads (head width 32, as
    4-384's), MLP ratio 4, patch size 4, T=4."""
    return _cifar(256, 4, 8, kwargs)


@register_model(paper=PAPER)
def spikformer_8_384(**kwargs) -> Spikformer:
    """Spikformer-8-384 for ImageNet: 8 blocks, D=384, 6 heads (head width 64, as the authors' 8-512),
    MLP ratio 4, patch size 16 (14x14 tokens of 224x224 images), T=4."""
    return _imagenet(384, 8, kwargs)


@register_model(paper=PAPER)
def spikformer_6_512(**kwargs) -> Spikformer:
    """Spikformer-6-512 for ImageNet: 6 blocks, D=512, 8 heads, MLP ratio 4, patch size 16, T=4."""
    return _imagenet(512, 6, kwargs)


@register_model(paper=PAPER)
def spikformer_8_512(**kwargs) -> Spikformer:
    """Spikformer-8-512 for ImageNet, the authors' registered ``spikformer`` (``imagenet/model.py``): 8
    blocks, D=512, 8 heads, MLP ratio 4, patch size 16, T=4. Authors' normalisation: ``mean=IMAGENET_MEAN,
    std=IMAGENET_STD``."""
    return _imagenet(512, 8, kwargs)


@register_model(paper=PAPER)
def spikformer_10_512(**kwargs) -> Spikformer:
    """Spikformer-10-512 for ImageNet: 10 blocks, D=512, 8 heads, MLP ratio 4, patch size 16, T=4."""
    return _imagenet(512, 10, kwargs)


@register_model(paper=PAPER)
def spikformer_8_768(**kwargs) -> Spikformer:
    """Spikformer-8-768 for ImageNet: 8 blocks, D=768, 12 heads (head width 64), MLP ratio 4, patch size
    16, T=4."""
    return _imagenet(768, 8, kwargs)
