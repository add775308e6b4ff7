"""Data order: a seeded permutation per epoch, cut into global batches, each shared out across ranks.

Global batch b of epoch e is `permutation(seed, e)[b * B:(b + 1) * B]`; rank r of W takes its r-th contiguous
slice of B / W samples. So a run on W ranks sees exactly the samples a single process sees with the same
global batch, and a run resumed at batch b of epoch e continues with exactly the batches it would have had.
Training drops the incomplete last batch (every step has the same global batch); evaluation visits every
sample exactly once (rank r takes samples r, r + W, ...; ranks may get different batch counts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from spot.runtime.errors import SpotInputError

from .seeding import derive_seed, isolated_rng


class SeededSamples(Dataset):
    """Wraps a dataset so that sample i of epoch e is drawn with the generators seeded from (seed, e, i)."""

    def __init__(self, dataset: Any, seed: int, epoch: int):
        self.dataset, self.seed, self.epoch = dataset, seed, epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with isolated_rng(derive_seed(self.seed, "sample", self.epoch, index)):
            return self.dataset[index]


class TrainBatches(Sampler[list[int]]):
    """This rank's share of every global batch of one epoch, starting at global batch `start`."""

    def __init__(self, num_samples: int, global_batch: int, seed: int, epoch: int, rank: int, world: int, start=0):
        if global_batch % world:
            raise SpotInputError(
                f"train.batch_size = {global_batch} must be divisible by the number of processes ({world})"
            )
        if num_samples < global_batch:
            raise SpotInputError(f"the training set has {num_samples} samples, fewer than one batch ({global_batch})")
        self.num_samples, self.global_batch, self.seed, self.epoch = num_samples, global_batch, seed, epoch
        self.rank, self.world, self.start = rank, world, start

    def __len__(self) -> int:
        return batches_per_epoch(self.num_samples, self.global_batch) - self.start

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "order", self.epoch))
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        share = self.global_batch // self.world
        for batch in range(self.start, batches_per_epoch(self.num_samples, self.global_batch)):
            first = batch * self.global_batch + self.rank * share
            yield order[first : first + share]


class EvalBatches(Sampler[list[int]]):
    """Every sample once, in order: rank r takes samples r, r + W, r + 2W, ... in batches of `batch_size`."""

    def __init__(self, num_samples: int, batch_size: int, rank: int, world: int):
        self.indices = list(range(rank, num_samples, world))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for first in range(0, len(self.indices), self.batch_size):
            yield self.indices[first : first + self.batch_size]


def batches_per_epoch(num_samples: int, global_batch: int) -> int:
    return num_samples // global_batch


def make_loader(
    dataset: Any,
    batches: Sampler[list[int]],
    collate: Callable[[Sequence[Any]], Any],
    seed: int,
    epoch: int,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader:
    """A DataLoader over `batches` whose samples are seeded per (seed, epoch, index).

    It gets its own generator, so starting an epoch never draws from the training generators.
    """
    return DataLoader(
        SeededSamples(dataset, seed, epoch),
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(derive_seed(seed, "loader", epoch)),
    )
