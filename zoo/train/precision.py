"""Mixed precision for training (``train.amp``): true, false or ``auto``.

On CUDA, autocast runs float16 with loss scaling. On a CPU it runs bfloat16, which oneDNN computes natively
only where the CPU has AVX512-BF16 or AMX; elsewhere every bfloat16 convolution is emulated and a step
runs many times slower than in float32 (``python -m zoo bench --suite amp`` on such a CPU). ``auto``
therefore takes mixed precision where it is native and float32 where it is not, so one recipe trains at the
best speed the machine has.
"""
from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

SETTINGS = (True, False, "auto")  # what zoo.train.config accepts for train.amp


def native_cpu_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 on this CPU's own instructions (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def autocast_dtype(setting: bool | str, device: torch.device) -> torch.dtype | None:
    """The dtype ``train.amp`` (one of :data:`SETTINGS`, checked when the recipe loads) autocasts to on
    ``device``, or None for float32."""
    if setting is False:
        return None
    if device.type == "cuda":
        return torch.float16
    if native_cpu_bfloat16():
        return torch.bfloat16
    if setting == "auto":
        log.info("train.amp auto: this CPU has no native bfloat16 (AVX512-BF16/AMX); training in float32")
        return None
    log.warning("train.amp: this CPU has no native bfloat16 (AVX512-BF16/AMX); bfloat16 is emulated and a "
                "step runs many times slower than in float32 (train.amp: auto chooses float32 here)")
    return torch.bfloat16


def precision_name(dtype: torch.dtype | None) -> str:
    """How a run's card names its arithmetic."""
    return "float32" if dtype is None else f"{str(dtype).removeprefix('torch.')} autocast"
