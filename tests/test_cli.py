import subprocess
import sys

import pytest

import zoo

from conftest import REPO
from zoo.cli import main, resume_hint


def run_cli(*args, env=None):
    """The CLI as a user runs it: a separate process, its exit code and its two streams."""
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env)


def test_list_and_info(capsys):
    assert main(["list"]) == 0
    assert "stbp_cnn" in capsys.readouterr().out
    assert main(["info", "stbp_cnn"]) == 0
    assert "Spatio-Temporal Backpropagation" in capsys.readouterr().out


def test_info_says_how_a_converted_weights_number_was_obtained_and_whose_training_it_was(capsys):
    card = zoo.get_weights("converted_resnet20.cifar10_w32_qcfs").meta
    assert main(["info", "converted_resnet20.cifar10_w32_qcfs"]) == 0
    out = capsys.readouterr().out
    assert f"test samples (the ANN converted for T={card['T']}, no calibration)" in out
    ann = card["train"]
    assert (f"  trained    the ANN: {ann['epochs']} epochs (from epoch {ann['schedule_from_epoch']} of a "
            f"{ann['schedule_epochs']}-epoch schedule), {ann['optimizer']} lr {ann['lr']}, recipe {card['recipe']}") in out


def test_unknown_model_is_one_line_exit_2():
    result = run_cli("info", "stbp_cn")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zoo: error: unknown model 'stbp_cn'; did you mean stbp_cnn")
    assert lines[0].endswith("(`python -m zoo list` shows all)")
    assert "Traceback" not in result.stderr


def test_eval_of_a_published_weight(use_weights, fmnist_root, capsys):
    assert main(["eval", "stbp_cnn.tiny", "--root", str(fmnist_root), "--limit", "40"]) == 0
    out = capsys.readouterr().out
    assert "stbp_cnn.tiny on fashion-mnist test: acc1" in out and "/40)" in out
    first = out.splitlines()[0]  # which file was evaluated, before the evaluation starts
    assert first.startswith("stbp_cnn.tiny: ") and "stbp_cnn.tiny-" in first and first.count(".safetensors") == 1


def test_corrupt_weight_is_one_line_exit_1(tiny_weights, tmp_path, fmnist_root):
    import os
    import shutil

    folder = tmp_path / "w"
    shutil.copytree(tiny_weights, folder)
    path = next(folder.glob("*.safetensors"))
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    result = run_cli("eval", "stbp_cnn.tiny", "--root", str(fmnist_root),
                     env={**os.environ, "ZOO_WEIGHTS": str(folder)})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and path.name in lines[0] and "corrupt" in lines[0]


def test_train_refuses_to_overwrite_a_run_and_resumes(tmp_path, fmnist_root, capsys):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "model: {name: stbp_cnn, kwargs: {T: 2, width: 4, hidden: 16}}\n"
        f"data: {{name: fashion-mnist, root: '{fmnist_root}'}}\n"
        "train: {epochs: 1, batch_size: 30, loss: mse}\n")
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out), "--max-steps", "2"]) == 0
    assert "continue with: python -m zoo train --resume" in capsys.readouterr().out

    assert main(["train", str(recipe), "--out", str(out)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(out)]) == 0
    assert "finished" in capsys.readouterr().out


def test_bad_set_is_a_usage_error(capsys):
    assert main(["train", str(REPO / "recipes/stbp_fashion_mnist.yaml"), "--set", "train.batchsize=3"]) == 2
    assert "did you mean batch_size" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["train"], ["nonsense"]])
def test_argument_errors_exit_2(args):
    assert run_cli(*args).returncode == 2


def test_resume_cannot_change_the_config(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--set", "train.lr=1"]) == 2
    assert "cannot change it" in capsys.readouterr().err


def test_debug_works_after_the_subcommand_too():
    result = run_cli("info", "stbp_cn", "--debug")
    assert "Traceback" in result.stderr and "UnknownModelError" in result.stderr


def test_a_closed_pipe_ends_quietly():
    """`zoo info NAME | head -1`: the reader leaves early; no error message, exit 0."""
    process = subprocess.Popen([sys.executable, "-m", "zoo", "info", "stbp_cnn"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()
    assert process.wait(60) == 0
    assert process.stderr.read() == b""


def test_a_recipe_that_is_not_a_mapping_is_one_line(tmp_path):
    recipe = tmp_path / "string.yaml"
    recipe.write_text("just a string\n")
    result = run_cli("train", str(recipe))
    assert result.returncode == 2
    assert result.stderr.strip() == f"zoo: error: recipe {recipe} must be a mapping of sections (model, data, train), got a str"


def test_log_lines_print_once_when_a_dependency_configured_the_root_logger():
    script = ("import logging; logging.basicConfig(level=logging.INFO); from zoo.cli import main; "
              "main(['list']); logging.getLogger('zoo').info('a zoo message')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stderr.count("a zoo message") == 1


def test_the_resume_hint_under_torchrun_comes_from_the_first_process_with_torchrun(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert resume_hint(tmp_path) is None
    monkeypatch.setenv("RANK", "0")
    assert resume_hint(tmp_path) == f"continue with: torchrun --nproc_per_node 2 -m zoo train --resume {tmp_path}"
