"""Deprecated: ``zoo.convert`` moved to :mod:`zoo.conversion.pipeline`; this alias will be removed."""
import warnings

from .conversion import pipeline as _moved

warnings.warn("zoo.convert is deprecated: import from zoo.conversion.pipeline", DeprecationWarning, stacklevel=2)


def __getattr__(name: str):
    return getattr(_moved, name)
