"""A training run killed with SIGKILL at a random moment loses at most the steps since its last
checkpoint: resumed, it ends with exactly the weights of an uninterrupted run."""
import os
import random
import signal
import subprocess
import sys
import time

import torch
import yaml

from conftest import REPO
from zoo.train.checkpoint import load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # same arithmetic in every process


def _recipe(tmp_path, fmnist_root):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name": "stbp_cnn", "kwargs": {"T": 4}},
        "data": {"name": "fashion-mnist", "root": str(fmnist_root), "val_fraction": 0.2},
        "train": {"epochs": 4, "batch_size": 20, "eval_batch_size": 50, "loss": "mse", "lr": 5e-3,
                  "checkpoint_every": 2},
    }))
    return path


def _zoo(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "zoo", *args], cwd=REPO, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, fmnist_root):
    recipe = _recipe(tmp_path, fmnist_root)
    straight = _zoo("train", str(recipe), "--out", str(tmp_path / "straight"))
    assert straight.wait(600) == 0, straight.stderr.read()

    total = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")["step"]
    # killed as soon as a checkpoint at or past a random step in the first half appears: waiting on the
    # checkpoint itself, not on a delay, so a loaded machine cannot let the run finish first
    target = random.Random(os.getpid()).randint(2, total // 2)
    killed = _zoo("train", str(recipe), "--out", str(tmp_path / "killed"))
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    deadline = time.time() + 600
    while killed.poll() is None and time.time() < deadline:
        if last.exists() and load_checkpoint(last)["step"] >= target:
            break
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait(60)
    reached = load_checkpoint(last)["step"]
    assert killed.returncode == -signal.SIGKILL and target <= reached < total

    resumed = _zoo("train", "--resume", str(tmp_path / "killed"))
    assert resumed.wait(600) == 0, resumed.stderr.read()
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    b = load_checkpoint(last)
    assert a["step"] == b["step"] == total
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_sigterm_and_sigint_save_a_checkpoint_and_exit_cleanly(tmp_path, fmnist_root):
    """Stopped before its first validation (SIGTERM) or after it (SIGINT): the run saves a checkpoint, and where
    it has a best checkpoint it writes that checkpoint's activity plots as a finished run does (the run is no leg
    of a longer schedule, so best.pt is what it publishes)."""
    recipe = _recipe(tmp_path, fmnist_root)
    for sig, waited_for in ((signal.SIGTERM, "last.pt"), (signal.SIGINT, "best.pt")):
        out = tmp_path / sig.name
        run = subprocess.Popen([sys.executable, "-m", "zoo", "train", str(recipe), "--out", str(out)], cwd=REPO,
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        last = out / "checkpoints" / "last.pt"
        deadline = time.time() + 600
        while not (out / "checkpoints" / waited_for).exists() and run.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        run.send_signal(sig)
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0 and "Traceback" not in stderr, stderr
        state = load_checkpoint(last)
        assert f"stopped at step {state['step']}/" in stdout and "continue with: python -m zoo train --resume" in stdout
        events = (out / "metrics.jsonl").read_text()
        assert '"interrupted": true' in events
        has_best = (out / "checkpoints" / "best.pt").exists()
        assert has_best or sig == signal.SIGTERM
        assert (out / "firing_rates.png").is_file() == (out / "confusion.png").is_file() == has_best
