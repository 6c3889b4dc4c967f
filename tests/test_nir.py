"""NIR export: the shipped STBP CNN read back by snnTorch (a simulator the zoo did not write) gives the same
output spikes on real test images; neuron parameters in NIR's continuous form; clear refusals."""
import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main
from zoo.neurons import build_neuron
from zoo.neurons.compat import import_spikingjelly
from zoo.nir_export import NIRExportError, export_nir

nir = pytest.importorskip("nir")
sj = import_spikingjelly()


def _first(output):
    """snnTorch's graph executor returns the output node's value, with its state where it keeps one."""
    return output[0] if isinstance(output, tuple) else output


def test_snntorch_reads_the_exported_stbp_cnn_and_fires_the_same_output_spikes(tmp_path):
    snntorch_utils = pytest.importorskip("snntorch.utils")
    from snntorch.import_nir import import_from_nir

    model = zoo.create_model("stbp_cnn", pretrained=True).eval()
    nir.write(str(tmp_path / "stbp.nir"), export_nir(model))
    imported = import_from_nir(nir.read(str(tmp_path / "stbp.nir")))
    test = zoo.load_dataset("fashion-mnist", split="test")
    torch.manual_seed(0)
    spikes = model.encoder(torch.stack([test[i][0] for i in range(200)]))  # the graph starts after the encoder
    with torch.no_grad():
        ours = model.forward_steps(spikes).sum(0)
        same_counts = same_class = 0
        for b in range(spikes.shape[1]):  # snnTorch's import flattens the batch dimension too: one at a time
            snntorch_utils.reset(imported)
            counts = sum(_first(imported(spikes[t, b:b + 1])).reshape(-1) for t in range(spikes.shape[0]))
            same_counts += int(torch.equal(counts, ours[b]))
            same_class += int(counts.argmax() == ours[b].argmax())
    assert same_class >= 198 and same_counts >= 198, (same_class, same_counts)


@pytest.mark.parametrize("decay_input", [True, False])
def test_an_euler_step_of_the_nir_lif_is_spikingjellys_charge(decay_input):
    neuron = build_neuron("lif", tau=3.0, decay_input=decay_input, v_threshold=0.7, v_reset=0.0)
    model = zoo.create_model("stbp_mlp", T=2)
    model.sn1 = neuron
    dt = 1e-3
    node = export_nir(model, dt=dt).nodes["sn1"]
    v, x = torch.rand(800) - 0.5, torch.rand(800)
    euler = v + dt / node.tau[0] * (node.v_leak[0] - v + node.r[0] * x)
    spikingjelly = v + (x - v) / 3.0 if decay_input else v * (1 - 1 / 3.0) + x
    assert torch.allclose(euler.float(), spikingjelly, atol=1e-6)
    assert node.v_threshold[0] == pytest.approx(0.7) and node.v_reset[0] == 0.0 and node.tau.shape == (800,)


def test_if_neurons_integrate_with_r_one_over_dt():
    model = zoo.create_model("stbp_mlp", T=2)
    model.sn2 = build_neuron("if", v_threshold=1.0, v_reset=0.0)
    node = export_nir(model, dt=1e-4).nodes["sn2"]
    assert isinstance(node, nir.IF) and np.allclose(node.r, 1e4)


def _with(model, **layers):
    for name, module in layers.items():
        setattr(model, name, module)
    return model


@pytest.mark.parametrize("make, message", [
    (lambda: _with(zoo.create_model("stbp_cnn", T=2), pool1=sj.layer.MaxPool2d(2, step_mode="m")),
     r"layer pool1 \(MaxPool2d\): NIR has no max-pooling"),
    (lambda: _with(zoo.create_model("stbp_mlp", T=2), sn1=build_neuron("lif", v_reset=None)),
     r"layer sn1 \(LIFNode\): a soft reset .* has no NIR form"),
    (lambda: zoo.create_model("sew_4b_net", T=2), r"layer stages.0.up_bn \(BatchNorm2d\): no NIR node"),
    (lambda: zoo.create_model("relpsp_fc"), "NIR export takes the zoo's multi-step SNN classifiers"),
])
def test_what_nir_cannot_express_is_refused_naming_the_layer(make, message):
    with pytest.raises(NIRExportError, match=message):
        export_nir(make())


def test_a_residual_addition_between_layers_is_refused():
    model = zoo.create_model("stbp_mlp", T=2, hidden=10, input_size=(2, 5), in_channels=1)
    original = model.forward_sequence
    model.forward_sequence = lambda x: original(x) + model.sn2(model.fc2(model.sn1(model.fc1(model.flatten(x)))))
    with pytest.raises(NIRExportError, match="is not a chain of layers"):
        export_nir(model)


def test_cli_exports_a_readable_file_and_refuses_in_one_line(tmp_path, capsys):
    out = tmp_path / "nested" / "stbp.nir"
    assert main(["export", "stbp_cnn", "--format", "nir", "--out", str(out)]) == 0
    graph = nir.read(str(out))
    assert {"input", "conv1", "sn1", "fc2", "sn4", "output"} <= set(graph.nodes) and len(graph.edges) == 12
    assert not list(tmp_path.glob("**/*.partial"))
    assert main(["export", "sew_4b_net", "--out", str(tmp_path / "s.nir")]) == 2
    assert capsys.readouterr().err.strip().endswith("no NIR node for this layer") and not (tmp_path / "s.nir").exists()
