"""Sparse spiking gradient descent: the custom backward equals BPTT, the sparse rule keeps exactly the
neurons near threshold, and the paper's network trains."""
import math

import pytest
import torch

import zoo
from zoo.encoding import LatencyEncoder
from zoo.neurons.sparse_grad import (SavedInput, SparseGradLIFLinear, dense_backward, input_trace,
                                     reference_lif_linear, reverse_trace_, sparse_backward, torch_products)


def _layer_and_input(sparse: bool, window: float = 0.2, seed: int = 0):
    torch.manual_seed(seed)
    layer = SparseGradLIFLinear(30, 16, tau=8.0, window=window, sparse_grad=sparse)
    torch.nn.init.normal_(layer.weight, std=0.6)
    x = (torch.rand(25, 6, 30) < 0.3).float().requires_grad_()
    return layer, x


def _grads(out, x, weight, grad_out):
    return torch.autograd.grad(out, (x, weight), grad_out)


@pytest.mark.parametrize("sparse,window", [(False, 0.2), (True, 1e9)])
def test_backward_equals_autograd_bptt(sparse, window):
    layer, x = _layer_and_input(sparse, window)
    spikes = layer(x)
    reference = reference_lif_linear(x, layer.weight, layer.beta, layer.v_threshold, layer.surrogate_scale)
    assert torch.equal(spikes, reference)
    assert 0.05 < spikes.mean() < 0.6  # the example has both spikes and silence
    grad_out = torch.randn_like(spikes)
    for ours, theirs in zip(_grads(spikes, x, layer.weight, grad_out),
                            _grads(reference, x, layer.weight, grad_out)):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_sparse_backward_keeps_only_neurons_near_threshold():
    layer, x = _layer_and_input(sparse=True, window=0.2)
    spikes = layer(x)
    assert 0.0 < layer.active_fraction < 0.5
    grad_out = torch.randn_like(spikes)
    windowed = reference_lif_linear(x, layer.weight, layer.beta, layer.v_threshold, layer.surrogate_scale,
                                    window=0.2)
    dense = reference_lif_linear(x, layer.weight, layer.beta, layer.v_threshold, layer.surrogate_scale)
    ours = _grads(spikes, x, layer.weight, grad_out)
    for mine, expected in zip(ours, _grads(windowed, x, layer.weight, grad_out)):
        torch.testing.assert_close(mine, expected, rtol=1e-4, atol=1e-5)
    # the window changes the gradient (it is an approximation) but keeps its direction
    full = _grads(dense, x, layer.weight, grad_out)[1]
    assert not torch.allclose(ours[1], full)
    assert torch.nn.functional.cosine_similarity(ours[1].flatten(), full.flatten(), dim=0) > 0.5


def _random_layer_problem(dtype, steps=12, batch=5, n_out=9, n_in=7, seed=3):
    torch.manual_seed(seed)
    rows_total = steps * batch
    grad = torch.randn(rows_total, n_out, dtype=dtype)
    weight = torch.randn(n_out, n_in, dtype=dtype)
    spikes = (torch.rand(steps, batch, n_in) < 0.2).to(dtype)
    rows, cols = (torch.rand(rows_total, n_out) < 0.1).nonzero(as_tuple=True)
    surrogate = torch.rand(rows.numel(), dtype=dtype) + 0.5
    dense_surrogate = torch.zeros(rows_total, n_out, dtype=dtype)
    dense_surrogate[rows, cols] = surrogate
    below = (torch.rand(rows_total, n_in) < 0.3).nonzero(as_tuple=True)  # the layer below's active entries
    return grad, weight, spikes, rows, cols, surrogate, dense_surrogate, below


def _dense_reference(grad, weight, spikes, dense_surrogate, beta):
    steps, batch, n_in = spikes.shape
    trace = input_trace(spikes, beta).reshape(steps * batch, n_in)
    grad_e, grad_w = dense_backward(grad, weight, trace, dense_surrogate)
    return reverse_trace_(grad_e.view(steps, batch, n_in), beta).reshape(steps * batch, n_in), grad_w, trace


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_backward_equals_the_dense_formulas_on_the_active_entries(dtype):
    """The CPU kernels (input trace rebuilt from the input spikes, reverse trace in cache) give the dense
    formulas with every inactive entry's surrogate at 0: the whole dL/dx, or its values at the layer
    below's active entries only; the torch CSR products (the path off the CPU) give the same."""
    beta = 0.8
    grad, weight, spikes, rows, cols, surrogate, dense_surrogate, below = _random_layer_problem(dtype)
    steps, batch, n_in = spikes.shape
    expected_x, expected_w, trace = _dense_reference(grad, weight, spikes, dense_surrogate, beta)
    saved = SavedInput.of(spikes.reshape(steps * batch, n_in), steps, beta)
    assert saved.trace is None and saved.values.numel() == torch.count_nonzero(spikes)  # spikes, not a trace
    grad_x, grad_w = sparse_backward(grad, weight, saved, rows, cols, surrogate, steps, batch, beta)
    assert grad_x.dtype == dtype and grad_x.shape == (steps * batch, n_in) and grad_w.shape == weight.shape
    torch.testing.assert_close(grad_x, expected_x)
    torch.testing.assert_close(grad_w, expected_w)
    at_below, _ = sparse_backward(grad, weight, None, rows, cols, surrogate, steps, batch, beta, input_active=below)
    torch.testing.assert_close(at_below, expected_x[below])
    gathered = grad[rows, cols]  # the values a sparse layer above hands down
    torch.testing.assert_close(sparse_backward(gathered, weight, saved, rows, cols, surrogate, steps, batch, beta,
                                               input_active=below)[1], expected_w)
    values = grad[rows, cols] * surrogate
    for ours, theirs in zip(torch_products(values, weight, trace, rows, cols, steps, batch, beta, below, True),
                            (expected_x[below], expected_w)):
        torch.testing.assert_close(ours, theirs)


def test_sparse_layers_hand_down_sparse_gradients_that_equal_the_windowed_reference():
    """Two sparse layers in a row: the lower one gets a COO gradient holding exactly its active entries, and
    every weight gradient equals autograd BPTT through the windowed surrogate (the paper's sparse rule)."""
    torch.manual_seed(4)
    lower = SparseGradLIFLinear(30, 20, tau=8.0, window=0.3)
    upper = SparseGradLIFLinear(20, 12, tau=8.0, window=0.3)
    for layer in (lower, upper):
        torch.nn.init.normal_(layer.weight, std=0.8)
    x = (torch.rand(25, 6, 30) < 0.3).float()
    hidden, active = lower.spikes_and_active(x)
    seen = []
    hidden.register_hook(lambda grad: seen.append(grad))
    out = upper(hidden, input_active=active)
    grad_out = torch.randn_like(out)
    ours = torch.autograd.grad(out, (lower.weight, upper.weight), grad_out)
    assert seen[0].is_sparse and seen[0]._nnz() == active[0].numel() > 0
    ref_hidden = reference_lif_linear(x, lower.weight, lower.beta, lower.v_threshold, lower.surrogate_scale, 0.3)
    ref_out = reference_lif_linear(ref_hidden, upper.weight, upper.beta, upper.v_threshold, upper.surrogate_scale,
                                   0.3)
    assert torch.equal(out, ref_out)
    for mine, expected in zip(ours, torch.autograd.grad(ref_out, (lower.weight, upper.weight), grad_out)):
        torch.testing.assert_close(mine, expected, rtol=1e-4, atol=1e-5)
    dense_lower = SparseGradLIFLinear(30, 20, tau=8.0, window=0.3, sparse_grad=False)
    assert dense_lower.spikes_and_active(x)[1] is None  # a dense layer reads every entry: no hand-off


def test_no_active_neuron_gives_zero_gradient():
    layer = SparseGradLIFLinear(4, 3, sparse_grad=True)
    torch.nn.init.zeros_(layer.weight)
    x = torch.ones(5, 2, 4, requires_grad=True)
    layer(x).sum().backward()
    assert layer.active_fraction == 0.0
    assert torch.count_nonzero(layer.weight.grad) == 0 and torch.count_nonzero(x.grad) == 0


def test_layer_rejects_wrong_shapes_and_parameters():
    with pytest.raises(ValueError, match=r"expects \[T, B, 4\]"):
        SparseGradLIFLinear(4, 3)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="tau"):
        SparseGradLIFLinear(4, 3, tau=1.0)
    with pytest.raises(ValueError, match="window"):
        SparseGradLIFLinear(4, 3, window=0.0)


def test_rc_latency_times():
    encoder = LatencyEncoder(40, mode="rc", threshold=0.2, tau=20.0)
    x = torch.tensor([1.0, 0.25, 0.2, 0.0, 0.201])
    spikes = encoder(x)
    # t = floor(20 ln(x / (x - 0.2))): 4 for x = 1, 32 for x = 0.25; none at or below 0.2 or after T - 1
    assert spikes.sum(0).tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert spikes[:, 0].argmax() == math.floor(20 * math.log(1.25))
    assert spikes[:, 1].argmax() == 32


def test_ssgd_fc3_shapes_and_gradients():
    model = zoo.create_model("ssgd_fc3", T=20)
    x = torch.rand(3, 1, 28, 28)
    out = model(x)
    assert out.shape == (3, 10)
    assert torch.equal(out, model.readout_trace(x).amax(0))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"):
        model(torch.rand(3, 28, 28))


@pytest.mark.parametrize("sparse", [True, False])
def test_ssgd_fc3_learns_a_small_task(sparse):
    """Two classes of latency-coded images (bright top half vs bright bottom half) are learned within a
    few dozen steps in both modes."""
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28) * 0.3
    labels = torch.randint(0, 2, (64,))
    for i, label in enumerate(labels):
        rows = slice(0, 14) if label == 0 else slice(14, 28)
        images[i, 0, rows] += 0.6
    model = zoo.create_model("ssgd_fc3", T=40, num_classes=2, hidden=(64,), sparse_grad=sparse)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = (model(images).argmax(1) == labels).float().mean()
    assert accuracy > 0.9
    assert model.layers[0].active_fraction < 0.5


def _authors_layer(current: torch.Tensor, beta: float, th: float) -> torch.Tensor:
    """The authors' SNNLayerOrig loop (SparseSpikingBackprop, train_and_time.py): the reset of the last
    spike is subtracted after the leak, ``new_mem = beta * mem + h1[:, t] - rst``, ``rst = (mem - th > 0)``
    (with the threshold subtracted, as the zoo's threshold may differ from their 1)."""
    mem = torch.zeros_like(current[0])
    rst = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        mem = beta * mem + current[t] - th * rst
        rst = (mem - th > 0).float()
        out.append(rst)
    return torch.stack(out)


@pytest.mark.parametrize("v_threshold", [1.0, 0.7])
def test_spikes_equal_the_authors_loop(v_threshold):
    torch.manual_seed(2)
    layer = SparseGradLIFLinear(30, 16, tau=8.0, v_threshold=v_threshold)
    torch.nn.init.normal_(layer.weight, std=0.6)
    x = (torch.rand(40, 6, 30) < 0.3).float()
    spikes = layer(x)
    assert 0.05 < spikes.mean() < 0.6
    assert torch.equal(spikes, _authors_layer(x @ layer.weight.t(), layer.beta, v_threshold))
