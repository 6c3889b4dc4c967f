"""Every shipped weight: its file is the one its card describes, and re-evaluating it on the first
samples of its test set gives the number the card recorded (same seed and batch size)."""
import json

import pytest
from safetensors.torch import load_file

import zoo
from zoo.hub.publish import evaluate_weights
from zoo.hub.weights import REPO_WEIGHTS, sha256_of, weight_filename
from zoo.neurons.compat import spikingjelly_major

CARDS = sorted(REPO_WEIGHTS.glob("*.json"))
CARD_BY_NAME = {path.stem: json.loads(path.read_text()) for path in CARDS}  # read once for the helpers below
SHARED_DATA = REPO_WEIGHTS.parent.parent / "shared" / "data"  # beside the checkout on CI, absent on a user's clone
SHARED_ROOTS = {"mnist": SHARED_DATA / "mnist", "nmnist-emulated": SHARED_DATA / "mnist",  # datasets without a
                "nmnist-subset": SHARED_DATA / "nmnist-subset"}                       # system package: where CI keeps them


SHARED_ARCHIVES = {"cifar10": SHARED_DATA / "cifar10-jpeg.tar.gz"}  # kept packed: built once per test worker


@pytest.fixture(scope="session")
def cifar10_jpeg_root(tmp_path_factory):
    """CIFAR-10 (JPEG copy) in the official python layout, built by the shared folder's own script."""
    import subprocess
    import sys

    script = SHARED_DATA / "build_cifar10_jpeg.py"
    if not script.is_file():
        pytest.skip(f"{script} is absent: the CIFAR-10 JPEG copy cannot be built here")
    root = tmp_path_factory.mktemp("cifar10-jpeg")
    built = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True)
    if built.returncode:
        pytest.fail(f"{script.name} failed: {built.stderr.strip() or built.stdout.strip()}")
    return root


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


def test_the_zoo_ships_a_default_pretrained_stbp_cnn():
    cards = [json.loads(p.read_text()) for p in CARDS]
    stbp = [c for c in cards if c["arch"] == "stbp_cnn" and c["default"]]
    assert len(stbp) == 1 and stbp[0]["dataset"] == "fashion-mnist"
    assert stbp[0]["metrics"]["num_samples"] == 10_000 and stbp[0]["metrics"]["acc1"] >= 88.0


@pytest.mark.parametrize("card_path", CARDS, ids=card_id)
def test_shipped_file_is_the_one_its_card_describes(card_path):
    card = json.loads(card_path.read_text())
    path = REPO_WEIGHTS / card["file"]
    data = path.read_bytes()
    assert sha256_of(data) == card["sha256"] and len(data) == card["file_size"]
    assert card["file"] == weight_filename(card["arch"], card["tag"], card["sha256"])
    tensors = load_file(path)
    model = zoo.create_model(card["arch"], **card["kwargs"])
    assert set(tensors) == set(model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == card["num_params"]
    assert card["metrics"]["split"] == "test" and card["metrics"]["num_samples"] > 0


@pytest.mark.parametrize("card_path", CARDS, ids=card_id)
def test_shipped_weight_reproduces_its_card_on_a_test_slice(card_path, request):
    card = json.loads(card_path.read_text())
    if card["arch"].startswith("converted_") and spikingjelly_major() >= 2:
        pytest.skip("a converted SNN runs the zoo's own IF neurons, no SpikingJelly node: checked on the pinned line")
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
    assert abs(result["acc1"] - card["check"]["acc1"]) <= 0.5


def test_the_status_table_quotes_each_shipped_weights_card_number():
    table = (REPO_WEIGHTS.parent / "docs" / "recipes.md").read_text()
    for path in CARDS:
        card = json.loads(path.read_text())
        row = next((line for line in table.splitlines() if line.endswith(f"| `{card['arch']}.{card['tag']}` |")), "")
        assert f"{card['metrics']['acc1']:.2f}" in row, f"the status table has no row with {path.stem}'s card number"


@pytest.mark.parametrize("card_path", CARDS, ids=card_id)
def test_every_shipped_weight_loads_through_torch_hub(card_path):
    import torch

    card = json.loads(card_path.read_text())
    by_tag = torch.hub.load(str(REPO_WEIGHTS.parent), card["arch"], source="local", pretrained=card["tag"])
    reference = load_file(REPO_WEIGHTS / card["file"])
    assert all(torch.equal(by_tag.state_dict()[key], value) for key, value in reference.items())
    if card["default"]:
        default = torch.hub.load(str(REPO_WEIGHTS.parent), card["arch"], source="local", pretrained=True)
        assert all(torch.equal(default.state_dict()[key], value) for key, value in reference.items())


def test_each_architecture_with_weights_has_exactly_one_default():
    cards = [json.loads(p.read_text()) for p in CARDS]
    for arch in {c["arch"] for c in cards}:
        assert sum(c["default"] for c in cards if c["arch"] == arch) == 1, arch
