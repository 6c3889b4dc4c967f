"""Every registered architecture refuses a non-tensor and a wrongly shaped tensor with an error that names
the network and says what it expects (the converted family used to fail inside its ANN)."""
import pytest
import torch

import zoo


@pytest.mark.parametrize("arch", zoo.list_models())
def test_string_and_shape_errors_name_the_network_and_what_it_expects(arch):
    torch.manual_seed(0)
    model = zoo.create_model(arch).eval()
    name = type(model).__name__
    with pytest.raises(TypeError) as caught:
        model("a string")
    assert str(caught.value) == f"{name} expects a torch.Tensor, got str"
    with pytest.raises(ValueError) as caught:
        model(torch.rand(2, 5))  # no model of the zoo takes [2, 5]
    assert str(caught.value).startswith(f"{name} expects input of shape [")
    assert str(caught.value).endswith("got [2, 5]")
