"""``zoo train`` under torchrun: two CPU processes (gloo) with the same global batch end with the weights
of the single-process run; only rank 0 writes the run folder; the run resumes."""
import os
import subprocess
import sys

import torch
import yaml

from conftest import REPO
from zoo.train.checkpoint import load_checkpoint
from zoo.train.distributed import Distributed

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _recipe(tmp_path, fmnist_root):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({  # direct input: no random encoding that would differ between processes
        "model": {"name": "stbp_cnn", "kwargs": {"T": 2, "encoding": "direct"}},
        "data": {"name": "fashion-mnist", "root": str(fmnist_root), "val_fraction": 0.2},
        # SGD: its update is linear in the gradient, so the rounding of a sum over two processes stays
        # at rounding level (Adam divides by sqrt(v) and would magnify it where gradients are tiny)
        "train": {"epochs": 1, "batch_size": 20, "loss": "ce", "optimizer": "sgd", "lr": 0.05, "checkpoint_every": 2},
    }))
    return path


def _run(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, fmnist_root):
    recipe = _recipe(tmp_path, fmnist_root)
    _run("-m", "zoo", "train", str(recipe), "--out", str(tmp_path / "single"), "--max-steps", "4")
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "zoo", "train"]
    _run(*launcher, str(recipe), "--out", str(tmp_path / "ddp"), "--max-steps", "2")
    _run(*launcher, "--resume", str(tmp_path / "ddp"), "--max-steps", "4")
    single = load_checkpoint(tmp_path / "single" / "checkpoints" / "last.pt")
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert single["step"] == ddp["step"] == 4
    for key, value in single["model"].items():
        assert torch.allclose(value, ddp["model"][key], atol=1e-6), key
    events = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert sum('"event": "start"' in line for line in events) == 2  # one per launch: rank 0 only


def test_shards_cover_the_global_batch_once():
    batch = list(range(11))
    shards = [Distributed(rank, 3).shard(batch) for rank in range(3)]
    assert sum(shards, []) == batch and [len(s) for s in shards] == [4, 4, 3]
    assert Distributed().shard(batch) == batch


def test_every_rank_destroys_its_process_group_on_close(tmp_path):
    script = tmp_path / "close.py"
    script.write_text(  # a file a rank: the ranks' prints to one stdout can interleave
        "import sys\n"
        "import torch.distributed as dist\n"
        "from zoo.train.distributed import Distributed\n"
        "group = Distributed.from_env('cpu')\n"
        "assert dist.is_initialized()\n"
        "group.close()\n"
        "open(f'{sys.argv[1]}/rank{group.rank}.txt', 'w').write(str(dist.is_initialized()))\n")
    _run("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path))
    assert [(tmp_path / f"rank{rank}.txt").read_text() for rank in (0, 1)] == ["False", "False"]
    Distributed().close()  # one process: nothing to destroy
