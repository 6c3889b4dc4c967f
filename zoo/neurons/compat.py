"""The one place that hides which SpikingJelly line is installed (0.0.0.0.14, with the CuPy multi-step
kernels the GPU path is built on, or the current 2.x), and the work-arounds for 0.0.0.0.14 on current
numpy and torch.

* ``np.int``/``np.bool`` (removed in numpy 1.24) are used on SpikingJelly's CuPy path and in its
  CIFAR10-DVS parser; ``np.fromstring`` on binary data is gone in numpy 2. Instead of touching numpy
  itself, the affected SpikingJelly modules get a numpy stand-in that adds the old names back.
* Importing SpikingJelly decorates many functions with ``torch.jit.script``, which current torch
  reports with a ``FutureWarning`` per function; those warnings say nothing to a zoo user.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import types
import logging
import warnings

import numpy as np

__all__ = ["LegacyNumpy", "import_spikingjelly", "init_surrogate", "patch_cifar10_dvs", "spikingjelly_major"]


class LegacyNumpy(types.ModuleType):
    """numpy, plus the aliases SpikingJelly 0.0.0.0.14 still calls."""

    int = int
    bool = bool
    float = float

    def __init__(self) -> None:
        super().__init__("numpy")

    def __getattr__(self, name: str):
        return getattr(np, name)

    @staticmethod
    def fromstring(data, dtype=float, count=-1, sep=""):
        if sep:
            return np.fromstring(data, dtype=dtype, count=count, sep=sep)
        return np.frombuffer(data, dtype=dtype, count=count).copy()


_LEGACY_NUMPY = LegacyNumpy()
_CORE_MODULES = (
    "spikingjelly.activation_based.surrogate",
    "spikingjelly.activation_based.neuron",
    "spikingjelly.activation_based.functional",
    "spikingjelly.activation_based.layer",
)


def _no_missing_cupy(record: logging.LogRecord) -> bool:
    """SpikingJelly logs at INFO, on the root logger, each of its modules that finds no CuPy: five lines
    that a CPU user's ``logging.basicConfig(level=logging.INFO)`` would print at every import."""
    return "No module named 'cupy'" not in record.getMessage()


def import_spikingjelly() -> types.ModuleType:
    """Import SpikingJelly's activation-based API once, quietly, with the numpy fixes applied."""
    root = logging.getLogger()
    root.addFilter(_no_missing_cupy)
    try:
        _import_core()
    finally:
        root.removeFilter(_no_missing_cupy)
    return importlib.import_module("spikingjelly.activation_based")


def _import_core() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*TorchScript.*")
        for name in _CORE_MODULES:
            importlib.import_module(name)
        if spikingjelly_major() == 0:  # 2.x has no auto_cuda (its CUDA path is triton)
            auto_cuda_base = importlib.import_module("spikingjelly.activation_based.auto_cuda.base")
            auto_cuda_base.np = _LEGACY_NUMPY


def init_surrogate(module, alpha: float, spiking: bool) -> None:
    """``SurrogateFunctionBase.__init__`` on either line: 0.0.0.0.14 takes ``(alpha, spiking)``, 2.x
    ``(spiking, **parameters)``; both then call ``spiking_function(x, alpha)``."""
    base = importlib.import_module("spikingjelly.activation_based.surrogate").SurrogateFunctionBase
    if spikingjelly_major() >= 2:
        base.__init__(module, spiking=spiking, alpha=alpha)
    else:
        base.__init__(module, alpha, spiking)


@functools.lru_cache(maxsize=1)
def spikingjelly_major() -> int:
    """0 for the 0.0.0.0.x line, 2 for 2.x."""
    return int(importlib.metadata.version("spikingjelly").split(".")[0])


def patch_cifar10_dvs() -> types.ModuleType:
    """Return SpikingJelly's CIFAR10-DVS module with its AEDAT parser working on numpy 2."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        module = importlib.import_module("spikingjelly.datasets.cifar10_dvs")
    module.np = _LEGACY_NUMPY
    return module
