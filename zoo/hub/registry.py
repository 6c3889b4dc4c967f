"""Model registry: ``@register_model`` functions by architecture name, timm style. The families
register themselves when ``zoo`` imports them (:mod:`zoo.models`, :mod:`zoo.conversion`); the registry
imports none of them, and building a model with weights is :mod:`zoo.hub.factory`'s job."""
from __future__ import annotations

import fnmatch
import inspect
import logging
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UnknownModelError, suggest

log = logging.getLogger("zoo")

__all__ = ["register_model", "model_entry", "architectures", "matches", "suggest"]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: Callable[..., torch.nn.Module]
    paper: str

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.fn.__doc__ or "")


_MODELS: dict[str, ModelEntry] = {}


def register_model(fn: Callable | None = None, *, paper: str = ""):
    """Register a model constructor under its function name (usable bare or with ``paper=``)."""

    def wrap(f: Callable) -> Callable:
        if f.__name__ in _MODELS:
            raise ValueError(f"model {f.__name__!r} is registered twice")
        _MODELS[f.__name__] = ModelEntry(f.__name__, f, paper)
        return f

    return wrap(fn) if fn is not None else wrap


def model_entry(arch: str) -> ModelEntry:
    try:
        return _MODELS[arch]
    except KeyError:
        raise UnknownModelError(f"unknown model {arch!r}{suggest(arch, _MODELS)} "
                                f"(`python -m zoo list` shows all)") from None


def matches(name: str, pattern: str | None) -> bool:
    """A plain word matches as a substring (``sew``), a pattern with ``*?[`` as a glob (``sew_*18``)."""
    if pattern is None:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatch(name, pattern)
    return pattern.lower() in name.lower()


def architectures() -> list[str]:
    """Every registered architecture name, sorted."""
    return sorted(_MODELS)
