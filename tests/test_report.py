"""The README's status table is generated from the recipes and cards, and is current."""
import json
import shutil

from conftest import REPO
from zoo.cli import main
from zoo.hub.report import END, START, render, update_readme


def test_the_readme_status_table_is_current(capsys):
    assert main(["report", "--check"]) == 0, "run python -m zoo report"
    assert "is current" in capsys.readouterr().out


def test_every_recipe_and_card_has_a_row():
    table = render()
    for recipe in REPO.glob("recipes/*.yaml"):
        assert f"`recipes/{recipe.name}`" in table
    for card in REPO.glob("weights/*.json"):
        meta = json.loads(card.read_text())
        assert f"`{meta['arch']}.{meta['tag']}`" in table and f"{meta['metrics']['acc1']:.2f}%" in table


def test_report_rewrites_a_stale_table(tmp_path):
    for folder in ("recipes", "weights"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / "README.md").write_text(f"intro\n{START}\nold table\n{END}\noutro\n")
    assert not update_readme(tmp_path, check=True)
    assert not update_readme(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("intro\n") and text.endswith("\noutro\n") and "old table" not in text
    assert update_readme(tmp_path, check=True)


def test_a_conversion_row_shows_the_ann_and_the_sweep(tmp_path):
    (tmp_path / "recipes").mkdir()
    shutil.copy(REPO / "recipes/ann_resnet20_fashion_mnist.yaml", tmp_path / "recipes")
    (tmp_path / "weights").mkdir()
    card = {"arch": "converted_resnet20", "tag": "x", "kwargs": {"width": 16, "T": 32}, "T": 32,
            "dataset": "fashion-mnist", "recipe": "recipes/ann_resnet20_fashion_mnist.yaml",
            "metrics": {"acc1": 91.5, "num_samples": 10000},
            "conversion": {"ann_acc1": 92.25, "per_T": {"4": {"calibrated": False, "state_T": 32, "acc1": 40.0},
                                                        "32": {"calibrated": True, "acc1": 91.5}}}}
    (tmp_path / "weights" / "converted_resnet20.x.json").write_text(json.dumps(card))
    row = [line for line in render(tmp_path).splitlines() if "converted_resnet20.x" in line][0]
    assert "91.50% (10,000); ANN 92.25%; T=4: 40.00% (the T=32 state), T=32: 91.50%" in row


def test_a_conversion_of_a_published_ann_names_it_and_says_it_was_not_calibrated(tmp_path):
    """The ANN weight converted, not the weight its own training continued; ``--calibrate none`` said once."""
    from zoo.hub.report import render_model_page

    (tmp_path / "recipes").mkdir()
    (tmp_path / "weights").mkdir()
    card = {"arch": "converted_resnet20", "tag": "y", "kwargs": {"width": 32, "T": 8}, "T": 8, "file": "y.safetensors",
            "dataset": "cifar10", "recipe": "recipes/gone.yaml", "finetuned_from": "ann_resnet20.leg2",
            "metrics": {"acc1": 86.6, "num_samples": 10000},
            "conversion": {"from": "ann_resnet20.leg3", "ann_acc1": 88.8, "calibrate": "none", "weight_steps": 0,
                           "per_T": {"8": {"calibrated": True, "acc1": 86.6},
                                     "32": {"calibrated": False, "state_T": 8, "acc1": 89.4}}}}
    (tmp_path / "weights" / "converted_resnet20.y.json").write_text(json.dumps(card))
    row = [line for line in render(tmp_path).splitlines() if "converted_resnet20.y" in line][0]
    assert "| `converted_resnet20` (width=32, from `ann_resnet20.leg3`) |" in row
    assert "86.60% (10,000); ANN 88.80%, no calibration; T=8: 86.60%, T=32: 89.40% (the T=8 state)" in row
    page = render_model_page(card, tmp_path)
    assert "| recipe | `recipes/gone.yaml`, converted from `ann_resnet20.leg3` |" in page and "leg2" not in page
    assert "samples (the ANN converted for T=8, no calibration)" in page and "| training | the ANN: " in page


def test_the_training_summary_names_a_step_budget_and_a_conversions_ann():
    from zoo.hub.report import training_summary

    trained = {"train": {"steps": 1200, "epochs": 3, "optimizer": "adam", "lr": 0.001}}
    assert training_summary(trained) == "1200 steps, adam lr 0.001"
    converted = {"train": {"epochs": 60, "optimizer": "sgd", "lr": 0.1}, "conversion": {"from": "ann.x"}}
    assert training_summary(converted) == "the ANN: 60 epochs, sgd lr 0.1"
    assert training_summary({}) == "- epochs, - lr -"


def test_a_calibrated_conversion_names_its_calibration():
    from zoo.hub.report import accuracy_protocol

    card = {"T": 8, "conversion": {"calibrate": "potential", "weight_steps": 1000, "calibration_images": 512}}
    assert accuracy_protocol(card) == ("the ANN converted for T=8, calibrated for it: "
                                       "potential calibration and 1000 weight steps on 512 training images")
    light = {"T": 8, "conversion": {"calibrate": "bias", "weight_steps": 0, "calibration_images": 512}}
    assert accuracy_protocol(light).endswith("calibrated for it: bias calibration on 512 training images")


def test_a_continued_run_names_the_weight_it_started_from(tmp_path):
    (tmp_path / "recipes").mkdir()
    shutil.copy(REPO / "recipes/sew_resnet18_fashion_mnist_long.yaml", tmp_path / "recipes")
    (tmp_path / "weights").mkdir()
    untrained = [line for line in render(tmp_path).splitlines() if "_long.yaml" in line][0]
    assert "| `sew_resnet18` (cnf=ADD, width=16, stem=cifar, neuron=if, from `sew_resnet18.fmnist_add_t4`) |" in untrained
    card = {"arch": "sew_resnet18", "tag": "long", "kwargs": {"cnf": "ADD", "T": 4}, "T": 4,
            "dataset": "fashion-mnist", "recipe": "recipes/sew_resnet18_fashion_mnist_long.yaml",
            "finetuned_from": "sew_resnet18.fmnist_add_t4", "metrics": {"acc1": 93.1, "num_samples": 10000}}
    (tmp_path / "weights" / "sew_resnet18.long.json").write_text(json.dumps(card))
    row = [line for line in render(tmp_path).splitlines() if "sew_resnet18.long`" in line][0]
    assert "| `sew_resnet18` (cnf=ADD, from `sew_resnet18.fmnist_add_t4`) |" in row and "93.10% (10,000)" in row


def test_the_bench_block_comes_from_the_results_file(tmp_path):
    from zoo.hub.report import BENCH_END, BENCH_START, render_bench

    assert "No benchmark results yet" in render_bench(tmp_path)
    (tmp_path / "docs" / "bench").mkdir(parents=True)
    result = {"command": "python -m zoo bench --suite sparse", "machine": {"cpu": "x86_64", "threads": 2,
                                                                          "torch": "2", "gpu": None},
              "rows": [{"suite": "sparse", "case": "layer 2", "ratio": 12.345},
                       {"suite": "backend", "case": "skipped: no GPU"}]}
    (tmp_path / "docs" / "bench" / "results.json").write_text(json.dumps(result))
    block = render_bench(tmp_path)
    assert block.startswith(BENCH_START) and block.endswith(BENCH_END)
    assert "| sparse | layer 2 | 12.35 |" in block and "| backend | skipped: no GPU | - |" in block
    assert "`python -m zoo bench --suite sparse --write docs/bench`" in block


def test_the_training_block_comes_from_the_bench_and_budget_results(tmp_path):
    from zoo.hub.report import render_training

    assert "Not measured yet" in render_training(tmp_path)
    (tmp_path / "docs" / "bench" / "training_budget").mkdir(parents=True)
    rows = [{"suite": "training", "model": "net", "method": method, "measure": measure, "T": T, "ratio": ratio,
             "case": f"{method} {measure} {T}"}
            for method, measure, T, ratio in (("sltt", "time", 8, 1.21), ("sltt-k", "time", 8, 0.62),
                                              ("sltt", "memory", 8, 0.3), ("sltt", "time", 4, 9.0),
                                              ("bptt", "growth", 16, 3.9), ("sltt", "growth", 16, 1.01),
                                              ("sltt-k", "growth", 16, 1.0))]
    (tmp_path / "docs" / "bench" / "results.json").write_text(json.dumps(
        {"command": "python -m zoo bench --suite training", "rows": rows,
         "machine": {"cpu": "x86_64", "cores": 2, "threads": 1, "torch": "2.14.1"}}))
    (tmp_path / "docs" / "bench" / "training_budget" / "results.json").write_text(json.dumps(
        {"budget_s": 600, "K": 2, "recipe": "r.yaml", "command": "python examples/gradient_budget.py",
         "rows": [{"method": "sltt-k", "steps": 2000, "test_acc1": 88.5, "test_images": 10000}]}))
    block = render_training(tmp_path, docs="docs/")
    assert "| net | 1.21x | 0.62x | 0.30x | 3.90x, 1.01x, 1.00x |" in block  # the T=8 rows, not T=4
    assert "| SLTT-2 | 2000 | 88.50% (10,000) |" in block and "(docs/bench/bench.md)" in block
    assert "(`python -m zoo bench --suite training --write docs/bench` on x86_64 (2 cores" in block


def test_the_memory_layout_block_comes_from_the_bench_rows(tmp_path):
    from zoo.hub.report import render_memory_format

    assert "Not measured yet" in render_memory_format(tmp_path)
    (tmp_path / "docs" / "bench").mkdir(parents=True)
    rows = [{"suite": "memory_format", "case": "net B=8 3x32x32: train step NCHW / channels-last (...)", "ratio": 1.414,
             "precision": "bfloat16 autocast", "nchw_from_float32": 0.168, "channels_last_from_float32": 0.1672},
            {"suite": "amp", "case": "other", "ratio": 2.0}]
    (tmp_path / "docs" / "bench" / "results.json").write_text(json.dumps(
        {"command": "python -m zoo bench --suite memory_format", "rows": rows,
         "machine": {"cpu": "x86_64", "cores": 2, "threads": 1, "torch": "2.14.1"}}))
    block = render_memory_format(tmp_path)
    assert "| net B=8 3x32x32 | bfloat16 autocast | 1.41x | 16.8%, 16.7% |" in block and "other" not in block
    assert "`python -m zoo bench --suite memory_format --write docs/bench` on x86_64 (2 cores" in block


def test_rows_name_the_neuron_and_the_task_a_recurrent_net_was_trained_on():
    rows = [line for line in render(REPO).splitlines() if "rsnn.recall_" in line]
    assert len(rows) == 2 and all("delayed-recall (delay=100)" in row for row in rows)
    assert any("`rsnn` (neuron=gif, hidden=[100])" in row for row in rows)
    assert any("`rsnn` (neuron=lif, hidden=[100])" in row for row in rows)


def test_a_row_names_both_protocols_where_the_paper_and_the_run_have_them(tmp_path):
    """The PLIF paper reports the best test epoch and the epoch chosen on held-out data; a run with
    ``test_every_epoch`` records the former beside the zoo's validation-chosen number."""
    (tmp_path / "recipes").mkdir()
    shutil.copy(REPO / "recipes/plif_net_fashion_mnist.yaml", tmp_path / "recipes")
    (tmp_path / "weights").mkdir()
    untrained = [line for line in render(tmp_path).splitlines() if "plif_net_fashion_mnist" in line][0]
    assert ("| 94.38% (fashion-mnist, best test epoch); 93.85% (epoch chosen on held-out data) | not trained yet |"
            in untrained)
    card = {"arch": "plif_net_mnist", "tag": "x", "kwargs": {"T": 8}, "T": 8, "dataset": "fashion-mnist",
            "recipe": "recipes/plif_net_fashion_mnist.yaml", "metrics": {"acc1": 93.4, "num_samples": 10000},
            "best_test_epoch": {"acc1": 93.61, "epoch": 27, "epochs_measured": 30}}
    (tmp_path / "weights" / "plif_net_mnist.x.json").write_text(json.dumps(card))
    row = [line for line in render(tmp_path).splitlines() if "plif_net_mnist.x`" in line][0]
    assert "| 93.40% (10,000); best test epoch 93.61% (epoch 27, 30 measured) |" in row


def test_a_weight_published_from_a_runs_last_checkpoint_says_it_is_the_final_weights():
    from zoo.hub.report import render_model_page

    card = json.loads((REPO / "weights" / "ann_resnet20.cifar10_qcfs_leg1.json").read_text())
    assert "(the epoch chosen on a held-out validation split, 10% of the training set)" in render_model_page(card)
    last = {**card, "train": {**card["train"], "best_epoch": None, "val_acc1": None}}
    assert "(the final weights)" in render_model_page(last)
    budget = {**card, "train": {**card["train"], "steps": 300}}  # validated every N steps, not every epoch
    assert "(the checkpoint chosen on a held-out validation split, 10% of the training set)" in render_model_page(budget)
    latest = {**card, "train": {**card["train"], "chosen": "latest", "val_acc1": 79.5}}
    assert ("(the weights of the leg's latest validation (79.50% on a held-out 10% of the training set), where the "
            "schedule's next leg goes on)") in render_model_page(latest)


def test_a_leg_that_shipped_its_latest_weights_says_so_in_the_table():
    from zoo.hub.legs import render_legs

    legs = [_leg("a", 60.0, epochs=4, schedule_epochs=30, schedule_from_epoch=17, best_epoch=3, chosen="latest",
                 val_acc1=59.0)]
    assert "| epochs 17-20 of a 30-epoch cosine schedule (peak lr 0.0005); shipped: epoch 20, the latest |" \
        in render_legs(legs, "spikformer_4_256.a")
    one_epoch = [_leg("a", 60.0, epochs=1, epochs_planned=4, schedule_epochs=30, schedule_from_epoch=0, best_epoch=0)]
    assert "| epoch 0 of a 30-epoch cosine schedule (peak lr 0.0005), stopped after 1 of 4 |" in render_legs(one_epoch, "spikformer_4_256.a")


def _leg(tag, acc1, finetuned_from=None, dataset="cifar10", **train):
    return {"arch": "spikformer_4_256", "tag": tag, "T": 1, "dataset": dataset, "finetuned_from": finetuned_from,
            "metrics": {"acc1": acc1, "num_samples": 10000},
            "train": {"lr": 5e-4, "schedule": "cosine", "val_fraction": 0.1, **train}}


def test_a_table_of_legs_follows_the_weights_each_leg_continued():
    from zoo.hub.legs import chain, end_marker, render_legs, start_marker

    cards = [_leg("b", 71.5, "spikformer_4_256.a", epochs=6, epochs_planned=7, schedule_epochs=60,
                  schedule_from_epoch=5, best_epoch=5, validation=[{"epoch": 0, "step": 1, "acc1": 61.44},
                                                                  {"epoch": 5, "step": 6, "acc1": 71.0}]),
             _leg("a", 60.31, epochs=5, schedule_epochs=60, schedule_from_epoch=0, best_epoch=4, val_acc1=59.12),
             _leg("c", 70.0, "spikformer_4_256.b", epochs=2),
             _leg("other_data", 99.0, "spikformer_4_256.b", dataset="fashion-mnist", epochs=1)]
    assert [card["tag"] for card in chain(cards, "spikformer_4_256.a")] == ["a", "b", "c"]
    table = render_legs(cards, "spikformer_4_256.a").splitlines()
    assert table[0] == start_marker("spikformer_4_256.a") and table[-1] == end_marker("spikformer_4_256.a")
    assert table[3] == ("| 1 | [`spikformer_4_256.a`](models/spikformer_4_256.a.md) | epochs 0-4 of a 60-epoch cosine "
                        "schedule (peak lr 0.0005); best: epoch 4 | best 59.12% | 60.31% of 10,000 at T=1 |")
    assert ("| epochs 5-10 of a 60-epoch cosine schedule (peak lr 0.0005), stopped after 6 of 7; best: epoch 10 | "
            "61.44 / 71.00% | **71.50% of 10,000 at T=1** |") in table[4]
    assert "| 2 epochs, lr 0.0005, cosine | - | 70.00% of 10,000 at T=1 |" in table[5] and len(table) == 9
    assert table[7].endswith("(img/legs_spikformer_4_256_a.png)")


def test_report_writes_a_table_of_legs_where_a_page_asks_for_it(tmp_path):
    from zoo.hub.legs import end_marker, start_marker

    (tmp_path / "weights").mkdir()
    (tmp_path / "docs").mkdir()
    for card in (_leg("a", 60.31, epochs=5), _leg("b", 71.5, "spikformer_4_256.a", epochs=6)):
        (tmp_path / "weights" / f"spikformer_4_256.{card['tag']}.json").write_text(json.dumps(card))
    page = tmp_path / "docs" / "transformers.md"
    page.write_text(f"text\n{start_marker('spikformer_4_256.a')}\nstale\n{end_marker('spikformer_4_256.a')}\nmore\n")
    assert not update_readme(tmp_path)
    text = page.read_text()
    assert "stale" not in text and "| 2 | [`spikformer_4_256.b`]" in text and text.endswith("\nmore\n")
    assert update_readme(tmp_path, check=True)


def test_a_run_record_keeps_every_validation_and_a_resumed_sessions_last_word(tmp_path):
    from zoo.hub.publish import _run_record

    events = [{"event": "start", "step": 0, "total_steps": 30, "device": "cpu", "versions": {}},
              {"event": "val", "epoch": 0, "step": 10, "acc1": 50.0, "best": 50.0},
              {"event": "val", "epoch": 1, "step": 20, "acc1": 55.0, "best": 55.0},
              {"event": "start", "step": 10, "total_steps": 30, "device": "cpu", "versions": {}},  # resumed
              {"event": "val", "epoch": 1, "step": 20, "acc1": 56.0, "best": 56.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert _run_record(tmp_path)["validation"] == [{"epoch": 0, "step": 10, "acc1": 50.0},
                                                   {"epoch": 1, "step": 20, "acc1": 56.0}]


def test_legs_stand_on_one_epoch_axis_where_their_schedules_put_them():
    """Legs with a schedule stand at their schedule_from_epoch; a leg without one, or the first leg of a new
    schedule, right after the leg before it; the test star at the epoch the weight was taken."""
    from zoo.hub.legs import positions

    own = _leg("a", 89.0, epochs=3, best_epoch=2, val_acc1=89.3)  # its own cosine: epochs 0-2
    new_schedule = _leg("b", 90.0, epochs=2, schedule_epochs=10, schedule_from_epoch=0, best_epoch=None,
                        validation=[{"epoch": 0, "acc1": 89.5}, {"epoch": 1, "acc1": 90.2}])
    inside = _leg("c", 91.0, epochs=3, schedule_epochs=10, schedule_from_epoch=2, best_epoch=0,
                  validation=[{"epoch": 0, "acc1": 91.5}, {"epoch": 1, "acc1": 91.4}, {"epoch": 2, "acc1": 91.3}])
    placed = positions([own, new_schedule, inside])
    assert placed[0] == {"name": "spikformer_4_256.a", "val": [(2, 89.3)], "test": (2, 89.0)}
    assert placed[1]["val"] == [(3, 89.5), (4, 90.2)] and placed[1]["test"] == (4, 90.0)  # final weights
    assert placed[2]["val"] == [(5, 91.5), (6, 91.4), (7, 91.3)] and placed[2]["test"] == (5, 91.0)


def test_report_draws_each_table_of_legs_a_figure(tmp_path):
    from zoo.hub.legs import end_marker, figure, start_marker

    (tmp_path / "weights").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "weights" / "spikformer_4_256.a.json").write_text(json.dumps(_leg("a", 60.31, epochs=5)))
    (tmp_path / "docs" / "transformers.md").write_text(f"{start_marker('spikformer_4_256.a')}\n{end_marker('spikformer_4_256.a')}\n")
    assert not update_readme(tmp_path, check=True)
    update_readme(tmp_path)
    image = tmp_path / "docs" / figure("spikformer_4_256.a")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({figure('spikformer_4_256.a')})" in \
        (tmp_path / "docs" / "transformers.md").read_text()
    assert update_readme(tmp_path, check=True)
