"""Data-parallel training under ``torchrun``: every process takes its share of each global batch (the
zoo's seeded batch order is the same in every process, so no sampler state is needed), gradients are
averaged by ``DistributedDataParallel``, and only rank 0 logs, validates and writes checkpoints.
With one process (no ``WORLD_SIZE``) everything here is a no-op."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device_type: str) -> "Distributed":
        """The process group torchrun describes in the environment (gloo on CPU, NCCL on CUDA)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def shard(self, batch: list[int]) -> list[int]:
        """This process's contiguous share of a global batch (sizes differ by at most one)."""
        if not self.enabled:
            return batch
        size, extra = divmod(len(batch), self.world)
        start = self.rank * size + min(self.rank, extra)
        return batch[start: start + size + (self.rank < extra)]

    def any(self, flag: bool) -> bool:
        """True in every process if it is True in one (so all stop at the same step)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Destroy the process group once no collective is left. A process that exits with the group alive
        leaves gloo's worker threads holding tensors that the interpreter's finalisation then frees without
        the GIL: an abort (SIGABRT) after the work is done, now and then."""
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


class StepsModule(nn.Module):
    """``forward`` = the model's ``forward_steps``, so DDP wraps the call the trainer makes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_steps(x)
