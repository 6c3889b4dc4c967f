"""Every shipped weight: its file is the one its card describes, and re-evaluating it on the first
samples of its test set gives the number the card recorded (same seed and batch size; the converted
SNNs' slices are in tests/test_shipped_conversions.py)."""
import json

import pytest
from safetensors.torch import load_file

import zoo
from shipped import CARDS, card_id, check_test_slice, is_conversion
from zoo.hub.weights import REPO_WEIGHTS, sha256_of, weight_filename


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


@pytest.mark.parametrize("card_path", [path for path in CARDS if not is_conversion(path)], ids=card_id)
def test_shipped_weight_reproduces_its_card_on_a_test_slice(card_path, request):
    check_test_slice(card_path, request)


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
