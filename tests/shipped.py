"""The shipped cards, and the re-measurement of a card's test slice that tests/test_shipped.py and
tests/test_shipped_conversions.py run (two files, so that pytest-xdist's whole-file scheduling puts the
dearest slices on two workers)."""
import json
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from zoo.hub.publish import evaluate_weights
from zoo.hub.weights import REPO_WEIGHTS
from zoo.neurons.compat import spikingjelly_major

CARDS = sorted(REPO_WEIGHTS.glob("*.json"))
CARD_BY_NAME = {path.stem: json.loads(path.read_text()) for path in CARDS}  # read once for the helpers below
SHARED_ROOTS = {"mnist": SHARED_DATA / "mnist", "nmnist-emulated": SHARED_DATA / "mnist",  # datasets without a
                "nmnist-subset": SHARED_DATA / "nmnist-subset"}                       # system package: where CI keeps them
SHARED_ARCHIVES = {"cifar10": SHARED_DATA / "cifar10-jpeg.tar.gz"}  # kept packed: built once per test worker


def data_root(card: dict, request):
    """The root a card's test slice is read from: none for data with a system package (Fashion-MNIST) or
    generated data, the shared copy for the others (built from its archive for CIFAR-10); a skip where
    that copy is absent."""
    archive = SHARED_ARCHIVES.get(card["dataset"])
    if archive is not None:
        if not archive.is_file():
            pytest.skip(f"{card['dataset']} is not on this machine ({archive} is absent; CI has it)")
        return request.getfixturevalue(f"{card['dataset']}_jpeg_root")
    root = SHARED_ROOTS.get(card["dataset"])
    if root is not None and not root.is_dir():
        pytest.skip(f"{card['dataset']} is not on this machine ({root} is absent; CI has it)")
    return root


SIZE_ONLY = {"T", "width", "channels", "in_channels", "input_size", "num_classes"}  # not which modules run


def _configuration(card: dict) -> tuple[str, str]:
    """An architecture with the arguments that choose its modules (neuron, connection, surrogate, ...)."""
    return card["arch"], json.dumps({k: v for k, v in card["kwargs"].items() if k not in SIZE_ONLY}, sort_keys=True)


def _continued_on_the_same_data() -> dict[str, str]:
    """Each earlier leg (or base) of a weight trained on from it with the same data, arguments and evaluation,
    and that weight: the later one's slice exercises the same code path, and the earlier file is checked by its
    sha256. A default weight is never left out: it is what `pretrained=True` gives."""
    cards = CARD_BY_NAME
    same = ("arch", "kwargs", "dataset", "dataset_kwargs", "eval")
    return {card["finetuned_from"]: name for name, card in cards.items()
            if card.get("finetuned_from") in cards and not cards[card["finetuned_from"]]["default"]
            and all(cards[card["finetuned_from"]].get(key) == card.get(key) for key in same)}


CONTINUED = _continued_on_the_same_data()


def _one_card_per_configuration() -> set[str]:
    """The card (the default first, never an earlier leg) that stands for each configuration on the
    SpikingJelly 2.x re-run."""
    chosen: dict[tuple[str, str], str] = {}
    for name, card in sorted(CARD_BY_NAME.items(), key=lambda item: (not item[1]["default"], item[0])):
        if name not in CONTINUED:
            chosen.setdefault(_configuration(card), name)
    return set(chosen.values())


SJ2_CHECKED = _one_card_per_configuration()


def card_id(path):
    return path.stem


def is_conversion(path: Path) -> bool:
    return CARD_BY_NAME[path.stem]["arch"].startswith("converted_")


def check_test_slice(card_path: Path, request) -> None:
    """Re-evaluate a shipped weight on its card's test slice (same seed and batch size): within half a point
    of the card (one image on slices under 200, whose prediction another CPU's rounding may flip), or a skip
    saying which file stands for it."""
    card = CARD_BY_NAME[card_path.stem]
    if card["arch"].startswith(("converted_", "ann_")) and spikingjelly_major() >= 2:
        pytest.skip("an ANN, or a converted SNN on the zoo's own IF neurons, holds no SpikingJelly node: checked on "
                    "the pinned line")
    if card_path.stem in CONTINUED:
        last = card_path.stem
        while last in CONTINUED:
            last = CONTINUED[last]
        pytest.skip(f"continued on the same data and configuration by {CONTINUED[card_path.stem]}; the chain's last "
                    f"weight ({last}) is re-measured, this file is checked by its sha256")
    if spikingjelly_major() >= 2 and card_path.stem not in SJ2_CHECKED:
        pytest.skip("on SpikingJelly 2.x one weight of each architecture and configuration is re-checked; every "
                    "weight is on the pinned line")
    name = f"{card['arch']}.{card['tag']}"
    result = evaluate_weights(name, root=data_root(card, request), limit=card["check"]["num_samples"], progress=False)
    assert result["num_samples"] == card["check"]["num_samples"]
    assert abs(result["acc1"] - card["check"]["acc1"]) <= max(0.5, 100 / result["num_samples"]) + 1e-9
