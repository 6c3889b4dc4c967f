"""Every shipped converted SNN re-measured on its card's test slice, as tests/test_shipped.py does for the
directly trained weights (a file of its own: these slices run T steps of a ResNet-20 per image)."""
import pytest

from shipped import CARDS, card_id, check_test_slice, is_conversion


@pytest.mark.parametrize("card_path", [path for path in CARDS if is_conversion(path)], ids=card_id)
def test_shipped_conversion_reproduces_its_card_on_a_test_slice(card_path, request):
    check_test_slice(card_path, request)
