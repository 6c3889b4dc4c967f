"""Models by name: ``create_model`` builds an architecture from the registry and, when asked, loads
its weights through the cards (:mod:`zoo.hub.weights`); ``list_models`` lists either."""
from __future__ import annotations

import torch

from .registry import architectures, matches, model_entry
from .weights import get_weights, list_weights, load_into

__all__ = ["create_model", "list_models"]


def list_models(pattern: str | None = None, pretrained: bool = False) -> list[str]:
    """Architecture names matching ``pattern`` (a substring, or a glob with ``*?[``); with ``pretrained``
    the ``arch.tag`` names of shipped weights instead."""
    names = list_weights() if pretrained else architectures()
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
    weights = get_weights(name)
    model = entry.fn(**{**weights.meta["kwargs"], **kwargs})
    load_into(model, weights)
    model.pretrained_cfg = weights.pretrained_cfg()
    return model
