"""Shipped weights: safetensors files with JSON cards, found in the order of DESIGN section 5
(``$ZOO_WEIGHTS``, the repo's ``weights/``, the torch hub cache, then the card's ``url``) and checked
against the card's sha256 on every load."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes

from ..errors import UnknownModelError, WeightsError
from .download import fetch
from ..errors import suggest
from .registry import matches, model_entry

log = logging.getLogger("zoo")

REPO_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
STATIC_DATASETS = ("fashion-mnist", "mnist", "cifar10", "imagenet")  # the others are event data

__all__ = ["Weights", "get_weights", "list_weights", "weight_dirs", "load_state_dict", "load_into",
           "sha256_of", "weight_filename"]


@dataclass(frozen=True)
class Weights:
    """A shipped weight: ``name`` is ``arch.tag``, ``meta`` its card, ``card_path`` where the card is."""

    name: str
    meta: Mapping = field(repr=False)
    card_path: Path

    @property
    def arch(self) -> str:
        return self.meta["arch"]

    @property
    def filename(self) -> str:
        return self.meta["file"]

    @property
    def classes(self) -> list[str] | None:
        """The class names, in the order of the model's outputs (None on cards written before they were
        recorded)."""
        return self.meta.get("classes")

    def transforms(self) -> Callable:
        """What turns an image (PIL, uint8 or float tensor, NumPy array) into the model's input: a float
        tensor in [0, 1] of the card's input shape (channels converted, resized). No mean/std: the models
        normalise inside. Event-data weights take frame sequences instead (``zoo events-to-frames``)."""
        from torchvision.transforms import v2

        if self.meta["dataset"] not in STATIC_DATASETS:
            raise ValueError(f"{self.name} takes event frames [T, B, C, H, W], not images; make them with "
                             f"python -m zoo events-to-frames")
        channels, height, width = self.meta["input_shape"]
        steps = [v2.ToImage()]
        if channels in (1, 3):
            steps.append(v2.Grayscale(1) if channels == 1 else v2.RGB())
        steps += [v2.Resize((height, width), antialias=True), v2.ToDtype(torch.float32, scale=True)]
        return v2.Compose(steps)

    def pretrained_cfg(self) -> dict:
        """timm's ``pretrained_cfg``: what a user needs to feed and read the model, from the card."""
        card = self.meta
        return {"architecture": card["arch"], "tag": card["tag"], "file": card["file"], "sha256": card["sha256"],
                "url": card.get("url", ""), "license": card.get("license"), "num_classes": len(card.get("classes") or []),
                "classes": card.get("classes"), "input_size": tuple(card.get("input_shape") or ()), "T": card.get("T"),
                "dataset": card.get("dataset"), "acc1": (card.get("metrics") or {}).get("acc1"),
                "normalisation": card.get("normalisation"), "paper": (card.get("paper") or {}).get("title")}

    def file_path(self) -> Path:
        """The local weight file (beside its card first, then in the search order), downloading it
        from the card's ``url`` as a last resort."""
        for folder in dict.fromkeys([self.card_path.parent, *file_dirs()]):
            candidate = folder / self.filename
            if candidate.is_file():
                return candidate
        url = self.meta.get("url")
        if not url:
            searched = ", ".join(str(d) for d in file_dirs())
            raise WeightsError(f"weight file {self.filename} for {self.name} not found in {searched}, "
                               f"and its card has no url")
        return download(url, self.filename, self.meta["sha256"])


def weight_filename(arch: str, tag: str, sha256: str) -> str:
    return f"{arch}.{tag}-{sha256[:8]}.safetensors"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hub_cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_dirs() -> list[Path]:
    """Folders that hold cards: ``$ZOO_WEIGHTS`` first, then the repo's ``weights/``."""
    dirs = [Path(p) for p in os.environ.get("ZOO_WEIGHTS", "").split(os.pathsep) if p]
    return dirs + [REPO_WEIGHTS]


def file_dirs() -> list[Path]:
    return weight_dirs() + [hub_cache_dir()]


def read_card(path: Path) -> dict:
    """The card at ``path``, with the keys every card has; a one-line ``WeightsError`` otherwise."""
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise WeightsError(f"weight card {path} is unreadable: {error}") from None
    missing = {"arch", "tag", "file", "sha256", "kwargs"} - card.keys()
    if missing:
        raise WeightsError(f"weight card {path} lacks {', '.join(sorted(missing))}")
    return card


def _cards() -> dict[str, tuple[Path, dict]]:
    """``arch.tag`` -> (card path, card); an earlier folder shadows a later one."""
    found: dict[str, tuple[Path, dict]] = {}
    for folder in reversed(weight_dirs()):
        for path in sorted(folder.glob("*.json")):
            card = read_card(path)
            found[f"{card['arch']}.{card['tag']}"] = (path, card)
    return found


def list_weights(pattern: str | None = None) -> list[str]:
    """``arch.tag`` names of every weight with a card (optionally filtered: a substring, or a glob)."""
    return sorted(n for n in _cards() if matches(n, pattern))


def get_weights(name: str) -> Weights:
    """The card of ``arch.tag``, or of the arch's default weight when only ``arch`` is given."""
    arch, _, tag = name.partition(".")
    model_entry(arch)  # unknown architectures fail with suggestions
    cards = _cards()
    if tag:
        if name not in cards:
            raise UnknownModelError(f"no weights named {name!r}{suggest(name, cards)}")
        path, card = cards[name]
        return Weights(name, card, path)
    candidates = sorted((n, c) for n, c in cards.items() if n.split(".")[0] == arch)
    if not candidates:
        raise UnknownModelError(f"model {arch!r} has no pretrained weights yet "
                                f"(`python -m zoo list --pretrained` shows those that do)")
    rank = {folder: i for i, folder in enumerate(weight_dirs())}  # $ZOO_WEIGHTS's default comes first
    defaults = sorted(((n, c) for n, c in candidates if c[1].get("default")),
                      key=lambda item: (rank.get(item[1][0].parent, len(rank)), item[0]))
    chosen, (path, card) = (defaults or candidates)[0]
    return Weights(chosen, card, path)


def download(url: str, filename: str, sha256: str) -> Path:
    """Fetch ``url`` into the hub cache, verified against the card's hash before it is used."""
    return fetch(url, hub_cache_dir() / filename, sha256)


def load_state_dict(weights: Weights) -> dict[str, torch.Tensor]:
    """Read and verify a weight file: its sha256 must equal the card's, and it must parse."""
    path = weights.file_path()
    data = path.read_bytes()
    expected_size = weights.meta.get("file_size")
    if expected_size is not None and len(data) != expected_size:
        raise WeightsError(f"weight file {path} is truncated or padded: {len(data)} bytes, "
                           f"card says {expected_size}")
    digest = sha256_of(data)
    if digest != weights.meta["sha256"]:
        raise WeightsError(f"weight file {path} is corrupt: sha256 {digest[:16]}... does not match "
                           f"the card's {weights.meta['sha256'][:16]}...")
    try:
        return load_safetensors_bytes(data)
    except (SafetensorError, ValueError) as error:
        raise WeightsError(f"weight file {path} is not valid safetensors: {error}") from None


def adapt_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Make ``state`` fit ``model`` when only its stem's input channels or head's classes differ.

    The head is left at the model's fresh initialisation; the stem's kernel is summed over input
    channels and spread evenly over the new ones (timm's ``adapt_input_conv``)."""
    own = model.state_dict()
    stem, head = getattr(model, "stem", ""), getattr(model, "head", "")
    adapted = dict(state)
    for key, tensor in state.items():
        if key not in own or own[key].shape == tensor.shape:
            continue
        if head and key.startswith(head + "."):
            adapted[key] = own[key]
            log.info("head %s reinitialised: %s -> %s", key, tuple(tensor.shape), tuple(own[key].shape))
        elif stem and key == f"{stem}.weight" and tensor.dim() == 4 and tensor.shape[0] == own[key].shape[0]:
            new_in = own[key].shape[1]
            adapted[key] = tensor.sum(dim=1, keepdim=True).repeat(1, new_in, 1, 1) / new_in
            log.info("stem %s adapted from %d to %d input channels", key, tensor.shape[1], new_in)
    return adapted


def load_into(model: torch.nn.Module, weights: Weights) -> None:
    """Load verified weights into ``model``, adapting stem/head; any other mismatch is an error."""
    state = adapt_state_dict(model, load_state_dict(weights))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise WeightsError(f"weights {weights.name} do not fit {type(model).__name__}: "
                           f"{' '.join(first[:3])[:300]}") from None
