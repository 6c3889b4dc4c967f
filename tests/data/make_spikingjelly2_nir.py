"""Writes tests/data/spikingjelly2_net.nir and spikingjelly2_net.npz: a small conv SNN exported by
SpikingJelly 2.x's own NIR writer (a library the zoo did not write), with an input and the output spikes
SpikingJelly 2.x computes for it. Run in the 2.x environment (`make test-sj2` builds one):

    .venv-sj2/bin/python tests/data/make_spikingjelly2_nir.py
"""
from pathlib import Path

import numpy as np
import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from spikingjelly.activation_based.nir_exchange import export_to_nir

HERE = Path(__file__).parent
torch.manual_seed(0)
net = torch.nn.Sequential(
    layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode(v_threshold=0.5, surrogate_function=surrogate.ATan()),
    layer.AvgPool2d(2), layer.Conv2d(4, 6, 3, padding=1, bias=False),
    neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
    layer.Flatten(), layer.Linear(6 * 4 * 4, 5),
    neuron.LIFNode(tau=3.0, decay_input=False, v_threshold=0.3, surrogate_function=surrogate.ATan()))
functional.set_step_mode(net, "m")
with torch.no_grad():  # drive every layer to fire
    for module in net:
        if hasattr(module, "weight"):
            module.weight.mul_(8.0)
x = (torch.rand(6, 3, 2, 8, 8) < 0.5).float()
with torch.no_grad():
    functional.reset_net(net)
    spikes = net(x)
export_to_nir(net, x, save_path=HERE / "spikingjelly2_net.nir")
np.savez(HERE / "spikingjelly2_net.npz", x=x.numpy(), spikes=spikes.numpy())
print("output spikes", int(spikes.sum()), "of", spikes.numel())
