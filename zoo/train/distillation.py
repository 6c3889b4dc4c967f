"""Knowledge distillation: the student's read-out is pulled towards a frozen, trained teacher's on the same
augmented batch, as DeiT trains its transformers (Touvron et al., ICML 2021).

``soft`` is Hinton et al.'s (2015) temperature-scaled KL divergence between the teacher's and the student's
class distributions, ``tau**2 * KL(softmax(t / tau) || softmax(s / tau))`` per sample (the divergence
proper, averaged over the batch; DeiT's code also divides by the number of classes); ``hard`` is the
cross-entropy against the teacher's class. The recipe's own loss keeps ``1 - alpha`` of the weight:
``(1 - alpha) * loss(O, y) + alpha * distillation``. The student's logits are its firing rates, the mean
read-out over T, as the ``ce`` loss takes them; the teacher may be any zoo weight (an ANN costs one
forward pass a batch)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import RecipeError, ZooError
from ..hub.factory import create_model
from .memory_format import to_channels_last

DISTILLATION_TYPES = ("soft", "hard")


def distillation_loss(steps: torch.Tensor, teacher_logits: torch.Tensor, kind: str = "soft",
                      tau: float = 1.0) -> torch.Tensor:
    """The distillation term for the read-out ``steps`` ``[T, B, classes]`` and the teacher's logits ``[B, classes]``."""
    student = steps.mean(0)
    if kind == "hard":
        return F.cross_entropy(student, teacher_logits.argmax(1))
    return F.kl_div(F.log_softmax(student / tau, 1), F.log_softmax(teacher_logits / tau, 1),
                    reduction="batchmean", log_target=True) * tau * tau


class Teacher:
    """A published weight, frozen in eval mode, whose logits on each training batch the student is
    distilled towards."""

    def __init__(self, name: str, num_classes: int, sample: torch.Tensor, device: torch.device,
                 alpha: float = 0.5, tau: float = 1.0, kind: str = "soft", channels_last: bool = False):
        try:
            model = create_model(name)
        except (ZooError, KeyError, ValueError) as error:
            raise RecipeError(f"train.teacher {name}: {str(error).splitlines()[0]}") from None
        self.name, self.alpha, self.tau, self.kind = name, alpha, tau, kind
        self.model = model.to(device).eval().requires_grad_(False)
        if channels_last:
            to_channels_last(self.model)
        try:
            logits = self.logits(sample.to(device))
        except (RuntimeError, ValueError) as error:  # the zoo's shape checks raise ValueError
            raise RecipeError(f"train.teacher {name} does not take this data's samples (a batch of shape "
                              f"{tuple(sample.shape)}): {str(error).splitlines()[0]}") from None
        if logits.shape[-1] != num_classes:
            raise RecipeError(f"train.teacher {name} tells {logits.shape[-1]} classes apart, the data "
                              f"{num_classes}")

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's logits (its rates, for a spiking teacher) in float32, ``[B, classes]``."""
        return self.model(images).float()

    def mix(self, loss: torch.Tensor, steps: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The recipe's ``loss`` on the read-out ``steps`` with the distillation term mixed in."""
        term = distillation_loss(steps, teacher_logits, self.kind, self.tau)
        return (1.0 - self.alpha) * loss + self.alpha * term


def describe(train_cfg: dict) -> dict:
    """The card's record of a recipe's distillation, or an empty mapping where it has none."""
    if not train_cfg.get("teacher"):
        return {}
    return {"distillation": {"teacher": train_cfg["teacher"], "type": train_cfg["distillation_type"],
                             "alpha": train_cfg["distillation_alpha"], "tau": train_cfg["distillation_tau"]}}


def recipe_keys(card_train: dict) -> dict:
    """The recipe's keys behind a card's record of its distillation (the inverse of :func:`describe`), so that
    a published weight stands in for the run it came from."""
    if "distillation" not in card_train:
        return {}
    record = card_train["distillation"]
    return {"teacher": record["teacher"], "distillation_type": record["type"],
            "distillation_alpha": record["alpha"], "distillation_tau": record["tau"]}
