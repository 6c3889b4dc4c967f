"""Loading a user's own weight files into zoo models without running any code from them:
``.safetensors`` directly, ``.pt``/``.pth`` through ``torch.load(weights_only=True)``. Checkpoints
saved by training scripts (SpikingJelly's, torchvision's reference scripts, DDP) are unwrapped."""
from __future__ import annotations

import argparse
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..errors import WeightsError, first_sentence
from .authors_layout import from_authors_layout
from .weights import adapt_state_dict

WRAPPER_KEYS = ("state_dict", "model", "net", "model_state_dict")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weight file; a checkpoint dict is unwrapped (``state_dict``/``model``/``net``
    entries) and DDP's ``module.`` prefix removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, ValueError, OSError) as error:
            raise WeightsError(f"{path} is not valid safetensors: {error}") from None
    try:  # training scripts' argparse arguments (timm's, the spiking transformers') are plain data
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # weights_only refuses anything that would run code
        raise WeightsError(f"{path} holds more than tensors and was not loaded (it could run code): "
                           f"{first_sentence(error)}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise WeightsError(f"{path} is not a readable torch checkpoint (truncated or corrupt?): "
                           f"{first_sentence(error)}") from None
    while isinstance(obj, dict) and not _is_state_dict(obj):
        inner = next((obj[key] for key in WRAPPER_KEYS if isinstance(obj.get(key), dict)), None)
        if inner is None:
            raise WeightsError(f"{path} is a dict without tensors or one of {', '.join(WRAPPER_KEYS)}")
        obj = inner
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict")
    prefix = "module."
    if obj and all(key.startswith(prefix) for key in obj):
        obj = {key[len(prefix):]: value for key, value in obj.items()}
    return obj


def refuse_non_finite(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """A file whose header is intact but whose numbers are not (NaN or infinite entries: a torn write,
    bit rot, a diverged run) is refused with the tensors named, instead of loading silently."""
    bad = [key for key, tensor in state.items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise WeightsError(f"{Path(path).name} holds non-finite numbers (NaN or inf) in {len(bad)} tensor(s): "
                           f"{', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}")


def _is_state_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


@dataclass(frozen=True)
class StateDictDifferences:
    """How a state dict differs from a model's own: keys it lacks and wrong-shaped ones in the model's
    order, keys the model lacks in the state's order."""
    missing: list[str]
    unexpected: list[str]
    wrong_shape: list[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.wrong_shape)


def state_dict_differences(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> StateDictDifferences:
    """What keeps ``state`` from loading into a model whose state dict is ``own``."""
    return StateDictDifferences(missing=[key for key in own if key not in state],
                                unexpected=[key for key in state if key not in own],
                                wrong_shape=[key for key in own if key in state and own[key].shape != state[key].shape])


def load_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    """Load a user's weight file into ``model`` (stem/head adapted as for shipped weights); any
    other mismatch is a :class:`~zoo.errors.WeightsError` naming the first differing keys. The SEW
    authors' released checkpoints are translated to the zoo's names (:mod:`zoo.hub.authors_layout`)."""
    raw = read_state_dict(path)
    refuse_non_finite(raw, path)
    state = adapt_state_dict(model, from_authors_layout(model, raw))
    differences = state_dict_differences(model.state_dict(), state)
    if differences:
        parts = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for label, keys in (("missing", differences.missing), ("unexpected", differences.unexpected),
                                     ("wrong shape", differences.wrong_shape)) if keys]
        raise WeightsError(f"{Path(path).name} does not fit {type(model).__name__}: {'; '.join(parts)}")
    model.load_state_dict(state)
    _warn_about_iand_order(model, path)
    return model


def _warn_about_iand_order(model: torch.nn.Module, path: str | Path) -> None:
    """A checkpoint cannot say which IAND it was trained with; SpikingJelly's Bottleneck swaps it."""
    from ..models.sew_resnet import Bottleneck

    if any(isinstance(m, Bottleneck) and m.cnf == "IAND" and m.iand == "paper" for m in model.modules()):
        warnings.warn(f"{Path(path).name}: this network's IAND blocks compute (1 - A) * S, as the paper; "
                      f"SpikingJelly's sew_resnet50/101/152 compute A * (1 - S), so a checkpoint trained with "
                      f"them needs the model built with iand='spikingjelly'", UserWarning, stacklevel=2)
