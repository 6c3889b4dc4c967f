"""Checkpoints written atomically (see :mod:`zoo.atomic`): a kill at any moment leaves the last
complete checkpoint, and the one before it, readable."""
from __future__ import annotations

from pathlib import Path

import torch

from ..atomic import atomic_open
from ..errors import ZooError, first_sentence


def save_atomic(obj, path: Path) -> None:
    """``torch.save`` atomically, keeping the checkpoint it replaces as ``*.prev.pt``."""
    with atomic_open(path, keep_previous=path.with_suffix(".prev.pt")) as handle:
        torch.save(obj, handle)


def load_checkpoint(path: str | Path) -> dict:
    """Load ``path``; if it is damaged, fall back to the previous checkpoint beside it."""
    path = Path(path)
    errors = []
    for candidate in (path, path.with_suffix(".prev.pt")):
        if not candidate.is_file():
            continue
        try:
            return torch.load(candidate, map_location="cpu", weights_only=True)
        except Exception as error:  # a torn or corrupt file: try the previous one
            errors.append(f"{candidate.name}: {first_sentence(error)}")
    detail = "; ".join(errors) if errors else "no checkpoint file"
    raise ZooError(f"no usable checkpoint at {path} ({detail})")


def load_run_checkpoint(path: str | Path) -> dict:
    """A zoo training run's checkpoint (its recipe and weights, what ``zoo publish`` and ``zoo convert`` read);
    any other torch file is refused in one line."""
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not {"config", "model"} <= state.keys():
        raise ZooError(f"{path} is not a zoo training checkpoint (it holds no recipe and model state): give a run's "
                       f"checkpoints/best.pt, or load other weights with zoo.load_weights(model, path)")
    return state


def model_from_checkpoint(state: dict, num_classes: int | None = None) -> torch.nn.Module:
    """The network a run's checkpoint (from :func:`load_checkpoint`) holds: rebuilt from its recipe's model
    entry, loaded, in evaluation mode. ``num_classes`` where the recipe leaves it to the dataset."""
    from ..hub.factory import create_model  # the hub imports this module

    model_cfg = state["config"]["model"]
    kwargs = {**({"num_classes": num_classes} if num_classes is not None else {}), **model_cfg["kwargs"]}
    model = create_model(model_cfg["name"].partition(".")[0], **kwargs)
    model.load_state_dict(state["model"])
    return model.eval()
