"""``zoo bench``: side-by-side timing, the ReLU twin, the memory measure and the CLI (tiny sizes; the
real figures come from ``python -m zoo bench``)."""
import json
import platform

import pytest
import torch

import zoo
from zoo.bench import format_rows, run_suite, write_report
from zoo.bench.memory import saved_bytes
from zoo.bench.speed import relu_twin
from zoo.bench.timing import interleaved, median_ratio
from zoo.cli import main
from zoo.neurons.compat import import_spikingjelly

sj = import_spikingjelly()


def test_interleaved_runs_candidates_in_turn():
    calls = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert [len(v) for v in times.values()] == [3, 3]
    assert median_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0
    with pytest.raises(ValueError, match="repeats"):
        interleaved({"a": lambda: None}, repeats=0)


def test_relu_twin_has_the_same_weights_and_no_neurons():
    snn = zoo.create_model("sew_resnet18", T=2, stem="cifar", width=8, in_channels=1, input_size=(28, 28),
                           num_classes=10)
    ann = relu_twin(snn)
    assert not any(isinstance(m, sj.neuron.BaseNode) for m in ann.modules())
    assert sum(isinstance(m, torch.nn.ReLU) for m in ann.modules()) == \
        sum(isinstance(m, sj.neuron.BaseNode) for m in snn.modules())
    for (name, p), (_, q) in zip(snn.named_parameters(), ann.named_parameters()):
        assert torch.equal(p, q), name
    x = torch.rand(2, 1, 28, 28)
    assert ann(x).shape == snn(x).shape == (2, 10)


def test_saved_memory_grows_with_T_and_fused_neurons_store_less():
    kwargs = dict(stem="cifar", width=8, in_channels=1, input_size=(28, 28))
    x = torch.rand(2, 1, 28, 28)
    reference = {"neuron_kwargs": {"fused": False}}  # SpikingJelly's nodes
    one, four = (saved_bytes(zoo.create_model("sew_resnet18", T=T, **kwargs, **reference), x) for T in (1, 4))
    assert 3.5 < four / one < 4.5  # BPTT keeps every step
    fused = saved_bytes(zoo.create_model("sew_resnet18", T=4, **kwargs), x)  # the default neurons
    assert fused < four


def test_sparse_suite_reports_both_ratios(monkeypatch):
    from zoo.bench import sparse

    rows = sparse.run(repeats=1, batch=8)
    assert [row["suite"] for row in rows] == ["sparse"] * (2 + 2 * len(sparse.FRACTIONS))
    assert all(row["ratio"] > 0 and "active" in row["case"] for row in rows)
    assert "autograd" in rows[0]["case"] and "dense products" in rows[1]["case"]
    for index, fraction in enumerate(sparse.FRACTIONS):
        pair = rows[2 + 2 * index:4 + 2 * index]
        assert all(f", {100 * fraction:g}% active" in row["case"] for row in pair)


def test_backend_suite_says_why_it_is_skipped_on_cpu(tmp_path):
    rows = run_suite("backend", repeats=1, device="cpu")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert rows[0]["case"].startswith("skipped: needs a CUDA GPU")
    assert "-  skipped" in format_rows(rows)
    machine = {"cpu": "x", "threads": 1, "torch": torch.__version__, "gpu": None}
    write_report({"command": "python -m zoo bench --suite backend", "rows": rows, "machine": machine}, tmp_path)
    assert "skipped" in (tmp_path / "bench.md").read_text()
    recorded = {"command": "python -m zoo bench --suite backend", "machine": machine}
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == [{**row, **recorded} for row in rows]


def test_a_suite_skipped_on_a_cpu_keeps_the_rows_a_gpu_measured(tmp_path):
    gpu = {"cpu": "x86_64", "cores": 16, "torch": "2.11", "gpu": "NVIDIA H100"}
    cpu = {"cpu": "x86_64", "cores": 2, "torch": "2.14", "gpu": None}
    write_report({"command": "python -m zoo bench --suite backend --device cuda", "machine": gpu,
                  "rows": [{"suite": "backend", "case": "lif", "ratio": 2.0}]}, tmp_path)
    write_report({"command": "python -m zoo bench", "machine": cpu,
                  "rows": [{"suite": "amp", "case": "a", "ratio": 1.5},
                           {"suite": "backend", "case": "skipped: needs a CUDA GPU"}]}, tmp_path)
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [(row["suite"], row["case"], row["machine"]["gpu"]) for row in rows] == [
        ("amp", "a", None), ("backend", "lif", "NVIDIA H100")]
    assert ("Written by `python -m zoo bench` on x86_64 (2 cores, torch 2.14); `python -m zoo bench --suite "
            "backend --device cuda` on x86_64 (16 cores, torch 2.11, NVIDIA H100)") in (tmp_path / "bench.md").read_text()


def test_writing_one_suite_keeps_the_other_suites_rows(tmp_path):
    machine = {"cpu": "x", "threads": 1, "torch": torch.__version__, "gpu": None}
    write_report({"command": "python -m zoo bench", "machine": machine,
                  "rows": [{"suite": "amp", "case": "a", "ratio": 1.5}, {"suite": "sparse", "case": "s", "ratio": 3.0}]},
                 tmp_path)
    write_report({"command": "python -m zoo bench --suite sparse", "machine": machine,
                  "rows": [{"suite": "sparse", "case": "s", "ratio": 4.0}]}, tmp_path)
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert rows == [{"suite": "amp", "case": "a", "ratio": 1.5, "command": "python -m zoo bench", "machine": machine},
                    {"suite": "sparse", "case": "s", "ratio": 4.0, "command": "python -m zoo bench --suite sparse",
                     "machine": machine}]
    assert "Written by `python -m zoo bench`, `python -m zoo bench --suite sparse` on x" in (tmp_path / "bench.md").read_text()


def test_a_suite_timed_in_another_arithmetic_keeps_the_rows_of_the_first(tmp_path):
    machine = {"cpu": "x", "threads": 1, "torch": torch.__version__, "gpu": None}
    command = "python -m zoo bench --suite memory_format"
    for precision, ratio in (("bfloat16 autocast", 1.5), ("float32", 1.1), ("float32", 1.2)):
        write_report({"command": command, "machine": machine,
                      "rows": [{"suite": "memory_format", "case": "net", "precision": precision, "ratio": ratio}]}, tmp_path)
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [(row["precision"], row["ratio"]) for row in rows] == [("float32", 1.2), ("bfloat16 autocast", 1.5)]


def test_conversion_suite_times_the_fast_path_against_the_plain_one(monkeypatch):
    from zoo.bench import conversion

    monkeypatch.setattr(conversion, "IMAGES", 8)
    rows = run_suite("conversion", repeats=1, device="cpu")
    assert [row["case"].rsplit("at ", 1)[1] for row in rows] == ["T=8: plain / fast evaluation",
                                                                  "T=32: plain / fast evaluation"]
    assert all(row["ratio"] > 0 and row["max_out_diff"] < 1e-4 for row in rows)


def test_cli_bench_json_and_unknown_suite(capsys):
    assert main(["bench", "--suite", "backend", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["command"] == "python -m zoo bench --suite backend" and result["rows"]
    assert main(["bench", "--suite", "speed"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "zoo: error: unknown bench suite 'speed'; choose from snn_vs_ann, amp, memory_format, optimizer, memory, allocator, sparse, backend, conversion, load, training, qcfs, cifar10"
    from zoo.bench import DEFAULT_SUITES, SUITES

    assert "cifar10" in SUITES and "cifar10" not in DEFAULT_SUITES  # seven full-size networks: only when named


def test_allocator_suite_times_both_mallocs_in_child_processes():
    from zoo.bench import allocator

    rows = allocator.run(repeats=1, batch=2, warmup=1, steps=1)
    assert [row["suite"] for row in rows] == ["allocator", "allocator"]
    step, memory = rows
    assert step["glibc_s"] > 0 and step["kept_s"] > 0 and step["ratio"] == step["glibc_s"] / step["kept_s"]
    assert memory["glibc_mb"] > 0 and memory["ratio"] == memory["kept_mb"] / memory["glibc_mb"]
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert [allocator.child(mode, 2, 0, 1)["kept"] for mode in ("glibc", "kept")] == [False, glibc]


def test_prediction_agreement_sees_what_bfloat16_rounds_away():
    from zoo.bench.amp import prediction_agreement

    close = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        close[1].weight.copy_(torch.tensor([[1.0], [1.001]]))  # class 1 in float32, a tie (class 0) in bfloat16
    images = torch.ones(4, 1, 1, 1)
    assert prediction_agreement(close, images, torch.bfloat16) == 0.0
    with torch.no_grad():
        close[1].weight.copy_(torch.tensor([[1.0], [2.0]]))
    assert prediction_agreement(close, images, torch.bfloat16) == 1.0


def test_amp_suite_times_both_precisions():
    from zoo.bench import amp

    [row] = amp.run(repeats=1, batch=2, check_images=20, pretrained=False, width=4)
    assert row["suite"] == "amp" and row["fp32_s"] > 0 and row["amp_s"] > 0 and row["ratio"] > 0
    assert 0.0 <= row["agreement"] <= 1.0 and "float32 / bfloat16 autocast" in row["case"]
    assert "paper's initialisation" in row["case"] and "of 20 " in row["case"]


@pytest.mark.parametrize("native_bfloat16", [True, False])
def test_memory_format_suite_times_both_layouts_from_the_same_weights(native_bfloat16, monkeypatch):
    from zoo.bench import memory_format
    from zoo.train import precision

    monkeypatch.setattr(precision, "native_cpu_bfloat16", lambda: native_bfloat16)
    # width 8: a narrower ResNet-20's float32 channels-last backward crashes oneDNN (zoo.train.memory_format)
    [row] = memory_format.run(repeats=1, networks=[("ann_resnet20", {"width": 8}, 2, (3, 32, 32))])
    arithmetic = "bfloat16 autocast" if native_bfloat16 else "float32"  # what train.amp: auto takes
    assert row["suite"] == "memory_format"
    assert row["case"].startswith(f"ann_resnet20 B=2 3x32x32: train step NCHW / channels-last in {arithmetic} (")
    assert row["nchw_s"] > 0 and row["channels_last_s"] > 0 and row["ratio"] > 0
    # bfloat16 moves both updates from float32's; channels-last no further than the default layout
    assert row["channels_last_from_float32"] < 1.5 * row["nchw_from_float32"] + 0.01
    if not native_bfloat16:  # float32: NCHW is the reference's very arithmetic, channels-last its rounding
        assert row["nchw_from_float32"] == 0.0 and row["channels_last_from_float32"] < 1e-2


def test_cifar10_suite_times_each_candidate_against_the_ann_and_trains_it():
    from zoo.bench import cifar10

    small = {"ann": ("ann_resnet20", {"width": 4}), "snn, T=2": ("stbp_cnn", {"T": 2, "in_channels": 3,
                                                                             "input_size": (32, 32)})}
    [row] = cifar10.run(repeats=1, batch=4, candidates=small)
    assert row["suite"] == "cifar10" and row["case"] == "snn, T=2: train step (B=4) / the ANN's"
    assert row["ratio"] > 0 and row["ann_s"] > 0 and row["epoch_h"] == pytest.approx(row["step_s"] * 45_000 / 4 / 3600)
    model = zoo.create_model("stbp_cnn", T=2, in_channels=3, input_size=(32, 32))
    before = [p.detach().clone() for p in model.parameters()]
    cifar10._train_step(model, torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,)))()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))  # a real optimizer step


def test_qcfs_suite_times_both_forms_and_relu_and_their_gradients_agree():
    from zoo.bench import qcfs

    graph_row, relu_row = qcfs.run(repeats=1, batch=4, width=4, input_size=(8, 8))
    assert graph_row["graph_s"] > 0 and graph_row["fused_s"] > 0 and relu_row["relu_s"] > 0
    assert graph_row["max_difference"] < 1e-5 and "op graph / fused" in graph_row["case"]
    assert relu_row["case"].endswith("fused QCFS / ReLU") and relu_row["ratio"] > 0


def test_optimizer_suite_times_foreach_against_fused_adam_on_the_same_update():
    from zoo.bench import optimizer

    [row] = optimizer.run(repeats=1, T=2, channels=4, hidden=32)
    assert row["suite"] == "optimizer" and row["foreach_s"] > 0 and row["fused_s"] > 0 and row["ratio"] > 0
    assert row["max_difference"] < 1e-6  # one float32 step: the two optimizers agree to rounding


def test_load_suite_times_each_policy_idle_and_loaded_and_leaves_no_neighbour(monkeypatch):
    import subprocess

    from zoo.bench import load

    calls = []
    monkeypatch.setattr(load, "_child_seconds", lambda policy, loaded: calls.append((policy, loaded)) or
                        (2.0 if loaded else 1.0))
    monkeypatch.setattr("zoo.bench.sparse.sweep", lambda repeats, fractions: [
        {"suite": "sparse", "case": f"x, {100 * fractions[0]:g}% active: dense / sparse backward", "ratio": 4.0}])
    rows = load.run(repeats=2)
    assert calls == [("PASSIVE", False), ("PASSIVE", True)] * 2 + [(None, False), (None, True)] * 2
    assert [row["ratio"] for row in rows] == [2.0, 2.0, 4.0] and all(row["suite"] == "load" for row in rows)
    assert "2% active" in rows[2]["case"] and rows[2]["case"].endswith("(a CPU-bound process beside it)")
    with load.cpu_bound_neighbour():
        busy = subprocess.run(["pgrep", "-f", "while True: pass"], capture_output=True, text=True).stdout.split()
    assert busy and not subprocess.run(["pgrep", "-f", "while True: pass"], capture_output=True, text=True).stdout


def test_live_saved_counts_what_a_graph_holds_until_its_backward():
    from zoo.bench.training import LiveSaved

    holder = torch.nn.Module()
    holder.weight = weight = torch.nn.Parameter(torch.ones(250))
    meter = LiveSaved(holder)  # parameters are not activations: not counted
    x = torch.rand(250, requires_grad=True)
    with meter.hooks():
        loss = (x.exp() * weight).sum()  # exp saves its 1000-byte output, the product it again
        assert meter.live == 1000
        loss.backward()
    assert meter.live == 0 and meter.peak == 1000


def test_training_suite_keeps_sltt_memory_flat_in_t_where_bptt_grows():
    from zoo.bench.training import iter_rows

    tiny = {"tiny plif": ("plif_net_mnist", {"channels": 4, "hidden": 16}, "mse")}
    rows = list(iter_rows(repeats=1, batch=2, steps=(4, 16), models=tiny))
    growth = {row["method"]: row["ratio"] for row in rows if row["measure"] == "growth"}
    assert growth["bptt"] > 3.0 and growth["sltt"] <= 1.5 and growth["sltt-k"] <= 1.5
    times = [row for row in rows if row["measure"] == "time"]
    assert len(times) == 4 and all(row["ratio"] > 0 for row in times)
    assert "SLTT-2 / BPTT step time" in format_rows(rows)


def test_measured_by_reads_each_rows_machine_without_a_file_wide_one():
    from zoo.bench import measured_by

    cpu = {"cpu": "x86_64", "cores": 2, "torch": "2.5"}
    gpu = {**cpu, "cores": 16, "gpu": "H200"}
    result = {"rows": [{"command": "zoo bench --suite speed", "machine": cpu},
                       {"command": "zoo bench --suite cupy", "machine": gpu}]}
    assert measured_by(result) == ("`zoo bench --suite speed` on x86_64 (2 cores, torch 2.5); "
                                   "`zoo bench --suite cupy` on x86_64 (16 cores, torch 2.5, H200)")
