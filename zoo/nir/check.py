"""Whether a shipped weight exports to NIR, and how well the written file reads back: the graph run by NIR
readers against the zoo model on the weight's real test images (``zoo export --check`` records it beside the
file, or in the weight's card with ``--update-card``).

Readers: ``zoo`` (:func:`zoo.nir.importer.import_nir`, always there) and ``spikingjelly`` (SpikingJelly 2.x's
``nir_exchange.import_from_nir``, a simulator the zoo did not write, where 2.x is installed). Both are fed
the model's encoded input (the image at every step under direct encoding) and their output spikes are
compared with the model's, per image: the same predicted class, and the same read-out (the output spike
counts, or the summed output of a non-spiking read-out layer, equal to the last bit).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..neurons.compat import import_spikingjelly, spikingjelly_major

sj = import_spikingjelly()


def available_readers() -> list[str]:
    return ["zoo"] + (["spikingjelly"] if spikingjelly_major() >= 2 else [])


def _reader(name: str, path: Path, dt: float):
    """A callable ``[T, B, ...] -> [T, B, classes]`` running the NIR file at ``path``."""
    if name == "zoo":
        from .importer import import_nir

        return import_nir(path, dt=dt)
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    module = import_from_nir(str(path), dt=dt, step_mode="m")

    def run(x_seq: torch.Tensor) -> torch.Tensor:
        functional.reset_net(module)
        out = module(x_seq)
        return out[0] if isinstance(out, tuple) else out
    return run


def read_back(model: torch.nn.Module, path: Path, images: torch.Tensor, reader: str, dt: float,
              batch_size: int = 100) -> dict:
    """``{"images", "same_class", "same_readout"}`` of ``reader`` running ``path`` against ``model``."""
    run = _reader(reader, path, dt)
    same_class = same_counts = 0
    torch.manual_seed(0)  # rate coding draws its spikes once, for both
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = model.encoder(model.normalise(images[start:start + batch_size])).contiguous()
            sj.functional.reset_net(model)
            ours, theirs = model.forward_sequence(x).sum(0), run(x).sum(0)
            same_class += int((ours.argmax(1) == theirs.argmax(1)).sum())
            same_counts += int((ours == theirs).all(1).sum())
    return {"images": len(images), "same_class": same_class, "same_readout": same_counts}
