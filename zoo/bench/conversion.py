"""``conversion``: evaluating a converted SNN the fast way (the layers before the first neuron run once
on the static image, batches in cache-sized chunks of images x steps) against the plain way (the
image repeated ``T`` times through every layer, the whole batch at once), on the shipped default
``converted_resnet20`` weight and real test images when both are here. The row also gives the largest
difference between the two read-outs, which the tests require to be float rounding."""
from __future__ import annotations

import torch

from ..errors import DatasetNotFoundError, UnknownModelError, WeightsError
from ..hub.factory import create_model
from .inputs import fashion_mnist_or_noise
from .timing import interleaved, median, median_ratio

IMAGES = 500  # the batch `zoo eval` and the cards use


def _model(T: int) -> tuple[torch.nn.Module, str]:
    try:
        return create_model("converted_resnet20", pretrained=True, T=T).eval(), "shipped converted_resnet20"
    except (UnknownModelError, WeightsError, DatasetNotFoundError):
        return create_model("converted_resnet20", in_channels=1, input_size=(28, 28), T=T).eval(), \
            "converted_resnet20 at initialisation"


def run(repeats: int = 3) -> list[dict]:
    images, source = fashion_mnist_or_noise(IMAGES)
    model, weights = _model(8)
    rows = []
    for T in (8, 32):
        model.T = T
        with torch.inference_mode():
            fast, plain = model.forward_steps(images), model.forward_steps_reference(images)
            times = interleaved({"plain": lambda: model.forward_steps_reference(images),
                                 "fast": lambda: model.forward_steps(images)}, min(repeats, 3), warmup=0)
        rows.append({"suite": "conversion", "case": f"{weights}, {IMAGES} {source} at T={T}: plain / fast evaluation",
                     "plain_s": median(times["plain"]), "fast_s": median(times["fast"]),
                     "ratio": median_ratio(times["plain"], times["fast"]),
                     "max_out_diff": float((fast - plain).abs().max())})
    return rows
