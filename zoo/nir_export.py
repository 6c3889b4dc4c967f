"""Deprecated: ``zoo.nir_export`` moved to :mod:`zoo.nir.export`; this alias will be removed."""
import warnings

from .nir import export as _moved

warnings.warn("zoo.nir_export is deprecated: import from zoo.nir.export", DeprecationWarning, stacklevel=2)


def __getattr__(name: str):
    return getattr(_moved, name)
