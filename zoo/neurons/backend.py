"""The one place that decides which SpikingJelly backend the zoo's neurons run on.

``cupy`` is used for CUDA tensors when a working CuPy is installed (the ``cuda`` extra), ``torch``
otherwise. ``ZOO_BACKEND=torch|cupy`` forces a choice. A CuPy kernel that fails at run time switches
the whole process to ``torch`` with one warning instead of crashing a training run.
"""
from __future__ import annotations

import functools
import os
import warnings

import torch

BACKENDS = ("torch", "cupy")
_cupy_broken = False


@functools.lru_cache(maxsize=1)
def cupy_available() -> bool:
    """True when CuPy imports and can run a kernel on the current CUDA device."""
    if not torch.cuda.is_available():
        return False
    try:
        import cupy

        return int(cupy.arange(3).sum()) == 3
    except Exception:  # any failure means: do not use CuPy
        return False


def forced_backend() -> str | None:
    value = os.environ.get("ZOO_BACKEND", "").strip().lower()
    if not value:
        return None
    if value not in BACKENDS:
        raise ValueError(f"ZOO_BACKEND={value!r} is not one of {', '.join(BACKENDS)}")
    return value


def backend_for(device: torch.device) -> str:
    """Backend for tensors on ``device``: CuPy needs CUDA tensors, so CPU always runs on torch."""
    if device.type != "cuda" or _cupy_broken:
        return "torch"
    forced = forced_backend()
    if forced is not None:
        return forced
    return "cupy" if cupy_available() else "torch"


def disable_cupy(reason: BaseException) -> None:
    """Fall back to torch for the rest of the process, saying so once."""
    global _cupy_broken
    if not _cupy_broken:
        warnings.warn(f"CuPy neuron kernel failed ({reason!r}); using the torch backend from now on",
                      RuntimeWarning, stacklevel=3)
    _cupy_broken = True
