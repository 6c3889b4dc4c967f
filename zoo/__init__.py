"""Spiking model zoo: pretrained spiking neural networks on SpikingJelly."""
from .runtime import prefer_passive_openmp

prefer_passive_openmp()  # before torch loads its OpenMP runtime: waiting threads sleep on a shared machine

from . import conversion, models  # noqa: E402,F401  (the families register themselves)
from .hub import Weights, create_model, get_weights, list_models, list_weights, load_weights, register_model

__version__ = "0.1.0"


def load_dataset(*args, **kwargs):
    """See :func:`zoo.data.load_dataset` (imported lazily to keep ``import zoo`` light)."""
    from .data import load_dataset as _load_dataset

    return _load_dataset(*args, **kwargs)


__all__ = ["Weights", "create_model", "get_weights", "list_models", "list_weights", "load_dataset",
           "load_weights", "register_model", "__version__"]
