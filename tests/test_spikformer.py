"""Spikformer and the Spike-driven Transformer against the authors' modules.

The authors' code is below as written in their repositories (ZK-Zhou/spikformer, MIT licence, Copyright (c)
2022 Zhaokun Zhou; BICLab/Spike-Driven-Transformer, Apache-2.0), with two changes only: the import lines are
replaced by the stand-ins of :func:`authors_module` (SpikingJelly 0.0.0.0.12's ``clock_driven``
``MultiStepLIFNode`` on the installed ``activation_based`` API, and the three timm helpers they use), and
``backend='cupy'`` reads ``backend='torch'`` so they run on a CPU. The ``@register_model`` wrappers are left
out; the networks are built from their classes.

With the same weights (the zoo model's state dict loaded into theirs, strictly, ``fc`` renamed ``head``),
both give the same outputs for the same images in training and evaluation mode, and the same gradients
(their LIF's default surrogate is SpikingJelly's Sigmoid(alpha=4), as the zoo's). Parameter counts of every
named configuration are checked against the papers' tables and against the authors' modules at full size.
"""
from __future__ import annotations

import argparse
import types
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.models.spike_driven import SpikeDrivenTransformer
from zoo.models.spikformer import Spikformer
from zoo.neurons.compat import import_spikingjelly, spikingjelly_major

sj = import_spikingjelly()
# 0.0.0.0.14's nodes take a backend; 2.x's pick their own (its torch path on a CPU)
BACKEND = {"backend": "torch"} if spikingjelly_major() < 2 else {}


class MultiStepLIFNode(sj.neuron.LIFNode):
    """SpikingJelly 0.0.0.0.12's ``clock_driven.neuron.MultiStepLIFNode`` (its signature and defaults:
    threshold 1, reset to 0, decaying input, ``surrogate.Sigmoid()``) on 0.0.0.0.14's multi-step LIF."""

    def __init__(self, tau=2., decay_input=True, v_threshold=1., v_reset=0., surrogate_function=sj.surrogate.Sigmoid(),
                 detach_reset=False, backend='torch'):
        super().__init__(tau=tau, decay_input=decay_input, v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset, step_mode='m',
                         **BACKEND)


class MultiStepParametricLIFNode(sj.neuron.ParametricLIFNode):
    """0.0.0.0.12's ``MultiStepParametricLIFNode`` (imported by the Spike-driven Transformer's modules;
    unused with ``spike_mode='lif'``)."""

    def __init__(self, init_tau=2.0, decay_input=True, v_threshold=1., v_reset=0.,
                 surrogate_function=sj.surrogate.Sigmoid(), detach_reset=False, backend='torch'):
        super().__init__(init_tau=init_tau, decay_input=decay_input, v_threshold=v_threshold, v_reset=v_reset,
                         surrogate_function=surrogate_function, detach_reset=detach_reset, step_mode='m',
                         **BACKEND)


def _to_2tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)


class _DropPath(nn.Module):
    """timm's DropPath; the configurations here use drop_path 0, where the authors build nn.Identity."""

    def __init__(self, drop_prob=0.0):
        super().__init__()
        raise NotImplementedError("the tests build the authors' nets with drop_path_rate=0")


def authors_module(name: str, source: str) -> types.ModuleType:
    """The authors' file ``source`` run in a module whose globals hold what their imports gave them."""
    module = types.ModuleType(f"authors_{name}")
    module.__dict__.update(torch=torch, nn=nn, F=F, partial=partial, MultiStepLIFNode=MultiStepLIFNode,
                           MultiStepParametricLIFNode=MultiStepParametricLIFNode, to_2tuple=_to_2tuple,
                           trunc_normal_=nn.init.trunc_normal_, DropPath=_DropPath)
    exec(compile(source, f"<authors {name}>", "exec"), module.__dict__)
    return module


# ------------------------------------------------------------------------------------------------------------
# The authors' code (see the module docstring for the two changes).
# ------------------------------------------------------------------------------------------------------------

# ZK-Zhou/spikformer cifar10/model.py
SPIKFORMER_CIFAR = r'''
__all__ = ['spikformer']


class MLP(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, drop=0.):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1_linear = nn.Linear(in_features, hidden_features)
        self.fc1_bn = nn.BatchNorm1d(hidden_features)
        self.fc1_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.fc2_linear = nn.Linear(hidden_features, out_features)
        self.fc2_bn = nn.BatchNorm1d(out_features)
        self.fc2_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.c_hidden = hidden_features
        self.c_output = out_features

    def forward(self, x):
        T,B,N,C = x.shape
        x_ = x.flatten(0, 1)
        x = self.fc1_linear(x_)
        x = self.fc1_bn(x.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, self.c_hidden).contiguous()
        x = self.fc1_lif(x)

        x = self.fc2_linear(x.flatten(0,1))
        x = self.fc2_bn(x.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C).contiguous()
        x = self.fc2_lif(x)
        return x


class SSA(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0., proj_drop=0., sr_ratio=1):
        super().__init__()
        assert dim % num_heads == 0, f"dim {dim} should be divided by num_heads {num_heads}."
        self.dim = dim
        self.num_heads = num_heads
        self.scale = 0.125
        self.q_linear = nn.Linear(dim, dim)
        self.q_bn = nn.BatchNorm1d(dim)
        self.q_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.k_linear = nn.Linear(dim, dim)
        self.k_bn = nn.BatchNorm1d(dim)
        self.k_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.v_linear = nn.Linear(dim, dim)
        self.v_bn = nn.BatchNorm1d(dim)
        self.v_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.attn_lif = MultiStepLIFNode(tau=2.0, v_threshold=0.5, detach_reset=True, backend='torch')

        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

    def forward(self, x):
        T,B,N,C = x.shape

        x_for_qkv = x.flatten(0, 1)  # TB, N, C
        q_linear_out = self.q_linear(x_for_qkv)  # [TB, N, C]
        q_linear_out = self.q_bn(q_linear_out. transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C).contiguous()
        q_linear_out = self.q_lif(q_linear_out)
        q = q_linear_out.reshape(T, B, N, self.num_heads, C//self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

        k_linear_out = self.k_linear(x_for_qkv)
        k_linear_out = self.k_bn(k_linear_out. transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C).contiguous()
        k_linear_out = self.k_lif(k_linear_out)
        k = k_linear_out.reshape(T, B, N, self.num_heads, C//self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

        v_linear_out = self.v_linear(x_for_qkv)
        v_linear_out = self.v_bn(v_linear_out. transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C).contiguous()
        v_linear_out = self.v_lif(v_linear_out)
        v = v_linear_out.reshape(T, B, N, self.num_heads, C//self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

        attn = (q @ k.transpose(-2, -1)) * self.scale
        x = attn @ v
        x = x.transpose(2, 3).reshape(T, B, N, C).contiguous()
        x = self.attn_lif(x)
        x = x.flatten(0, 1)
        x = self.proj_lif(self.proj_bn(self.proj_linear(x).transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C))
        return x

class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, qk_scale=None, drop=0., attn_drop=0.,
                 drop_path=0., norm_layer=nn.LayerNorm, sr_ratio=1):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = SSA(dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                              attn_drop=attn_drop, proj_drop=drop, sr_ratio=sr_ratio)
        self.norm2 = norm_layer(dim)
        mlp_hidden_dim = int(dim * mlp_ratio)
        self.mlp = MLP(in_features=dim, hidden_features=mlp_hidden_dim, drop=drop)

    def forward(self, x):
        x = x + self.attn(x)
        x = x + self.mlp(x)
        return x


class SPS(nn.Module):
    def __init__(self, img_size_h=128, img_size_w=128, patch_size=4, in_channels=2, embed_dims=256):
        super().__init__()
        self.image_size = [img_size_h, img_size_w]
        patch_size = to_2tuple(patch_size)
        self.patch_size = patch_size
        self.C = in_channels
        self.H, self.W = self.image_size[0] // patch_size[0], self.image_size[1] // patch_size[1]
        self.num_patches = self.H * self.W
        self.proj_conv = nn.Conv2d(in_channels, embed_dims//8, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn = nn.BatchNorm2d(embed_dims//8)
        self.proj_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.proj_conv1 = nn.Conv2d(embed_dims//8, embed_dims//4, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn1 = nn.BatchNorm2d(embed_dims//4)
        self.proj_lif1 = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.proj_conv2 = nn.Conv2d(embed_dims//4, embed_dims//2, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn2 = nn.BatchNorm2d(embed_dims//2)
        self.proj_lif2 = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.maxpool2 = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

        self.proj_conv3 = nn.Conv2d(embed_dims//2, embed_dims, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn3 = nn.BatchNorm2d(embed_dims)
        self.proj_lif3 = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.maxpool3 = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

        self.rpe_conv = nn.Conv2d(embed_dims, embed_dims, kernel_size=3, stride=1, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(embed_dims)
        self.rpe_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

    def forward(self, x):
        T, B, C, H, W = x.shape
        x = self.proj_conv(x.flatten(0, 1)) # have some fire value
        x = self.proj_bn(x).reshape(T, B, -1, H, W).contiguous()
        x = self.proj_lif(x).flatten(0, 1).contiguous()

        x = self.proj_conv1(x)
        x = self.proj_bn1(x).reshape(T, B, -1, H, W).contiguous()
        x = self.proj_lif1(x).flatten(0, 1).contiguous()

        x = self.proj_conv2(x)
        x = self.proj_bn2(x).reshape(T, B, -1, H, W).contiguous()
        x = self.proj_lif2(x).flatten(0, 1).contiguous()
        x = self.maxpool2(x)

        x = self.proj_conv3(x)
        x = self.proj_bn3(x).reshape(T, B, -1, H//2, W//2).contiguous()
        x = self.proj_lif3(x).flatten(0, 1).contiguous()
        x = self.maxpool3(x)

        x_feat = x.reshape(T, B, -1, H//4, W//4).contiguous()
        x = self.rpe_conv(x)
        x = self.rpe_bn(x).reshape(T, B, -1, H//4, W//4).contiguous()
        x = self.rpe_lif(x)
        x = x + x_feat

        x = x.flatten(-2).transpose(-1, -2)  # T,B,N,C
        return x


class Spikformer(nn.Module):
    def __init__(self,
                 img_size_h=128, img_size_w=128, patch_size=16, in_channels=2, num_classes=11,
                 embed_dims=[64, 128, 256], num_heads=[1, 2, 4], mlp_ratios=[4, 4, 4], qkv_bias=False, qk_scale=None,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0., norm_layer=nn.LayerNorm,
                 depths=[6, 8, 6], sr_ratios=[8, 4, 2], T = 4
                 ):
        super().__init__()
        self.T = T  # time step
        self.num_classes = num_classes
        self.depths = depths

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depths)]  # stochastic depth decay rule

        patch_embed = SPS(img_size_h=img_size_h,
                                 img_size_w=img_size_w,
                                 patch_size=patch_size,
                                 in_channels=in_channels,
                                 embed_dims=embed_dims)

        block = nn.ModuleList([Block(
            dim=embed_dims, num_heads=num_heads, mlp_ratio=mlp_ratios, qkv_bias=qkv_bias,
            qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=dpr[j],
            norm_layer=norm_layer, sr_ratio=sr_ratios)
            for j in range(depths)])

        setattr(self, f"patch_embed", patch_embed)
        setattr(self, f"block", block)

        # classification head
        self.head = nn.Linear(embed_dims, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self._init_weights)

    @torch.jit.ignore
    def _get_pos_embed(self, pos_embed, patch_embed, H, W):
        if H * W == self.patch_embed1.num_patches:
            return pos_embed
        else:
            return F.interpolate(
                pos_embed.reshape(1, patch_embed.H, patch_embed.W, -1).permute(0, 3, 1, 2),
                size=(H, W), mode="bilinear").reshape(1, -1, H * W).permute(0, 2, 1)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward_features(self, x):

        block = getattr(self, f"block")
        patch_embed = getattr(self, f"patch_embed")

        x = patch_embed(x)
        for blk in block:
            x = blk(x)
        return x.mean(2)

    def forward(self, x):
        x = (x.unsqueeze(0)).repeat(self.T, 1, 1, 1, 1)
        x = self.forward_features(x)
        x = self.head(x.mean(0))
        return x
'''


# ZK-Zhou/spikformer imagenet/model.py
SPIKFORMER_IMAGENET = r'''
__all__ = ['spikformer']


class MLP(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, drop=0.):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1_conv = nn.Conv2d(in_features, hidden_features, kernel_size=1, stride=1)
        self.fc1_bn = nn.BatchNorm2d(hidden_features)
        self.fc1_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.fc2_conv = nn.Conv2d(hidden_features, out_features, kernel_size=1, stride=1)
        self.fc2_bn = nn.BatchNorm2d(out_features)
        self.fc2_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.c_hidden = hidden_features
        self.c_output = out_features

    def forward(self, x):
        T,B,C,H,W = x.shape
        x = self.fc1_conv(x.flatten(0,1))
        x = self.fc1_bn(x).reshape(T,B,self.c_hidden,H,W).contiguous()
        x = self.fc1_lif(x)

        x = self.fc2_conv(x.flatten(0,1))
        x = self.fc2_bn(x).reshape(T,B,C,H,W).contiguous()
        x = self.fc2_lif(x)
        return x


class SSA(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0., proj_drop=0., sr_ratio=1):
        super().__init__()
        assert dim % num_heads == 0, f"dim {dim} should be divided by num_heads {num_heads}."
        self.dim = dim
        self.num_heads = num_heads
        self.scale = 0.125
        self.q_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1,bias=False)
        self.q_bn = nn.BatchNorm1d(dim)
        self.q_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.k_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1,bias=False)
        self.k_bn = nn.BatchNorm1d(dim)
        self.k_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

        self.v_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1,bias=False)
        self.v_bn = nn.BatchNorm1d(dim)
        self.v_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.attn_lif = MultiStepLIFNode(tau=2.0, v_threshold=0.5, detach_reset=True, backend='torch')

        self.proj_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1)
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

    def forward(self, x, res_attn):
        T,B,C,H,W = x.shape
        x = x.flatten(3)
        T, B, C, N = x.shape
        x_for_qkv = x.flatten(0, 1)
        q_conv_out = self.q_conv(x_for_qkv)
        q_conv_out = self.q_bn(q_conv_out).reshape(T,B,C,N).contiguous()
        q_conv_out = self.q_lif(q_conv_out)
        q = q_conv_out.transpose(-1, -2).reshape(T, B, N, self.num_heads, C//self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

        k_conv_out = self.k_conv(x_for_qkv)
        k_conv_out = self.k_bn(k_conv_out).reshape(T,B,C,N).contiguous()
        k_conv_out = self.k_lif(k_conv_out)
        k = k_conv_out.transpose(-1, -2).reshape(T, B, N, self.num_heads, C//self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

        v_conv_out = self.v_conv(x_for_qkv)
        v_conv_out = self.v_bn(v_conv_out).reshape(T,B,C,N).contiguous()
        v_conv_out = self.v_lif(v_conv_out)
        v = v_conv_out.transpose(-1, -2).reshape(T, B, N, self.num_heads, C//self.num_heads).permute(0, 1, 3, 2, 4).contiguous()

        x = k.transpose(-2,-1) @ v
        x = (q @ x) * self.scale

        x = x.transpose(3, 4).reshape(T, B, C, N).contiguous()
        x = self.attn_lif(x)
        x = x.flatten(0,1)
        x = self.proj_lif(self.proj_bn(self.proj_conv(x)).reshape(T,B,C,H,W))
        return x, v

class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4., qkv_bias=False, qk_scale=None, drop=0., attn_drop=0.,
                 drop_path=0., norm_layer=nn.LayerNorm, sr_ratio=1):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = SSA(dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                              attn_drop=attn_drop, proj_drop=drop, sr_ratio=sr_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = norm_layer(dim)
        mlp_hidden_dim = int(dim * mlp_ratio)
        self.mlp = MLP(in_features=dim, hidden_features=mlp_hidden_dim, drop=drop)

    def forward(self, x, res_attn):
        x_attn, attn = (self.attn(x, res_attn))
        x = x + x_attn
        x = x + (self.mlp((x)))

        return x, attn


class SPS(nn.Module):
    def __init__(self, img_size_h=128, img_size_w=128, patch_size=4, in_channels=2, embed_dims=256):
        super().__init__()
        self.image_size = [img_size_h, img_size_w]
        patch_size = to_2tuple(patch_size)
        self.patch_size = patch_size
        self.C = in_channels
        self.H, self.W = self.image_size[0] // patch_size[0], self.image_size[1] // patch_size[1]
        self.num_patches = self.H * self.W
        self.proj_conv = nn.Conv2d(in_channels, embed_dims//8, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn = nn.BatchNorm2d(embed_dims//8)
        self.proj_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.maxpool = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

        self.proj_conv1 = nn.Conv2d(embed_dims//8, embed_dims//4, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn1 = nn.BatchNorm2d(embed_dims//4)
        self.proj_lif1 = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.maxpool1 = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

        self.proj_conv2 = nn.Conv2d(embed_dims//4, embed_dims//2, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn2 = nn.BatchNorm2d(embed_dims//2)
        self.proj_lif2 = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.maxpool2 = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

        self.proj_conv3 = nn.Conv2d(embed_dims//2, embed_dims, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn3 = nn.BatchNorm2d(embed_dims)
        self.proj_lif3 = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')
        self.maxpool3 = torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

        self.rpe_conv = nn.Conv2d(embed_dims, embed_dims, kernel_size=3, stride=1, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(embed_dims)
        self.rpe_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend='torch')

    def forward(self, x):
        T, B, C, H, W = x.shape
        x = self.proj_conv(x.flatten(0, 1)) # have some fire value
        x = self.proj_bn(x).reshape(T, B, -1, H, W).contiguous()
        x = self.proj_lif(x).flatten(0,1).contiguous()
        x = self.maxpool(x)

        x = self.proj_conv1(x)
        x = self.proj_bn1(x).reshape(T, B, -1, H//2, W//2).contiguous()
        x = self.proj_lif1(x).flatten(0, 1).contiguous()
        x = self.maxpool1(x)

        x = self.proj_conv2(x)
        x = self.proj_bn2(x).reshape(T, B, -1, H//4, W//4).contiguous()
        x = self.proj_lif2(x).flatten(0, 1).contiguous()
        x = self.maxpool2(x)

        x = self.proj_conv3(x)
        x = self.proj_bn3(x).reshape(T, B, -1, H//8, W//8).contiguous()
        x = self.proj_lif3(x).flatten(0, 1).contiguous()
        x = self.maxpool3(x)

        x_feat = x.reshape(T, B, -1, H//16, W//16).contiguous()
        x = self.rpe_conv(x)
        x = self.rpe_bn(x).reshape(T, B, -1, H//16, W//16).contiguous()
        x = self.rpe_lif(x)
        x = x + x_feat

        H, W = H // self.patch_size[0], W // self.patch_size[1]
        return x, (H, W)

class Spikformer(nn.Module):
    def __init__(self,
                 img_size_h=128, img_size_w=128, patch_size=16, in_channels=2, num_classes=11,
                 embed_dims=[64, 128, 256], num_heads=[1, 2, 4], mlp_ratios=[4, 4, 4], qkv_bias=False, qk_scale=None,
                 drop_rate=0., attn_drop_rate=0., drop_path_rate=0., norm_layer=nn.LayerNorm,
                 depths=[6, 8, 6], sr_ratios=[8, 4, 2]
                 ):
        super().__init__()
        self.num_classes = num_classes
        self.depths = depths

        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depths)]  # stochastic depth decay rule

        patch_embed = SPS(img_size_h=img_size_h,
                                 img_size_w=img_size_w,
                                 patch_size=patch_size,
                                 in_channels=in_channels,
                                 embed_dims=embed_dims)

        block = nn.ModuleList([Block(
            dim=embed_dims, num_heads=num_heads, mlp_ratio=mlp_ratios, qkv_bias=qkv_bias,
            qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=dpr[j],
            norm_layer=norm_layer, sr_ratio=sr_ratios)
            for j in range(depths)])

        setattr(self, f"patch_embed", patch_embed)
        setattr(self, f"block", block)

        # classification head
        self.head = nn.Linear(embed_dims, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self._init_weights)

    @torch.jit.ignore
    def _get_pos_embed(self, pos_embed, patch_embed, H, W):
        if H * W == self.patch_embed1.num_patches:
            return pos_embed
        else:
            return F.interpolate(
                pos_embed.reshape(1, patch_embed.H, patch_embed.W, -1).permute(0, 3, 1, 2),
                size=(H, W), mode="bilinear").reshape(1, -1, H * W).permute(0, 2, 1)

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward_features(self, x):

        block = getattr(self, f"block")
        patch_embed = getattr(self, f"patch_embed")

        x, (H, W) = patch_embed(x)
        attn = None
        for blk in block:
            x, attn = blk(x, attn)
        return x.flatten(3).mean(3)

    def forward(self, x):
        T = 4
        x = (x.unsqueeze(0)).repeat(T, 1, 1, 1, 1)
        x = self.forward_features(x)
        x = self.head(x.mean(0))
        return x
'''


# BICLab/Spike-Driven-Transformer module/ms_conv.py, module/sps.py, model/spikeformer.py
SPIKE_DRIVEN = r'''
class Erode(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool3d(
            kernel_size=(1, 3, 3), stride=(1, 1, 1), padding=(0, 1, 1)
        )

    def forward(self, x):
        return self.pool(x)


class MS_MLP_Conv(nn.Module):
    def __init__(
        self,
        in_features,
        hidden_features=None,
        out_features=None,
        drop=0.0,
        spike_mode="lif",
        layer=0,
    ):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.res = in_features == hidden_features
        self.fc1_conv = nn.Conv2d(in_features, hidden_features, kernel_size=1, stride=1)
        self.fc1_bn = nn.BatchNorm2d(hidden_features)
        if spike_mode == "lif":
            self.fc1_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.fc1_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

        self.fc2_conv = nn.Conv2d(
            hidden_features, out_features, kernel_size=1, stride=1
        )
        self.fc2_bn = nn.BatchNorm2d(out_features)
        if spike_mode == "lif":
            self.fc2_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.fc2_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

        self.c_hidden = hidden_features
        self.c_output = out_features
        self.layer = layer

    def forward(self, x, hook=None):
        T, B, C, H, W = x.shape
        identity = x

        x = self.fc1_lif(x)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_fc1_lif"] = x.detach()
        x = self.fc1_conv(x.flatten(0, 1))
        x = self.fc1_bn(x).reshape(T, B, self.c_hidden, H, W).contiguous()
        if self.res:
            x = identity + x
            identity = x
        x = self.fc2_lif(x)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_fc2_lif"] = x.detach()
        x = self.fc2_conv(x.flatten(0, 1))
        x = self.fc2_bn(x).reshape(T, B, C, H, W).contiguous()

        x = x + identity
        return x, hook


class MS_SSA_Conv(nn.Module):
    def __init__(
        self,
        dim,
        num_heads=8,
        qkv_bias=False,
        qk_scale=None,
        attn_drop=0.0,
        proj_drop=0.0,
        sr_ratio=1,
        mode="direct_xor",
        spike_mode="lif",
        dvs=False,
        layer=0,
    ):
        super().__init__()
        assert (
            dim % num_heads == 0
        ), f"dim {dim} should be divided by num_heads {num_heads}."
        self.dim = dim
        self.dvs = dvs
        self.num_heads = num_heads
        if dvs:
            self.pool = Erode()
        self.scale = 0.125
        self.q_conv = nn.Conv2d(dim, dim, kernel_size=1, stride=1, bias=False)
        self.q_bn = nn.BatchNorm2d(dim)
        if spike_mode == "lif":
            self.q_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.q_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

        self.k_conv = nn.Conv2d(dim, dim, kernel_size=1, stride=1, bias=False)
        self.k_bn = nn.BatchNorm2d(dim)
        if spike_mode == "lif":
            self.k_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.k_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

        self.v_conv = nn.Conv2d(dim, dim, kernel_size=1, stride=1, bias=False)
        self.v_bn = nn.BatchNorm2d(dim)
        if spike_mode == "lif":
            self.v_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.v_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

        if spike_mode == "lif":
            self.attn_lif = MultiStepLIFNode(
                tau=2.0, v_threshold=0.5, detach_reset=True, backend="torch"
            )
        elif spike_mode == "plif":
            self.attn_lif = MultiStepParametricLIFNode(
                init_tau=2.0, v_threshold=0.5, detach_reset=True, backend="torch"
            )

        self.talking_heads = nn.Conv1d(
            num_heads, num_heads, kernel_size=1, stride=1, bias=False
        )
        if spike_mode == "lif":
            self.talking_heads_lif = MultiStepLIFNode(
                tau=2.0, v_threshold=0.5, detach_reset=True, backend="torch"
            )
        elif spike_mode == "plif":
            self.talking_heads_lif = MultiStepParametricLIFNode(
                init_tau=2.0, v_threshold=0.5, detach_reset=True, backend="torch"
            )

        self.proj_conv = nn.Conv2d(dim, dim, kernel_size=1, stride=1)
        self.proj_bn = nn.BatchNorm2d(dim)

        if spike_mode == "lif":
            self.shortcut_lif = MultiStepLIFNode(
                tau=2.0, detach_reset=True, backend="torch"
            )
        elif spike_mode == "plif":
            self.shortcut_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

        self.mode = mode
        self.layer = layer

    def forward(self, x, hook=None):
        T, B, C, H, W = x.shape
        identity = x
        N = H * W
        x = self.shortcut_lif(x)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_first_lif"] = x.detach()

        x_for_qkv = x.flatten(0, 1)
        q_conv_out = self.q_conv(x_for_qkv)
        q_conv_out = self.q_bn(q_conv_out).reshape(T, B, C, H, W).contiguous()
        q_conv_out = self.q_lif(q_conv_out)

        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_q_lif"] = q_conv_out.detach()
        q = (
            q_conv_out.flatten(3)
            .transpose(-1, -2)
            .reshape(T, B, N, self.num_heads, C // self.num_heads)
            .permute(0, 1, 3, 2, 4)
            .contiguous()
        )

        k_conv_out = self.k_conv(x_for_qkv)
        k_conv_out = self.k_bn(k_conv_out).reshape(T, B, C, H, W).contiguous()
        k_conv_out = self.k_lif(k_conv_out)
        if self.dvs:
            k_conv_out = self.pool(k_conv_out)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_k_lif"] = k_conv_out.detach()
        k = (
            k_conv_out.flatten(3)
            .transpose(-1, -2)
            .reshape(T, B, N, self.num_heads, C // self.num_heads)
            .permute(0, 1, 3, 2, 4)
            .contiguous()
        )

        v_conv_out = self.v_conv(x_for_qkv)
        v_conv_out = self.v_bn(v_conv_out).reshape(T, B, C, H, W).contiguous()
        v_conv_out = self.v_lif(v_conv_out)
        if self.dvs:
            v_conv_out = self.pool(v_conv_out)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_v_lif"] = v_conv_out.detach()
        v = (
            v_conv_out.flatten(3)
            .transpose(-1, -2)
            .reshape(T, B, N, self.num_heads, C // self.num_heads)
            .permute(0, 1, 3, 2, 4)
            .contiguous()
        )  # T B head N C//h

        kv = k.mul(v)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_kv_before"] = kv
        if self.dvs:
            kv = self.pool(kv)
        kv = kv.sum(dim=-2, keepdim=True)
        kv = self.talking_heads_lif(kv)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_kv"] = kv.detach()
        x = q.mul(kv)
        if self.dvs:
            x = self.pool(x)
        if hook is not None:
            hook[self._get_name() + str(self.layer) + "_x_after_qkv"] = x.detach()

        x = x.transpose(3, 4).reshape(T, B, C, H, W).contiguous()
        x = (
            self.proj_bn(self.proj_conv(x.flatten(0, 1)))
            .reshape(T, B, C, H, W)
            .contiguous()
        )

        x = x + identity
        return x, v, hook


class MS_Block_Conv(nn.Module):
    def __init__(
        self,
        dim,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=False,
        qk_scale=None,
        drop=0.0,
        attn_drop=0.0,
        drop_path=0.0,
        norm_layer=nn.LayerNorm,
        sr_ratio=1,
        attn_mode="direct_xor",
        spike_mode="lif",
        dvs=False,
        layer=0,
    ):
        super().__init__()
        self.attn = MS_SSA_Conv(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop=attn_drop,
            proj_drop=drop,
            sr_ratio=sr_ratio,
            mode=attn_mode,
            spike_mode=spike_mode,
            dvs=dvs,
            layer=layer,
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        mlp_hidden_dim = int(dim * mlp_ratio)
        self.mlp = MS_MLP_Conv(
            in_features=dim,
            hidden_features=mlp_hidden_dim,
            drop=drop,
            spike_mode=spike_mode,
            layer=layer,
        )

    def forward(self, x, hook=None):
        x_attn, attn, hook = self.attn(x, hook=hook)
        x, hook = self.mlp(x_attn, hook=hook)
        return x, attn, hook


class MS_SPS(nn.Module):
    def __init__(
        self,
        img_size_h=128,
        img_size_w=128,
        patch_size=4,
        in_channels=2,
        embed_dims=256,
        pooling_stat="1111",
        spike_mode="lif",
    ):
        super().__init__()
        self.image_size = [img_size_h, img_size_w]
        patch_size = to_2tuple(patch_size)
        self.patch_size = patch_size
        self.pooling_stat = pooling_stat

        self.C = in_channels
        self.H, self.W = (
            self.image_size[0] // patch_size[0],
            self.image_size[1] // patch_size[1],
        )
        self.num_patches = self.H * self.W
        self.proj_conv = nn.Conv2d(
            in_channels, embed_dims // 8, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.proj_bn = nn.BatchNorm2d(embed_dims // 8)
        if spike_mode == "lif":
            self.proj_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.proj_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )
        self.maxpool = nn.MaxPool2d(
            kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False
        )

        self.proj_conv1 = nn.Conv2d(
            embed_dims // 8,
            embed_dims // 4,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False,
        )
        self.proj_bn1 = nn.BatchNorm2d(embed_dims // 4)
        if spike_mode == "lif":
            self.proj_lif1 = MultiStepLIFNode(
                tau=2.0, detach_reset=True, backend="torch"
            )
        elif spike_mode == "plif":
            self.proj_lif1 = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )
        self.maxpool1 = nn.MaxPool2d(
            kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False
        )

        self.proj_conv2 = nn.Conv2d(
            embed_dims // 4,
            embed_dims // 2,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False,
        )
        self.proj_bn2 = nn.BatchNorm2d(embed_dims // 2)
        if spike_mode == "lif":
            self.proj_lif2 = MultiStepLIFNode(
                tau=2.0, detach_reset=True, backend="torch"
            )
        elif spike_mode == "plif":
            self.proj_lif2 = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )
        self.maxpool2 = nn.MaxPool2d(
            kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False
        )

        self.proj_conv3 = nn.Conv2d(
            embed_dims // 2, embed_dims, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.proj_bn3 = nn.BatchNorm2d(embed_dims)
        if spike_mode == "lif":
            self.proj_lif3 = MultiStepLIFNode(
                tau=2.0, detach_reset=True, backend="torch"
            )
        elif spike_mode == "plif":
            self.proj_lif3 = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )
        self.maxpool3 = nn.MaxPool2d(
            kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False
        )

        self.rpe_conv = nn.Conv2d(
            embed_dims, embed_dims, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.rpe_bn = nn.BatchNorm2d(embed_dims)
        if spike_mode == "lif":
            self.rpe_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.rpe_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )

    def forward(self, x, hook=None):
        T, B, _, H, W = x.shape
        ratio = 1
        x = self.proj_conv(x.flatten(0, 1))  # have some fire value
        x = self.proj_bn(x).reshape(T, B, -1, H // ratio, W // ratio).contiguous()
        x = self.proj_lif(x)
        if hook is not None:
            hook[self._get_name() + "_lif"] = x.detach()
        x = x.flatten(0, 1).contiguous()
        if self.pooling_stat[0] == "1":
            x = self.maxpool(x)
            ratio *= 2

        x = self.proj_conv1(x)
        x = self.proj_bn1(x).reshape(T, B, -1, H // ratio, W // ratio).contiguous()
        x = self.proj_lif1(x)
        if hook is not None:
            hook[self._get_name() + "_lif1"] = x.detach()
        x = x.flatten(0, 1).contiguous()
        if self.pooling_stat[1] == "1":
            x = self.maxpool1(x)
            ratio *= 2

        x = self.proj_conv2(x)
        x = self.proj_bn2(x).reshape(T, B, -1, H // ratio, W // ratio).contiguous()
        x = self.proj_lif2(x)
        if hook is not None:
            hook[self._get_name() + "_lif2"] = x.detach()
        x = x.flatten(0, 1).contiguous()
        if self.pooling_stat[2] == "1":
            x = self.maxpool2(x)
            ratio *= 2

        x = self.proj_conv3(x)
        x = self.proj_bn3(x)
        if self.pooling_stat[3] == "1":
            x = self.maxpool3(x)
            ratio *= 2

        x_feat = x
        x = self.proj_lif3(x.reshape(T, B, -1, H // ratio, W // ratio).contiguous())
        if hook is not None:
            hook[self._get_name() + "_lif3"] = x.detach()
        x = x.flatten(0, 1).contiguous()
        x = self.rpe_conv(x)
        x = self.rpe_bn(x)
        x = (x + x_feat).reshape(T, B, -1, H // ratio, W // ratio).contiguous()

        H, W = H // self.patch_size[0], W // self.patch_size[1]
        return x, (H, W), hook


class SpikeDrivenTransformer(nn.Module):
    def __init__(
        self,
        img_size_h=128,
        img_size_w=128,
        patch_size=16,
        in_channels=2,
        num_classes=11,
        embed_dims=512,
        num_heads=8,
        mlp_ratios=4,
        qkv_bias=False,
        qk_scale=None,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        norm_layer=nn.LayerNorm,
        depths=[6, 8, 6],
        sr_ratios=[8, 4, 2],
        T=4,
        pooling_stat="1111",
        attn_mode="direct_xor",
        spike_mode="lif",
        get_embed=False,
        dvs_mode=False,
        TET=False,
        cml=False,
        pretrained=False,
        pretrained_cfg=None,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.depths = depths

        self.T = T
        self.TET = TET
        self.dvs = dvs_mode

        dpr = [
            x.item() for x in torch.linspace(0, drop_path_rate, depths)
        ]  # stochastic depth decay rule

        patch_embed = MS_SPS(
            img_size_h=img_size_h,
            img_size_w=img_size_w,
            patch_size=patch_size,
            in_channels=in_channels,
            embed_dims=embed_dims,
            pooling_stat=pooling_stat,
            spike_mode=spike_mode,
        )

        blocks = nn.ModuleList(
            [
                MS_Block_Conv(
                    dim=embed_dims,
                    num_heads=num_heads,
                    mlp_ratio=mlp_ratios,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[j],
                    norm_layer=norm_layer,
                    sr_ratio=sr_ratios,
                    attn_mode=attn_mode,
                    spike_mode=spike_mode,
                    dvs=dvs_mode,
                    layer=j,
                )
                for j in range(depths)
            ]
        )

        setattr(self, f"patch_embed", patch_embed)
        setattr(self, f"block", blocks)

        # classification head
        if spike_mode in ["lif", "alif", "blif"]:
            self.head_lif = MultiStepLIFNode(tau=2.0, detach_reset=True, backend="torch")
        elif spike_mode == "plif":
            self.head_lif = MultiStepParametricLIFNode(
                init_tau=2.0, detach_reset=True, backend="torch"
            )
        self.head = (
            nn.Linear(embed_dims, num_classes) if num_classes > 0 else nn.Identity()
        )
        self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, nn.Conv2d):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward_features(self, x, hook=None):
        block = getattr(self, f"block")
        patch_embed = getattr(self, f"patch_embed")

        x, _, hook = patch_embed(x, hook=hook)
        for blk in block:
            x, _, hook = blk(x, hook=hook)

        x = x.flatten(3).mean(3)
        return x, hook

    def forward(self, x, hook=None):
        if len(x.shape) < 5:
            x = (x.unsqueeze(0)).repeat(self.T, 1, 1, 1, 1)
        else:
            x = x.transpose(0, 1).contiguous()

        x, hook = self.forward_features(x, hook=hook)
        x = self.head_lif(x)
        if hook is not None:
            hook["head_lif"] = x.detach()

        x = self.head(x)
        if not self.TET:
            x = x.mean(0)
        return x, hook
'''


AUTHORS_CIFAR = authors_module("spikformer_cifar", SPIKFORMER_CIFAR)
AUTHORS_IMAGENET = authors_module("spikformer_imagenet", SPIKFORMER_IMAGENET)
AUTHORS_SDT = authors_module("spike_driven", SPIKE_DRIVEN)


def authors_spikformer(variant: str, embed_dim: int, depth: int, num_heads: int, num_classes: int = 10,
                       size: int = 32, T: int = 4) -> nn.Module:
    """Their Spikformer as their scripts build it: cifar10/train.py's ``create_model`` call, or the
    ImageNet ``spikformer()`` entry (whose ``forward`` fixes T = 4)."""
    if variant == "cifar":
        return AUTHORS_CIFAR.Spikformer(img_size_h=size, img_size_w=size, patch_size=4, embed_dims=embed_dim,
                                        num_heads=num_heads, mlp_ratios=4, in_channels=3, num_classes=num_classes,
                                        qkv_bias=False, depths=depth, sr_ratios=1, T=T)
    return AUTHORS_IMAGENET.Spikformer(img_size_h=size, img_size_w=size, patch_size=16, embed_dims=embed_dim,
                                       num_heads=num_heads, mlp_ratios=4, in_channels=3, num_classes=num_classes,
                                       qkv_bias=False, norm_layer=partial(nn.LayerNorm, eps=1e-6), depths=depth,
                                       sr_ratios=1)


def authors_sdt(embed_dim: int, depth: int, num_heads: int, pooling: str, num_classes: int = 10, size: int = 32,
                T: int = 2, mlp_ratio: float = 4) -> nn.Module:
    """Their SpikeDrivenTransformer as train.py's ``create_model`` call builds it (timm drops its
    ``patch_size=None``, leaving the default 16, which only sets unused attributes)."""
    return AUTHORS_SDT.SpikeDrivenTransformer(img_size_h=size, img_size_w=size, patch_size=16, in_channels=3,
                                              num_classes=num_classes, embed_dims=embed_dim, num_heads=num_heads,
                                              mlp_ratios=mlp_ratio, qkv_bias=False, depths=depth, sr_ratios=1, T=T,
                                              pooling_stat=pooling, spike_mode="lif", dvs_mode=False, TET=False)


def authors_output(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x)
    return out[0] if isinstance(out, tuple) else out  # the Spike-driven Transformer returns (logits, hook)


def to_authors(state: dict) -> dict:
    """The zoo's names in the authors': their read-out is ``head``."""
    return {("head." + key[3:] if key.startswith("fc.") else key): value for key, value in state.items()}


def from_authors(state: dict) -> dict:
    return {("fc." + key[5:] if key.startswith("head.") else key): value for key, value in state.items()}


def randomise_batch_norms(net: nn.Module) -> nn.Module:
    """BN affine parameters and running statistics away from their initial 1/0, so that evaluation mode
    tests something, and so that neurons both fire and stay silent."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.5, 1.0)
                module.running_mean.normal_(0.0, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return net


def check_same_function(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    """Same outputs (training and evaluation mode) and the same gradients for every parameter."""
    theirs.load_state_dict(to_authors(ours.state_dict()), strict=True)
    ours.train(), theirs.train()
    attention = {name: module for name, module in ours.named_modules()
                 if name.endswith(("attn_lif", "talking_heads_lif"))}  # after Q K^T V / sum_N(K * V)
    rates = {}
    hooks = [module.register_forward_hook(lambda m, i, o, name=name: rates.__setitem__(name, float(o.detach().mean())))
             for name, module in attention.items()]
    out = ours(x)
    for hook in hooks:
        hook.remove()
    assert attention and all(0 < rate < 1 for rate in rates.values()), rates  # the attention is exercised
    expected = authors_output(theirs, x)
    assert out.shape == expected.shape == (x.shape[0], ours.num_classes)
    assert out.std(dim=0).abs().max() > 1e-3  # the two images give different logits
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)

    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    own = dict(ours.named_parameters())
    never_called = {name for name, parameter in theirs.named_parameters() if parameter.grad is None}
    # rounding: the sums run in another order (the fused LIF, BN over another layout), which shows where a
    # gradient is zero up to rounding (a bias before a batch-norm), so the tolerance follows the largest one
    scale = max(float(p.grad.abs().max()) for p in theirs.parameters() if p.grad is not None)
    for name, parameter in theirs.named_parameters():
        if name not in never_called:  # modules their forward never calls are buffers in the zoo
            torch.testing.assert_close(own[from_authors({name: 0}).popitem()[0]].grad, parameter.grad,
                                       rtol=1e-4, atol=1e-5 * scale, msg=lambda m: f"{name}: {m}")
    assert all(any(part in name for part in ("norm1", "norm2", "talking_heads")) for name in never_called)
    assert set(own) == set(from_authors({n: 0 for n, _ in theirs.named_parameters() if n not in never_called}))

    theirs.load_state_dict(to_authors(ours.state_dict()), strict=True)  # the same running statistics
    sj.functional.reset_net(theirs)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), authors_output(theirs, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 2])
def test_spikformer_cifar_computes_what_the_authors_cifar_code_does(depth):
    torch.manual_seed(depth)
    ours = randomise_batch_norms(zoo.create_model("spikformer_4_384", embed_dim=32, depth=depth, num_heads=2, T=2))
    theirs = authors_spikformer("cifar", embed_dim=32, depth=depth, num_heads=2, T=2)
    check_same_function(ours, theirs, torch.rand(2, 3, 32, 32))


def test_spikformer_imagenet_computes_what_the_authors_imagenet_code_does():
    torch.manual_seed(0)
    ours = randomise_batch_norms(zoo.create_model("spikformer_8_512", embed_dim=32, depth=2, num_heads=2,
                                                  num_classes=10, input_size=(64, 64)))  # T=4, fixed in theirs
    theirs = authors_spikformer("imagenet", embed_dim=32, depth=2, num_heads=2, size=64)
    check_same_function(ours, theirs, torch.rand(2, 3, 64, 64))  # 4x4 tokens


@pytest.mark.parametrize("arch, pooling, mlp_ratio", [("sdt_2_512", "0011", 4), ("sdt_8_512", "1111", 4),
                                                      ("sdt_2_512", "0011", 1)])  # ratio 1: their MLP's res
def test_spike_driven_transformer_computes_what_the_authors_code_does(arch, pooling, mlp_ratio):
    torch.manual_seed(1)
    size = 32 if pooling == "0011" else 64  # 8x8 or 4x4 tokens
    ours = randomise_batch_norms(zoo.create_model(arch, embed_dim=32, depth=2, num_heads=2, T=2, num_classes=10,
                                                  input_size=(size, size), mlp_ratio=mlp_ratio))
    assert ours.patch_embed.pooling == pooling
    theirs = authors_sdt(embed_dim=32, depth=2, num_heads=2, pooling=pooling, T=2, mlp_ratio=mlp_ratio, size=size)
    check_same_function(ours, theirs, torch.rand(2, 3, size, size))


def test_the_sequence_input_gives_what_the_authors_get_from_repeated_images():
    """``[T, B, C, H, W]`` runs the stem at every step (no static stem): still their function."""
    torch.manual_seed(2)
    ours = randomise_batch_norms(zoo.create_model("spikformer_4_384", embed_dim=32, depth=1, num_heads=2, T=2))
    theirs = authors_spikformer("cifar", embed_dim=32, depth=1, num_heads=2, T=2)
    theirs.load_state_dict(to_authors(ours.state_dict()))
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(ours(x.expand(2, *x.shape)), theirs(x), rtol=1e-5, atol=1e-5)


# Parameter counts in the papers' tables, in millions as printed (two decimals). Sources:
# - Spikformer: Zhou et al., ICLR 2023, the CIFAR table (Spikformer-4-256 4.15M, -2-384 5.76M, -4-384 9.32M;
#   one count for CIFAR-10 and CIFAR-100, that of the 10-class head) and the ImageNet table (-8-384 16.81M,
#   -6-512 23.37M, -8-512 29.68M, -10-512 36.01M, -8-768 66.34M).
# - Spike-driven Transformer: Yao et al., NeurIPS 2023, the ImageNet table (8-384, 6-512, 8-512, 10-512, 8-768:
#   the same counts as Spikformer's, their layers having the same tensors) and the CIFAR table (2-512 10.28M,
#   the count with CIFAR-100's 100-class head; 10.23M with 10 classes). The 16.81M, 29.68M and 66.34M models are
#   also listed so in the Spikingformer README (TheBrainLab/Spikingformer), which reuses the architecture; the
#   papers' PDFs were not reachable from the machines these tests were written on, the other values are as
#   their tables are quoted elsewhere.
# The tables neither count the LayerNorms the Spikformer code builds and never calls nor the Spike-driven
# Transformer's uncalled talking_heads conv (with them 8-768 would be 66.36M), and they round inconsistently
# (16.816M printed 16.81, 66.3386M printed 66.34), so a count matches when it is within 0.01M.
# sdt_2_256 is a configuration file of the authors' repository (conf/cifar10/2_256_300E_t4.yml) with no count in
# the papers' tables, so it has none here; the parity tests cover its layers.
PAPER_PARAMS = {
    ("spikformer_4_256", 10): 4.15, ("spikformer_2_384", 10): 5.76, ("spikformer_4_384", 10): 9.32,
    ("spikformer_8_384", 1000): 16.81, ("spikformer_6_512", 1000): 23.37, ("spikformer_8_512", 1000): 29.68,
    ("spikformer_10_512", 1000): 36.01, ("spikformer_8_768", 1000): 66.34,
    ("sdt_2_512", 100): 10.28,
    ("sdt_8_384", 1000): 16.81, ("sdt_6_512", 1000): 23.37, ("sdt_8_512", 1000): 29.68,
    ("sdt_10_512", 1000): 36.01, ("sdt_8_768", 1000): 66.34,
}


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("arch, classes", sorted(PAPER_PARAMS))
def test_parameter_counts_equal_the_papers_tables(arch, classes):
    assert abs(count(zoo.create_model(arch, num_classes=classes)) / 1e6 - PAPER_PARAMS[arch, classes]) < 0.01


def _authors_at_full_size(model: nn.Module) -> nn.Module:
    dim, depth, heads = model.patch_embed.rpe_conv.in_channels, len(model.block), model.block[0].attn.num_heads
    size = model.input_size[0]
    if isinstance(model, Spikformer):
        return authors_spikformer(model.variant, dim, depth, heads, num_classes=model.num_classes, size=size)
    return authors_sdt(dim, depth, heads, model.patch_embed.pooling, num_classes=model.num_classes, size=size)


@pytest.mark.parametrize("arch", zoo.list_models("spikformer_*") + zoo.list_models("sdt_*"))
def test_every_named_configuration_has_the_authors_tensors(arch):
    """Each builder's network holds exactly the tensors of the authors' network of that configuration:
    the parameters they call, and their uncalled LayerNorms/talking_heads as buffers."""
    ours = zoo.create_model(arch)
    theirs = _authors_at_full_size(ours)
    assert {k: v.shape for k, v in to_authors(ours.state_dict()).items()} == \
           {k: v.shape for k, v in theirs.state_dict().items()}
    uncalled = sum(p.numel() for n, p in theirs.named_parameters() if "norm" in n or "talking_heads" in n)
    assert count(ours) == count(theirs) - uncalled


def _save_authors_checkpoint(theirs: nn.Module, path, rename_head: bool) -> None:
    """As timm's CheckpointSaver writes it, with the training script's ``args`` namespace."""
    state = theirs.state_dict()
    torch.save({"epoch": 3, "arch": "spikformer", "state_dict": from_authors(state) if rename_head else state,
                "version": 2, "args": argparse.Namespace(lr=1e-3, T=2)}, path)


FAMILIES = {
    "spikformer": (lambda: authors_spikformer("cifar", embed_dim=32, depth=1, num_heads=2, T=2),
                   lambda: zoo.create_model("spikformer_4_384", embed_dim=32, depth=1, num_heads=2, T=2)),
    "sdt": (lambda: authors_sdt(embed_dim=32, depth=1, num_heads=2, pooling="0011", T=2),
            lambda: zoo.create_model("sdt_2_512", embed_dim=32, depth=1, num_heads=2, T=2)),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_authors_checkpoint_loads_through_load_weights_with_its_head_named_fc(tmp_path, family):
    torch.manual_seed(3)
    make_theirs, make_ours = FAMILIES[family]
    theirs = randomise_batch_norms(make_theirs()).eval()
    _save_authors_checkpoint(theirs, tmp_path / "checkpoint.pth.tar", rename_head=True)
    ours = zoo.load_weights(make_ours(), tmp_path / "checkpoint.pth.tar").eval()
    for key, value in to_authors(ours.state_dict()).items():  # every tensor, the uncalled ones included
        assert torch.equal(value, theirs.state_dict()[key]), key
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), authors_output(theirs, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_authors_checkpoint_loads_through_load_weights_as_saved(tmp_path, family):
    """Their read-out is ``head``, and their training scripts save their argparse arguments beside it."""
    torch.manual_seed(4)
    make_theirs, make_ours = FAMILIES[family]
    theirs = randomise_batch_norms(make_theirs()).eval()
    _save_authors_checkpoint(theirs, tmp_path / "checkpoint.pth.tar", rename_head=False)
    ours = zoo.load_weights(make_ours(), tmp_path / "checkpoint.pth.tar").eval()
    assert torch.equal(ours.fc.weight, theirs.head.weight)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), authors_output(theirs, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", zoo.list_models("spikformer_*") + zoo.list_models("sdt_*"))
def test_every_builder_takes_one_channel_28x28_images(arch):
    """Fashion-MNIST: the CIFAR configurations pool 28 -> 14 -> 7 (7x7 tokens), the ImageNet ones
    28 -> 14 -> 7 -> 4 -> 2 (each 3x3/2 pool with padding 1 gives ceil(H / 2))."""
    model = zoo.create_model(arch, in_channels=1, num_classes=10, input_size=(28, 28), T=2, embed_dim=16, depth=1,
                             num_heads=2)
    assert model.T == 2 and model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert model.forward_steps(torch.rand(2, 2, 1, 28, 28)).shape == (2, 2, 10)


def test_a_wrong_input_shape_names_the_expected_one():
    model = zoo.create_model("spikformer_4_384", embed_dim=16, depth=1, num_heads=2)
    with pytest.raises(ValueError, match=r"Spikformer expects input of shape \[B, 3, 32, 32\] or "
                                         r"\[T, B, 3, 32, 32\], got \[2, 3, 28, 28\]"):
        model(torch.rand(2, 3, 28, 28))
    model = zoo.create_model("sdt_2_512", embed_dim=16, depth=1, num_heads=2, in_channels=1, input_size=(28, 28))
    with pytest.raises(ValueError, match=r"SpikeDrivenTransformer expects input of shape \[B, 1, 28, 28\] or "
                                         r"\[T, B, 1, 28, 28\], got \[4, 2, 3, 28, 28\]"):
        model(torch.rand(4, 2, 3, 28, 28))


def test_widths_that_do_not_split_are_refused():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        zoo.create_model("spikformer_4_384", embed_dim=40, num_heads=3)
    with pytest.raises(ValueError, match="divisible by 8"):
        SpikeDrivenTransformer(embed_dim=36, num_heads=2)


def _binary(*shape, p=0.3):
    return (torch.rand(*shape) < p).float()


def test_attention_accumulates_count_every_product_of_spikes_once():
    """Against loops over every (query, key, channel) triple of one head."""
    from zoo.models.spikformer import ConvSSA, TokenSSA, lif_factory

    torch.manual_seed(0)
    token = TokenSSA(8, num_heads=1, new_neuron=lif_factory())
    q, k, v = _binary(1, 1, 5, 8), _binary(1, 1, 5, 8), _binary(1, 1, 5, 8)
    scores = q[0, 0] @ k[0, 0].T
    expected = sum(int(q[0, 0, n, d] * k[0, 0, m, d]) for n in range(5) for m in range(5) for d in range(8)) + \
        sum(int(scores[n, m] != 0 and v[0, 0, m, d] != 0) for n in range(5) for m in range(5) for d in range(8))
    assert token.attention_operations(q, k, v) == (expected, 2 * 5 * 5 * 8)
    conv = ConvSSA(8, num_heads=1, new_neuron=lif_factory())
    qc, kc, vc = (s.transpose(-1, -2) for s in (q, k, v))  # its neurons fire [T, B, C, N]
    kv = k[0, 0].T @ v[0, 0]
    expected = sum(int(k[0, 0, n, d] * v[0, 0, n, e]) for n in range(5) for d in range(8) for e in range(8)) + \
        sum(int(q[0, 0, n, d] != 0 and kv[d, e] != 0) for n in range(5) for d in range(8) for e in range(8))
    assert conv.attention_operations(qc, kc, vc) == (expected, 2 * 5 * 8 * 8)


@pytest.mark.parametrize("arch", ["spikformer_4_384", "sdt_2_512"])
def test_activity_counts_the_attention_as_synaptic_operations(arch, monkeypatch):
    from zoo.train.activity import ActivityMonitor

    torch.manual_seed(0)
    model = zoo.create_model(arch, embed_dim=16, depth=2, num_heads=2, T=2).eval()
    x = torch.rand(3, 3, 32, 32)
    attention = type(model.block[0].attn)
    reports = []
    for operations in ((0.0, 0.0), (600.0, 60.0)):
        monkeypatch.setattr(attention, "attention_operations", lambda self, q, k, v, ops=operations: ops)
        with torch.no_grad(), ActivityMonitor(model) as monitor:
            model(x)
        reports.append(monitor.report())
    # two blocks, each 600 accumulates and 60 MACs over the batch's 3 images and 2 steps: per image 400
    # accumulates, and 20 MACs for the ANN that runs once
    without, counted = reports
    assert counted.synops - without.synops == pytest.approx(400.0)
    assert counted.ann_macs - without.ann_macs == pytest.approx(20.0)


def test_token_batch_norm_on_rows_equals_the_authors_transposed_batch_norm():
    """The rows form keeps the authors' statistics: outputs, input gradients and running averages."""
    from zoo.models.spikformer import TokenSSA
    torch.manual_seed(0)
    linear, ours, theirs = nn.Linear(16, 16), nn.BatchNorm1d(16), nn.BatchNorm1d(16)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 4, 5, 16, requires_grad=True)
    y_ours = TokenSSA.linear_bn(linear, ours, x)
    grad_ours, = torch.autograd.grad(y_ours.pow(2).sum(), x)
    T, B, N, C = x.shape
    y_theirs = theirs(linear(x).reshape(T * B, N, C).transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C)
    grad_theirs, = torch.autograd.grad(y_theirs.pow(2).sum(), x)
    torch.testing.assert_close(y_ours, y_theirs)
    torch.testing.assert_close(grad_ours, grad_theirs)
    for name, buffer in theirs.named_buffers():
        torch.testing.assert_close(dict(ours.named_buffers())[name], buffer)


# ------------------------------------------------------------------------------------------------------------
# SpikingJelly 2.x's own Spikformer (spikingjelly.activation_based.model.spikformer): the zoo's tensors, one for
# one, but its patch stem max-pools each pooled stage's batch-norm output before the stage's LIF, where the
# authors' code (and the zoo's default) max-pools the spikes after it. Its state dicts load into a Spikformer
# built with pool_before_neuron=True (zoo/hub/spikingjelly2_layout.py) and are refused by any other.

needs_spikingjelly2 = pytest.mark.skipif(spikingjelly_major() < 2,
                                         reason="SpikingJelly 2.x's spikformer_* (the 2.x test environment)")

# SpikingJelly 2.x's builder: its arguments, then the zoo Spikformer of the same depth, width, heads, pools and T
SPIKINGJELLY2_SPIKFORMERS = {
    "spikformer_cifar10": ({}, lambda **kw: zoo.create_model("spikformer_4_384", **kw)),
    "spikformer_ti": ({"img_size_h": 64, "img_size_w": 64},  # 4x4 tokens of its patch size 16
                      lambda **kw: Spikformer(num_classes=1000, input_size=(64, 64), embed_dim=256, depth=4,
                                              num_heads=8, variant="imagenet", **kw)),
    "spikformer_s": ({"img_size_h": 64, "img_size_w": 64},
                     lambda **kw: Spikformer(num_classes=1000, input_size=(64, 64), embed_dim=384, depth=6,
                                             num_heads=12, variant="imagenet", **kw)),
}


def spikingjelly2_spikformer(name: str) -> nn.Module:
    """SpikingJelly 2.x's ``name`` with random weights and batch-norms, in evaluation mode."""
    from spikingjelly.activation_based.model import spikformer

    torch.manual_seed(5)
    return randomise_batch_norms(getattr(spikformer, name)(**SPIKINGJELLY2_SPIKFORMERS[name][0])).eval()


@needs_spikingjelly2
@pytest.mark.parametrize("name", sorted(SPIKINGJELLY2_SPIKFORMERS))
def test_a_spikingjelly2_spikformer_state_dict_loads_and_computes_what_spikingjelly_does(tmp_path, name):
    """Saved from SpikingJelly 2.x and loaded with ``zoo.load_weights`` into the zoo's Spikformer of the same
    configuration pooling as SpikingJelly does: the same outputs at every step, the attention firing."""
    theirs = spikingjelly2_spikformer(name)
    torch.save(theirs.state_dict(), tmp_path / f"{name}.pth")
    ours = zoo.load_weights(SPIKINGJELLY2_SPIKFORMERS[name][1](pool_before_neuron=True), tmp_path / f"{name}.pth").eval()
    size = ours.input_size[0]
    x = torch.rand(2, 3, size, size)
    rates = {}
    hooks = [module.register_forward_hook(lambda m, i, o, layer=layer: rates.__setitem__(layer, float(o.mean())))
             for layer, module in ours.named_modules() if layer.endswith("attn_lif")]
    with torch.no_grad():
        expected = ours.forward_steps(x)  # [T, B, classes]; the zoo resets its neurons itself
        for hook in hooks:
            hook.remove()
        sj.functional.reset_net(theirs)
        assert expected.shape == (4, 2, ours.num_classes)
        assert len(rates) == len(ours.block) and all(0 < rate < 1 for rate in rates.values()), rates  # it fires
        assert expected.mean(0).std(dim=0).abs().max() > 1e-3  # the two images give different logits
        torch.testing.assert_close(expected, theirs(x), rtol=1e-5, atol=1e-5)  # SpikingJelly's read-out is per step
        default = zoo.load_weights(SPIKINGJELLY2_SPIKFORMERS[name][1](pool_before_neuron=True), tmp_path / f"{name}.pth")
        default.patch_embed.pool_before_neuron = False  # the same tensors pooled as the authors pool: another function
        assert (default.eval().forward_steps(x) - expected).abs().max() > 1e-2


@needs_spikingjelly2
@pytest.mark.parametrize("name, make_ours, message", [
    ("spikformer_cifar10", SPIKINGJELLY2_SPIKFORMERS["spikformer_cifar10"][1],  # pools after its neurons
     "max-pools the batch-norm output before each pooled stage's LIF: load it into a Spikformer built with "
     "pool_before_neuron=True"),
    ("spikformer_ti", lambda: zoo.create_model("spikformer_4_384", pool_before_neuron=True),  # another width
     "spikformer_ti.pth does not fit Spikformer: wrong shape patch_embed.proj_conv.weight"),
])
def test_a_spikingjelly2_spikformer_state_dict_that_does_not_fit_is_one_line(tmp_path, name, make_ours, message):
    torch.save(spikingjelly2_spikformer(name).state_dict(), tmp_path / f"{name}.pth")
    with pytest.raises(zoo.errors.WeightsError, match=message) as error:
        zoo.load_weights(make_ours(), tmp_path / f"{name}.pth")
    assert "\n" not in str(error.value)


@needs_spikingjelly2
def test_a_spikingjelly2_spikformer_state_dict_without_its_head_names_what_is_missing(tmp_path):
    state = {k: v for k, v in spikingjelly2_spikformer("spikformer_cifar10").state_dict().items()
             if not k.startswith("head.")}
    torch.save({**state, "extra.buffer": torch.zeros(3)}, tmp_path / "stripped.pth")
    with pytest.raises(zoo.errors.WeightsError, match="missing fc.weight, fc.bias; unexpected extra.buffer$"):
        zoo.load_weights(zoo.create_model("spikformer_4_384", pool_before_neuron=True), tmp_path / "stripped.pth")


def test_pooling_before_the_neuron_pools_the_batch_norm_output_of_each_pooled_stage():
    """``pool_before_neuron`` moves each pooled SPS stage's max-pool from the spikes to the batch-norm output
    (the stem's too: a static stem still sees the image once), and changes nothing else."""
    torch.manual_seed(0)
    after = randomise_batch_norms(Spikformer(num_classes=3, in_channels=1, input_size=(16, 16), embed_dim=32,
                                             depth=1, num_heads=4, variant="imagenet")).eval()
    before = Spikformer(num_classes=3, in_channels=1, input_size=(16, 16), embed_dim=32, depth=1, num_heads=4,
                        variant="imagenet", pool_before_neuron=True).eval()
    before.load_state_dict(after.state_dict())
    sps, x = before.patch_embed, torch.rand(4, 2, 1, 16, 16)
    with torch.no_grad():
        current = sps.proj_bn(sps.proj_conv(x))
        torch.testing.assert_close(sps.stem(x), sps.maxpool(current))
        torch.testing.assert_close(after.patch_embed.stem(x), current)
        sj.functional.reset_net(before)
        spikes = sps.stage(1, sps.proj_lif(sps.maxpool(current)))
        sj.functional.reset_net(before)
        lif, pool = sps.proj_lif1, sps.maxpool1
        torch.testing.assert_close(spikes, lif(pool(sps.proj_bn1(sps.proj_conv1(sps.proj_lif(sps.maxpool(current)))))))
        assert 0 < spikes.mean() < 1
        assert not torch.equal(before.forward_steps(x[0]), after.forward_steps(x[0]))
