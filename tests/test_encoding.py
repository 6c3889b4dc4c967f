import pytest
import torch

from zoo.encoding import DeltaEncoder, DirectEncoder, LatencyEncoder, RateEncoder, build_encoder, delta_decode


def test_direct_repeats_the_image():
    x = torch.rand(2, 1, 4, 4)
    seq = DirectEncoder(5)(x)
    assert seq.shape == (5, 2, 1, 4, 4) and torch.equal(seq[3], x)


def test_rate_mean_firing_equals_intensity():
    torch.manual_seed(0)
    x = torch.linspace(0, 1, 11).view(1, 11)
    spikes = RateEncoder(4000)(x)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(spikes.mean(0), x, atol=0.03)


def test_poisson_rate_fires_at_least_one_event_per_step_with_its_probability():
    torch.manual_seed(0)
    x = torch.linspace(0, 1, 11).view(1, 11)
    spikes = RateEncoder(4000, mode="poisson", max_rate=2.0)(x)
    assert torch.allclose(spikes.mean(0), 1 - torch.exp(-2.0 * x), atol=0.03)
    sparse = RateEncoder(4000, mode="poisson", max_rate=0.1)(x).mean(0)
    assert torch.allclose(sparse, 1 - torch.exp(-0.1 * x), atol=0.02)  # ~ 0.1 x: proportional


@pytest.mark.parametrize("mode", ["linear", "log"])
def test_latency_brighter_fires_earlier_once(mode):
    x = torch.tensor([[0.0, 0.2, 0.5, 0.8, 1.0]])
    spikes = LatencyEncoder(16, mode=mode)(x)
    counts = spikes.sum(0)[0]
    assert counts.tolist() == [0, 1, 1, 1, 1]  # dark pixels stay silent, others spike once
    first = spikes[:, 0, 1:].argmax(0)
    assert torch.all(first[1:] <= first[:-1]) and first[-1] == 0 and first[0] > first[-1]


def test_latency_linear_times():
    enc = LatencyEncoder(11, "linear")
    assert enc.spike_times(torch.tensor([1.0, 0.5, 0.1])).tolist() == [0, 5, 9]


def test_delta_reconstructs_within_one_threshold():
    torch.manual_seed(1)
    t = torch.linspace(0, 6.28, 50)
    signal = torch.stack([torch.sin(t), 0.5 * torch.cos(2 * t) + torch.randn(50) * 0.05], dim=1).unsqueeze(1)
    enc = DeltaEncoder(threshold=0.1)
    spikes = enc(signal)
    assert spikes.shape == (50, 1, 2, 2)
    rebuilt = delta_decode(spikes, 0.1, signal[0])
    assert (rebuilt - signal).abs().max() < 0.1 + 1e-6
    assert spikes.sum() > 0


def test_bad_encoding_arguments():
    with pytest.raises(ValueError, match="unknown encoding"):
        build_encoder("poison", 4)
    with pytest.raises(ValueError, match="rate mode"):
        RateEncoder(4, mode="gauss")
    with pytest.raises(ValueError, match="latency mode"):
        LatencyEncoder(4, mode="exp")
    with pytest.raises(ValueError, match="positive"):
        DeltaEncoder(0.0)
