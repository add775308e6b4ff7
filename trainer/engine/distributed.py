"""Data-parallel context: one process per device, started by `torchrun` (which sets WORLD_SIZE, RANK, ...).

Without `torchrun` this is a world of one and nothing is initialised. gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from spot.runtime.errors import SpotInputError


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def start(device: str) -> Distributed:
    """Pick the device (`auto`, `cpu`, `cuda`) and join the process group when launched by `torchrun`."""
    if device == "cuda" and not torch.cuda.is_available():
        raise SpotInputError(f"`train.device` = 'cuda' but torch {torch.__version__} finds no CUDA device here "
                             "(set train.device=auto or cpu)")  # fmt: skip
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    chosen = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=chosen if use_cuda else None)
    return Distributed(rank, world_size, chosen)


def stop(context: Distributed) -> None:
    """Leave the process group once every rank is done: a rank that tears gloo down while another still
    writes its last checkpoint can abort ("terminate called without an active exception")."""
    if context.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(tensors: dict[str, torch.Tensor], context: Distributed) -> dict[str, torch.Tensor]:
    """Sum every tensor over the ranks (in one collective per tensor, in sorted key order on every rank)."""
    if not context.active:
        return tensors
    summed = {}
    for key in sorted(tensors):
        value = tensors[key].detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        summed[key] = value
    return summed


def gather_objects(value: Any, context: Distributed) -> list[Any]:
    """Every rank's `value`, in rank order (a list of one without `torchrun`)."""
    if not context.active:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered
