"""Activity monitoring: firing rates, SynOps, MACs and the energy estimate on hand-countable networks;
the plots and the run folder's activity files."""
import json

import pytest
import torch
from torch import nn

from zoo.train.activity import E_AC_PJ, E_MAC_PJ, ActivityMonitor
from zoo.cli import main
from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly

sj = import_spikingjelly()
layer = sj.layer


class TwoLayer(nn.Module):
    """x (real) -> Linear(4, 3) -> IF -> Linear(3, 2); T steps of the same input."""

    def __init__(self, T=4):
        super().__init__()
        self.T = T
        self.fc1 = layer.Linear(4, 3, bias=False, step_mode="m")
        self.sn = build_neuron("if", surrogate="atan")
        self.fc2 = layer.Linear(3, 2, bias=False, step_mode="m")
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0], [0.3, 0, 0, 0]]))

    def forward(self, x):
        sj.functional.reset_net(self)
        return self.fc2(self.sn(self.fc1(x.unsqueeze(0).repeat(self.T, 1, 1)))).mean(0)


def test_rates_synops_and_macs_are_counted_exactly():
    model = TwoLayer(T=4)
    x = torch.tensor([[1.0, 0.5, 0.2, 0.1], [0.0, 0.0, 0.0, 0.0]])
    with ActivityMonitor(model) as monitor:
        model(x)
    report = monitor.report()
    # sample 0: neuron 0 gets 1.0 a step -> 4 spikes; neuron 2 gets 0.3 -> spikes at steps 4 (1.2) -> 1 spike
    spikes = 4 + 1
    assert report.samples == 2 and report.steps == 4
    assert report.firing_rates == {"sn": pytest.approx(spikes / (4 * 2 * 3))}
    assert report.synops == pytest.approx(spikes * 2 / 2)          # each spike reaches 2 synapses; per sample
    assert report.snn_macs == pytest.approx(4 * 3 * 4 * 2 / 2)      # fc1 on real inputs every step
    assert report.ann_macs == pytest.approx(4 * 3 + 3 * 2)          # once per sample
    assert report.energy_snn_uj == pytest.approx((report.synops * E_AC_PJ + report.snn_macs * E_MAC_PJ) * 1e-6)
    raster = report.spikes["sn"]  # the neurons that fired, by first spike: neuron 0, then neuron 2
    assert raster.tolist() == [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]]


def test_raster_sample_spreads_over_firing_neurons_in_first_spike_order():
    from zoo.train.activity import raster_sample

    spikes = torch.zeros(5, 10)
    for neuron, step in ((1, 4), (3, 0), (5, 2), (7, 1), (9, 3)):
        spikes[step, neuron] = 1.0
    picked = raster_sample(spikes, 3)  # neurons 1, 5, 9 (evenly over the five that fired)
    assert picked.shape == (5, 3)
    assert picked.argmax(0).tolist() == [2, 3, 4]  # ordered by first spike: 5 (t=2), 9 (t=3), 1 (t=4)
    assert raster_sample(torch.zeros(5, 10), 3).shape == (5, 0)


def test_evaluate_with_activity_and_the_cli(use_weights, fmnist_root, tmp_path, capsys):
    code = main(["eval", "stbp_cnn.tiny", "--root", str(fmnist_root), "--limit", "20", "--activity",
                 "--plots", str(tmp_path / "plots")])
    out = capsys.readouterr().out
    assert code == 0 and "firing rate per layer" in out and "SynOps" in out and "Horowitz" in out
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"activity.json", "firing_rates.png", "raster.png",
                                                                 "confusion.png"}
    summary = json.loads((tmp_path / "plots" / "activity.json").read_text())
    assert summary["num_samples"] == 20 and set(summary["firing_rates"]) == {"sn1", "sn2", "sn3", "sn4"}
    assert (summary["weights"], summary["split"]) == ("stbp_cnn.tiny", "test")


def test_a_finished_run_folder_has_curves_and_activity(tiny_run):
    for name in ("curves.png", "firing_rates.png", "raster.png", "confusion.png", "activity.json"):
        assert (tiny_run / name).is_file(), name


def test_runs_compare_on_one_figure(tiny_run, tmp_path):
    from zoo.train.plots import plot_runs

    path = plot_runs([tiny_run, tiny_run], ["a", "b"], tmp_path / "compare.png", title="two runs")
    assert path.is_file() and path.stat().st_size > 10_000


def test_average_pooled_spikes_count_as_synaptic_operations_in_stbp_and_sew():
    """STBP's conv2 and fc1 and SEW's read-out see spikes averaged by a pooling (multiples of 1/k): events,
    so the only MACs left are what sees the image itself (none in STBP: its input is rate coded)."""
    import zoo

    torch.manual_seed(0)
    images = torch.rand(4, 1, 28, 28)
    stbp = zoo.create_model("stbp_cnn", T=4).eval()
    with ActivityMonitor(stbp) as monitor, torch.no_grad():
        stbp(images)
    report = monitor.report()
    assert report.snn_macs == 0 and report.synops > 0
    sew = zoo.create_model("sew_resnet18", T=2, width=8, stem="cifar", in_channels=1, input_size=(28, 28)).eval()
    with ActivityMonitor(sew) as monitor, torch.no_grad():
        sew(images)
    stem = sew.conv1
    stem_macs = 8 * (1 * 3 * 3) * 28 * 28  # the stem's MACs on the image, once per sample (static stem)
    assert isinstance(stem, nn.Conv2d) and monitor.report().snn_macs == pytest.approx(stem_macs)
    pooled_image = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(196, 2))  # real values stay MACs
    with ActivityMonitor(pooled_image) as monitor, torch.no_grad():
        pooled_image(images)
    assert monitor.report().snn_macs == pytest.approx(196 * 2) and monitor.report().synops == 0
