"""Model registry: ``@register_model`` functions by architecture name, timm style."""
from __future__ import annotations

import difflib
import fnmatch
import inspect
import logging
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UnknownModelError

log = logging.getLogger("zoo")

__all__ = ["register_model", "list_models", "create_model", "model_entry", "suggest"]


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


def suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def model_entry(arch: str) -> ModelEntry:
    _import_families()
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


def list_models(pattern: str | None = None, pretrained: bool = False) -> list[str]:
    """Architecture names matching ``pattern`` (a substring, or a glob with ``*?[``); with ``pretrained``
    the ``arch.tag`` names of shipped weights instead."""
    _import_families()
    if pretrained:
        from .weights import list_weights

        names = list_weights()
    else:
        names = sorted(_MODELS)
    return [n for n in names if matches(n, pattern)]


def create_model(name: str, pretrained: bool | str = False, **kwargs) -> torch.nn.Module:
    """Build ``arch`` or ``arch.tag``; with weights when ``pretrained`` or a tag is given.

    ``pretrained=True`` loads the arch's default weight, ``pretrained="tag"`` the weight ``arch.tag``
    (how torch.hub entrypoints, whose names cannot hold the dot, choose among several weights).
    ``kwargs`` override the construction arguments (and those stored in the weight's card). Loading
    weights into a model with another ``num_classes``/``in_channels`` adapts the head/stem.
    """
    arch, _, tag = name.partition(".")
    if isinstance(pretrained, str):
        if tag and tag != pretrained:
            raise ValueError(f"{name!r} names the weight {tag!r} but pretrained={pretrained!r}")
        tag, name = pretrained, f"{arch}.{pretrained}"
    entry = model_entry(arch)
    if not (pretrained or tag):
        model = entry.fn(**kwargs)
        model.pretrained_cfg = {"architecture": arch, "tag": None}
        return model
    from .weights import get_weights, load_into

    weights = get_weights(name)
    model = entry.fn(**{**weights.meta["kwargs"], **kwargs})
    load_into(model, weights)
    model.pretrained_cfg = weights.pretrained_cfg()
    return model


def _import_families() -> None:
    """Model files register themselves on import; importing the package imports them all."""
    from .. import models  # noqa: F401
