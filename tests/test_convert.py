"""ANN-to-SNN conversion: BN folding is exact, an IF neuron's mean output is the clip-and-round of its
current, thresholds are searched per T, each calibration lowers the layers' errors at the T it was fitted
for, the per-T states round-trip through the file, and the fast path gives the plain path's spikes."""
import json
import logging

import pytest
import torch

import zoo
from zoo.conversion.calibration import (driver_layers, layer_errors, percentile_threshold, quantise, relu_activations,
                             search_threshold)
from zoo.conversion import ConvertedSNN, convert, fold_bn


@pytest.fixture(scope="module")
def trained_ann():
    """A ResNet-20 (width 8) fitted briefly to random images, with non-trivial BN statistics."""
    torch.manual_seed(0)
    ann = zoo.create_model("ann_resnet20", width=8, in_channels=1, input_size=(12, 12))
    data = torch.rand(64, 1, 12, 12)
    labels = torch.randint(0, 10, (64,))
    optimizer = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(ann(data), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ann.eval(), [data[:32], data[32:]]


def test_bn_folding_is_exact(trained_ann):
    ann, batches = trained_ann
    folded = fold_bn(ann)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        assert torch.allclose(folded(batches[0]), ann(batches[0]), atol=1e-5)


@pytest.mark.parametrize("bias_shift", [True, False])
def test_an_if_neuron_averages_to_the_clip_and_round_of_a_constant_current(bias_shift):
    """The identity the threshold search and weight calibration rely on."""
    ann = torch.nn.Sequential(torch.nn.ReLU())
    ann.in_channels, ann.input_size = 3, (2, 2)
    snn = ConvertedSNN(ann, T=8)
    neuron = snn.net[0]
    neuron.bias_shift = bias_shift
    neuron.threshold.copy_(torch.tensor([1.0, 0.5, 2.0]))
    current = torch.randn(5, 3, 2, 2) * 1.5
    expected = quantise(current, neuron.per_channel(neuron.threshold), 8, bias_shift)
    assert torch.allclose(snn(current), expected, atol=1e-6)


def test_the_bias_shift_centres_the_quantisation():
    ann = torch.nn.Sequential(torch.nn.ReLU())
    ann.in_channels, ann.input_size = 1, (1, 1)
    snn = ConvertedSNN(ann, T=4)
    relu = snn.net[0]
    x = torch.full((1, 1, 1, 1), 0.4)
    # 0.4 per step: with the 1/8 shift, 0.525 per step -> spikes at steps 2 and 4 -> 0.5 (nearest of 0, .25, .5);
    # without it, 0.4 per step gives one spike (step 3) -> 0.25
    assert snn(x).item() == pytest.approx(0.5)
    relu.bias_shift = False
    assert snn(x).item() == pytest.approx(0.25)


def test_the_searched_threshold_has_the_smallest_error_on_the_grid():
    values = torch.relu(torch.randn(20_000)).pow(2)
    for T in (4, 32):
        best = search_threshold(values, T)
        error = lambda threshold: float((quantise(values, threshold, T) - values).square().mean())
        grid = [float(values.max()) * (1 - 0.01 * i) for i in range(95)]
        assert error(best) == pytest.approx(min(error(c) for c in grid))
        assert error(best) < error(float(values.max())) and error(best) < error(percentile_threshold(values, 99.99))
    assert search_threshold(values, 4) < search_threshold(values, 32)  # fewer levels: clip more, round finer


def test_thresholds_are_the_activation_percentile_or_searched_per_channel(trained_ann):
    ann, batches = trained_ann
    activations = relu_activations(fold_bn(ann), batches)
    snn = convert(ann, batches, T=8, threshold=99.0, calibrate="none")
    neurons = dict(snn.net.named_modules())
    for name, values in activations.items():
        expected = float(torch.quantile(values.flatten(), 0.99))
        assert torch.allclose(neurons[name].threshold, torch.full_like(neurons[name].threshold, expected), rtol=1e-5)
    searched = dict(convert(ann, batches, T=8, threshold="mse", calibrate="none").net.named_modules())
    stem = activations["relu"].transpose(0, 1).flatten(1)
    assert searched["relu"].threshold.tolist() == pytest.approx([search_threshold(c, 8) for c in stem])


def test_neuron_outputs_approach_the_ann_as_t_grows(trained_ann):
    ann, batches = trained_ann
    activations = relu_activations(fold_bn(ann), batches)
    snn = convert(ann, batches, T=4, threshold=100.0, calibrate="none")
    errors = {}
    for T in (4, 16, 64, 256):
        snn.T = T
        errors[T] = layer_errors(snn, activations, batches)
    for name in activations:
        assert errors[256][name] < errors[16][name] < errors[4][name], (name, [errors[T][name] for T in errors])
    assert max(errors[256].values()) < 0.1
    with torch.no_grad():
        logits = ann(batches[0])
        assert (snn(batches[0]).argmax(1) == logits.argmax(1)).float().mean() > 0.8


@pytest.mark.parametrize("T", [4, 8])
def test_each_calibration_lowers_the_layer_errors_at_the_t_it_was_fitted_for(trained_ann, T):
    ann, batches = trained_ann
    activations = relu_activations(fold_bn(ann), batches)
    errors = {}
    for label, kwargs in {"percentile": dict(threshold=99.99, calibrate="none"),
                          "searched": dict(calibrate="none"),
                          "bias": dict(calibrate="bias"),
                          "potential": dict(calibrate="potential"),
                          "weights": dict(calibrate="potential", weight_steps=100)}.items():
        errors[label] = layer_errors(convert(ann, batches, T=T, **kwargs), activations, batches)
    for name in activations:
        # against threshold balancing, every calibrated layer is closer to its ANN activation
        for label in ("bias", "potential", "weights"):
            assert errors[label][name] < errors["percentile"][name], (label, name)
        # zeroing a layer's mean error (given the calibrated layers before it) never costs more than a little
        assert errors["potential"][name] < errors["searched"][name] * 1.02, name
    total = {label: sum(by_layer.values()) for label, by_layer in errors.items()}
    assert total["searched"] < total["percentile"]
    assert total["weights"] < total["potential"] < total["bias"] < total["searched"], total


def test_weight_calibration_fits_the_main_path_of_a_residual_block(trained_ann):
    ann, batches = trained_ann
    drivers = driver_layers(ConvertedSNN(fold_bn(ann), T=4))
    assert drivers["relu"] == "conv1"
    assert drivers["layers.3.relu1"] == "layers.3.conv1"
    assert drivers["layers.3.relu2"] == "layers.3.conv2"  # not the shortcut's convolution, which runs later


def test_the_fast_path_gives_the_plain_paths_spikes(trained_ann):
    ann, batches = trained_ann
    snn = convert(ann, batches, T=(3, 8), calibrate="potential", weight_steps=20)
    assert snn.static_stem
    for T in (3, 8, 40):  # 40: several chunks of 512 images x steps
        snn.T = T
        with torch.no_grad():
            fast, plain = snn.forward_steps(batches[0]), snn.forward_steps_reference(batches[0])
        assert fast.shape == (T, 32, 10) and torch.allclose(fast, plain, atol=1e-5)


def test_the_calibrated_states_round_trip_and_an_uncalibrated_t_says_so(trained_ann, tmp_path, caplog):
    from safetensors.torch import load_file, save_file

    ann, batches = trained_ann
    snn = convert(ann, batches, T=(4, 16), calibrate="potential", weight_steps=20)
    assert snn.calibrated_T == (4, 16) and set(snn.calibration_seconds) == {4, 16}
    thresholds = {T: snn.calibrated[str(T)].tensors()["relu.threshold"] for T in (4, 16)}
    assert not torch.equal(thresholds[4], thresholds[16])
    save_file({k: v.contiguous() for k, v in snn.state_dict().items()}, tmp_path / "w.safetensors")
    with torch.no_grad():
        expected = {}
        for T in (4, 16):
            snn.T = T
            expected[T] = snn(batches[0])
        model = zoo.create_model("converted_resnet20", width=8, in_channels=1, input_size=(12, 12), T=4,
                                 calibrated_T=(4, 16))
        model.load_state_dict(load_file(tmp_path / "w.safetensors"))
        assert torch.equal(model(batches[0]), expected[4])
        model.T = 16
        assert torch.equal(model(batches[0]), expected[16])
        assert torch.equal(dict(model.net.named_modules())["relu"].threshold, thresholds[16])
        with caplog.at_level(logging.WARNING, logger="zoo"):
            model.T = 12
            assert model(batches[0]).shape == (32, 10)
    assert [r.getMessage() for r in caplog.records] == [
        "T=12 was not calibrated for this conversion; using the state calibrated for T=16 (calibrated: 4, 16)"]
    assert torch.equal(dict(model.net.named_modules())["relu"].threshold, thresholds[16])


def test_bad_networks_and_arguments_are_refused_in_one_line(trained_ann):
    ann, batches = trained_ann
    with pytest.raises(ValueError, match="calibrate must be one of none, bias, potential"):
        convert(ann, batches, calibrate="weights")
    with pytest.raises(ValueError, match="at least one calibration batch"):
        convert(ann, [])
    with pytest.raises(ValueError, match=r"T must be positive numbers of time steps, got \[8, 0\]"):
        convert(ann, batches, T=(8, 0))
    with pytest.raises(ValueError, match="T must be a positive number of time steps, got -1"):
        ConvertedSNN(fold_bn(ann), T=-1)
    pooled = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    with pytest.raises(ValueError, match="cannot convert: 2 is a max-pooling layer"):
        convert(pooled, batches)
    pages = zoo.create_model("ann_resnet9", width=4, in_channels=1, input_size=(12, 12), pool="max")
    with pytest.raises(ValueError, match="cannot convert: layer1.1 is a max-pooling layer"):
        convert(pages, batches)
    with pytest.raises(ValueError, match="cannot convert: layer1.1 is a max-pooling layer"):
        zoo.create_model("converted_resnet9", width=4, pool="max")
    stray = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.BatchNorm2d(1), torch.nn.Conv2d(1, 4, 3))
    with pytest.raises(ValueError, match="cannot convert: the BatchNorm 1 does not follow a convolution"):
        convert(stray, batches)
    shared = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    shared.forward = lambda x: shared[1](shared[1](shared[0](x.flatten(1))))
    shared.in_channels, shared.input_size = 1, (2, 2)
    with pytest.raises(ValueError, match="used more than once per forward pass"):
        ConvertedSNN(shared)


@pytest.fixture(scope="module")
def ann_run(tmp_path_factory, fmnist_root):
    """A short ReLU ResNet-20 training run on the fixture data, as `zoo convert` receives it."""
    from zoo.train import load_recipe, train

    out = tmp_path_factory.mktemp("ann_run")
    config = load_recipe({"model": {"name": "ann_resnet20", "kwargs": {"in_channels": 1, "input_size": [28, 28],
                                                                       "width": 4}},
                          "data": {"name": "fashion-mnist", "root": str(fmnist_root), "val_fraction": 0.2},
                          "train": {"epochs": 8, "batch_size": 20, "eval_batch_size": 50, "lr": 1e-2}})
    train(config, out, progress=False)
    return out


def test_zoo_convert_publishes_a_conversion_calibrated_per_T(ann_run, fmnist_root, tmp_path, monkeypatch, capsys):
    from zoo.cli import main
    from zoo.hub.publish import evaluate_weights

    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    assert main(["convert", str(ann_run / "checkpoints" / "best.pt"), "--tag", "tiny", "--T", "4,16",
                 "--weight-steps", "10", "--sweep", "8", "--calibration-images", "60",
                 "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    card = json.loads((tmp_path / "converted_resnet20.tiny.json").read_text())
    conversion = card["conversion"]
    assert card["T"] == 16 and card["kwargs"]["calibrated_T"] == [4, 16] and conversion["from"] == "ann_resnet20"
    assert (conversion["calibrate"], conversion["weight_steps"]) == ("potential", 10)  # the advanced pipeline
    per_T = conversion["per_T"]
    assert list(per_T) == ["4", "8", "16"]
    assert per_T["4"]["calibrated"] and per_T["4"]["calibration_s"] > 0
    assert per_T["8"] == {"calibrated": False, "state_T": 4, "acc1": per_T["8"]["acc1"], "eval_s": per_T["8"]["eval_s"]}
    assert per_T["16"]["acc1"] == card["metrics"]["acc1"]  # the same file at its own T
    assert conversion["ann_acc1"] > 50.0 and card["metrics"]["acc1"] > 30.0  # chance is 10%
    assert f"{card['metrics']['acc1']:.2f}%" in out and "T=   8" in out and "not calibrated: the T=4 state" in out
    assert "(ANN ann_resnet20 " in out and "calibrated in " in out  # the ANN it came from, named
    # a published conversion's sweep can be extended; the card keeps the steps in order
    assert main(["convert", "converted_resnet20.tiny", "--sweep", "32", "--plot", str(tmp_path / "T.png")]) == 0
    assert (tmp_path / "T.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "accuracy against T" in capsys.readouterr().out
    extended = json.loads((tmp_path / "converted_resnet20.tiny.json").read_text())["conversion"]["per_T"]
    assert list(extended) == ["4", "8", "16", "32"] and extended["4"] == per_T["4"]
    # `zoo eval --T` reproduces every number of the card from the file
    for T in ("4", "8"):
        result = evaluate_weights("converted_resnet20.tiny", root=fmnist_root, T=int(T), progress=False)
        assert result["acc1"] == result["card_metrics"]["acc1"] == per_T[T]["acc1"]
    assert evaluate_weights("converted_resnet20.tiny", root=fmnist_root, T=2, limit=4,
                            progress=False)["card_metrics"] is None  # the card has no number at T=2


def test_zoo_convert_refuses_a_spiking_checkpoint_and_bad_steps(tiny_run, capsys):
    from zoo.cli import main

    assert main(["convert", str(tiny_run / "checkpoints" / "best.pt"), "--tag", "x"]) == 2
    assert capsys.readouterr().err.strip() == ("zoo: error: zoo convert takes a checkpoint of a ReLU network "
                                               "(an ann_* architecture), got stbp_cnn")
    with pytest.raises(SystemExit):
        main(["convert", str(tiny_run / "checkpoints" / "best.pt"), "--tag", "x", "--T", "8,0"])
    assert "argument --T: expected a positive number, got 0" in capsys.readouterr().err


def test_spikes_scaled_by_per_channel_thresholds_count_as_synaptic_operations(trained_ann):
    from zoo.train.activity import ActivityMonitor

    ann, batches = trained_ann
    snn = convert(ann, batches, T=4, calibrate="none")
    assert len(set(dict(snn.net.named_modules())["relu"].threshold.tolist())) > 1
    with ActivityMonitor(snn) as monitor, torch.no_grad():
        snn(batches[0])
    report = monitor.report()
    stem_macs = 8 * 1 * 9 * 12 * 12  # the first convolution sees the image, once per image (static stem)
    # the read-out sees average-pooled spikes: whole multiples of threshold / pooled inputs, events too
    assert report.snn_macs == pytest.approx(stem_macs) and report.synops > 0


def test_activity_of_a_batch_larger_than_a_forward_chunk(trained_ann, monkeypatch):
    """A converted SNN runs its images in chunks; the raster is the first image's, as without chunks."""
    import zoo.conversion.ifnet
    from zoo.train.activity import ActivityMonitor

    ann, batches = trained_ann
    snn = convert(ann, batches, T=4, calibrate="none")
    images = batches[0][:6]

    def activity(chunk_steps):
        monkeypatch.setattr(zoo.conversion.ifnet, "STEP_CHUNK", chunk_steps)
        with ActivityMonitor(snn) as monitor, torch.no_grad():
            snn(images)
        return monitor.report()

    whole, chunked = activity(4 * 6), activity(4 * 4)  # one chunk of 6 images; chunks of 4 and 2
    assert chunked.samples == 6 and chunked.firing_rates == pytest.approx(whole.firing_rates)
    assert whole.spikes.keys() == chunked.spikes.keys()
    for name, raster in whole.spikes.items():
        assert torch.equal(raster, chunked.spikes[name])


def test_accuracy_against_T_needs_a_conversion_record(tmp_path):
    from zoo.train.plots import plot_accuracy_vs_T

    with pytest.raises(ValueError, match=r"stbp_cnn.fmnist_t8 is not a converted SNN"):
        plot_accuracy_vs_T({"arch": "stbp_cnn", "tag": "fmnist_t8"}, tmp_path / "T.png")
    assert not (tmp_path / "T.png").exists()


@pytest.mark.parametrize("calibrate, weight_steps, own_state", [
    ("none", 0, "SNN, converted for T, no calibration"), ("none", 10, "SNN, calibrated for T"),
    ("potential", 0, "SNN, calibrated for T")])
def test_accuracy_against_T_names_what_each_point_holds(calibrate, weight_steps, own_state, tmp_path, monkeypatch):
    """The legend says whether a filled point was calibrated (``--calibrate none`` without weight steps is
    not), and a long weight name keeps its own title line."""
    from matplotlib.figure import Figure

    from zoo.train.plots import plot_accuracy_vs_T

    drawn = {}
    save = Figure.savefig

    def savefig(figure, *args, **kwargs):
        axes = figure.axes[0]
        drawn.update(legend=[text.get_text() for text in axes.get_legend().get_texts()], title=axes.get_title())
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    card = {"arch": "converted_resnet20", "tag": "cifar10_w32_qcfs", "dataset": "fashion_mnist",
            "conversion": {"ann_acc1": 88.8, "calibrate": calibrate, "weight_steps": weight_steps,
                           "per_T": {"4": {"calibrated": True, "acc1": 81.4}, "16": {"calibrated": False, "acc1": 88.1},
                                     "32": {"calibrated": False}}}}
    assert plot_accuracy_vs_T(card, tmp_path / "T.png").stat().st_size > 0
    assert drawn["legend"] == [own_state, "SNN, run with another T's state", "ANN 88.80%"]
    assert drawn["title"].startswith("converted_resnet20.cifar10_w32_qcfs\non ")


def test_zoo_convert_takes_a_published_ann_weight_as_its_run(ann_run, tmp_path, monkeypatch):
    """Converting the published weight gives the tensors and card that converting its run's checkpoint gives,
    so a conversion needs no run folder once the ANN is published."""
    from safetensors.torch import load_file

    from zoo.cli import main

    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    assert main(["publish", str(ann_run / "checkpoints" / "best.pt"), "--tag", "tiny_ann", "--out", str(tmp_path)]) == 0
    common = ["--T", "4", "--calibrate", "bias", "--calibration-images", "40", "--out-dir", str(tmp_path)]
    assert main(["convert", str(ann_run / "checkpoints" / "best.pt"), "--tag", "from_run", *common]) == 0
    assert main(["convert", "ann_resnet20.tiny_ann", "--tag", "from_weight", *common]) == 0
    from_run, from_weight = (json.loads((tmp_path / f"converted_resnet20.{tag}.json").read_text())
                             for tag in ("from_run", "from_weight"))
    tensors = [load_file(tmp_path / card["file"]) for card in (from_run, from_weight)]
    assert tensors[0].keys() == tensors[1].keys() and all(torch.equal(tensors[0][k], tensors[1][k]) for k in tensors[0])
    assert from_run["metrics"] == from_weight["metrics"]
    assert from_run["conversion"]["from"] == "ann_resnet20" and from_weight["conversion"]["from"] == "ann_resnet20.tiny_ann"
    for key in ("kwargs", "dataset", "data_source", "train", "versions", "eval", "recipe", "paper", "finetuned_from"):
        assert from_run[key] == from_weight[key], key
    # the checkpoint of an ANN run that continued a published weight: its SNN continues nothing
    from zoo.train.checkpoint import load_checkpoint, save_atomic

    continued = load_checkpoint(ann_run / "checkpoints" / "best.pt")
    continued["config"]["model"]["name"] = "ann_resnet20.tiny_ann"
    (tmp_path / "continued" / "checkpoints").mkdir(parents=True)
    save_atomic(continued, tmp_path / "continued" / "checkpoints" / "best.pt")
    assert main(["convert", str(tmp_path / "continued" / "checkpoints" / "best.pt"), "--tag", "continued", *common]) == 0
    card = json.loads((tmp_path / "converted_resnet20.continued.json").read_text())
    assert card["finetuned_from"] is None and card["conversion"]["from"] == "ann_resnet20"
    with pytest.raises(zoo.errors.UnknownModelError, match="no weights named 'ann_resnet20.tiny_an'"):
        main(["convert", "ann_resnet20.tiny_an", "--tag", "x", "--out-dir", str(tmp_path), "--debug"])
    for path in ("ann_runs/x/checkpoints/best.pt", "ann_resnet20.pt"):  # paths, however they begin
        with pytest.raises(zoo.errors.ZooError, match="no usable checkpoint at"):
            main(["convert", path, "--tag", "x", "--out-dir", str(tmp_path), "--debug"])
    torch.save({"state_dict": continued["model"]}, tmp_path / "weights_only.pt")  # a torch file, not a run's
    for command in ("convert", "publish"):
        with pytest.raises(zoo.errors.ZooError, match="weights_only.pt is not a zoo training checkpoint .* checkpoints/best.pt"):
            main([command, str(tmp_path / "weights_only.pt"), "--tag", "x", "--out-dir" if command == "convert"
                  else "--out", str(tmp_path), "--debug"])


def test_a_published_ann_whose_card_lacks_its_training_record_is_refused_before_any_work(ann_run, tmp_path, monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_WEIGHTS", str(tmp_path))
    assert main(["publish", str(ann_run / "checkpoints" / "best.pt"), "--tag", "bare", "--out", str(tmp_path)]) == 0
    card_path = tmp_path / "ann_resnet20.bare.json"
    card = json.loads(card_path.read_text())
    del card["train"]["schedule"], card["eval"]
    card_path.write_text(json.dumps(card))
    with pytest.raises(zoo.errors.WeightsError, match=r"ann_resnet20.bare's card lacks train.schedule, eval: convert "
                                                      r"its run's checkpoint instead"):
        main(["convert", "ann_resnet20.bare", "--tag", "x", "--out-dir", str(tmp_path), "--debug"])
    assert not list(tmp_path.glob("converted_*"))


def test_zoo_convert_names_the_T_an_interrupted_sweep_left_unmeasured(monkeypatch, capsys):
    """A card written before its sweep measured every T (the sweep was interrupted) prints which T are
    missing and the command that measures them, instead of failing on the missing accuracy."""
    import zoo.conversion.publish
    from zoo.cli import main

    card = json.loads(zoo.get_weights("converted_resnet20.fmnist").card_path.read_text())
    card["conversion"]["per_T"]["64"] = {"calibrated": False, "state_T": card["T"]}
    monkeypatch.setattr(zoo.conversion.publish, "sweep_weights", lambda weights, sweep: card)
    assert main(["convert", "converted_resnet20.fmnist", "--sweep", "64"]) == 0
    assert "T=  64: not measured yet (python -m zoo convert converted_resnet20.fmnist --sweep 64)" in capsys.readouterr().out
