"""Deprecated: ``zoo.nir_import`` moved to :mod:`zoo.nir.importer`; this alias will be removed."""
import warnings

from .nir import importer as _moved

warnings.warn("zoo.nir_import is deprecated: import from zoo.nir.importer", DeprecationWarning, stacklevel=2)


def __getattr__(name: str):
    return getattr(_moved, name)
