"""Data order: a seeded permutation per epoch, cut into global batches, each shared out across ranks.

Global batch b of epoch e is `permutation(seed, e)[b * B:(b + 1) * B]`; rank r of W takes its r-th contiguous
slice of B / W samples. So a run on W ranks sees exactly the samples a single process sees with the same
global batch, and a run resumed at batch b of epoch e continues with exactly the batches it would have had.
Training drops the incomplete last batch (every step has the same global batch); evaluation visits every
sample exactly once (rank r takes samples r, r + W, ...; ranks may get different batch counts).

Class balancing (SPOT): a dataset may offer per-frame sampling weights (`balanced_sampling_weights`); the
epoch's order is then a seeded weighted draw with replacement instead of a permutation, same length.

Several domains (PPT): a dataset that concatenates domains (`domain_sizes()`, `domain_ratios()`) is drawn by
`DomainBatches`: every global batch holds one domain, domains take turns in list order, `ratio` batches each,
and the epoch ends when the first domain has given all its batches (the others start a new permutation when
they run out), as Pointcept's `MultiDatasetDataloader`. Ranks slice each global batch as above, so all ranks
train the same domain in a step. Evaluation visits each domain's samples in batches of that domain only.

A sample that cannot be read (a `SpotInputError` or `OSError` from `dataset[i]`: a file whose size passed the
dataset's up-front check but whose content does not) never stops a run. Training reads the next sample in
index order in its place, up to `MAX_SUBSTITUTES` of them (as mmdetection's `_rand_another`, but not random),
so every step keeps its global batch; evaluation leaves it out. Which samples fail depends on the files alone,
so a resumed run substitutes exactly as the uninterrupted one. The loader yields `LoadedBatch`es that carry
the reasons (each naming its file) to a `SkippedSamples` tally: a warning the first time, a summary at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from spot.runtime.errors import SpotInputError

from .seeding import derive_seed, isolated_rng

log = logging.getLogger(__name__)
UNREADABLE = (SpotInputError, OSError)  # what reading a bad file raises
MAX_SUBSTITUTES = 8  # more unreadable samples in a row than this is a broken dataset or config: stop


class LoadedSample(NamedTuple):
    sample: Any  # None when neither it nor a substitute could be read
    problems: tuple[str, ...]  # why the samples tried before could not be read


class LoadedBatch(NamedTuple):
    batch: Any  # the task's collated batch of the samples read; None when there are none
    problems: tuple[str, ...]
    complete: bool  # every sample of the batch (or its substitute) was read


class SeededSamples(Dataset):
    """Wraps a dataset so that sample i of epoch e is drawn with the generators seeded from (seed, e, i), and a
    sample that cannot be read is replaced by the next of up to `substitutes` samples (0: left out)."""

    def __init__(self, dataset: Any, seed: int, epoch: int, substitutes: int = 0):
        self.dataset, self.seed, self.epoch, self.substitutes = dataset, seed, epoch, substitutes

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> LoadedSample:
        problems = []
        for attempt in range(self.substitutes + 1):
            try:
                with isolated_rng(derive_seed(self.seed, "sample", self.epoch, index)):
                    return LoadedSample(self.dataset[(index + attempt) % len(self.dataset)], tuple(problems))
            except UNREADABLE as problem:
                problems.append(str(problem))
        return LoadedSample(None, tuple(problems))


class CollateLoaded:
    """The task's `collate` over the samples that were read, with the reasons of those that were not."""

    def __init__(self, collate: Callable[[Sequence[Any]], Any]):
        self.collate = collate

    def __call__(self, loaded: Sequence[LoadedSample]) -> LoadedBatch:
        samples = [item.sample for item in loaded if item.sample is not None]
        problems = tuple(problem for item in loaded for problem in item.problems)
        return LoadedBatch(self.collate(samples) if samples else None, problems, len(samples) == len(loaded))


class SkippedSamples:
    """How many samples could not be read, by reason (each names its file); warns once per reason."""

    def __init__(self, purpose: str):
        self.purpose = purpose
        self.counts: dict[str, int] = {}

    def add(self, problems: Iterable[str]) -> None:
        for problem in problems:
            if problem not in self.counts:
                log.warning("%s: skipped a sample that cannot be read: %s", self.purpose, problem)
            self.counts[problem] = self.counts.get(problem, 0) + 1

    def summary(self, counts: dict[str, int] | None = None) -> str:
        """One line: how many, how many files, each reason with its count (of `counts`, default this tally's)."""
        counts = self.counts if counts is None else counts
        listed = "; ".join(f"{problem} ({count}x)" for problem, count in sorted(counts.items()))
        total = sum(counts.values())
        return f"{self.purpose} skipped {total} samples that could not be read ({len(counts)} files): {listed}"


def merge_counts(tallies: Iterable[dict[str, int]]) -> dict[str, int]:
    """Skip counts summed over tallies (every rank's, or a checkpoint's and this run's)."""
    merged: dict[str, int] = {}
    for tally in tallies:
        for problem, count in tally.items():
            merged[problem] = merged.get(problem, 0) + count
    return merged


class TrainBatches(Sampler[list[int]]):
    """This rank's share of every global batch of one epoch, starting at global batch `start`."""

    def __init__(
        self,
        num_samples: int,
        global_batch: int,
        seed: int,
        epoch: int,
        rank: int,
        world: int,
        start: int = 0,
        weights: Sequence[float] | None = None,
    ):
        if global_batch % world:
            raise SpotInputError(
                f"train.batch_size = {global_batch} must be divisible by the number of processes ({world})"
            )
        if num_samples < global_batch:
            raise SpotInputError(f"the training set has {num_samples} samples, fewer than one batch ({global_batch})")
        self.num_samples, self.global_batch, self.seed, self.epoch = num_samples, global_batch, seed, epoch
        self.rank, self.world, self.start = rank, world, start
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        if self.weights is not None and self.weights.shape != (num_samples,):
            raise SpotInputError(f"{self.weights.numel()} sampling weights for {num_samples} samples")

    def __len__(self) -> int:
        return batches_per_epoch(self.num_samples, self.global_batch) - self.start

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "order", self.epoch))
        if self.weights is None:
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator).tolist()
        share = self.global_batch // self.world
        for batch in range(self.start, batches_per_epoch(self.num_samples, self.global_batch)):
            first = batch * self.global_batch + self.rank * share
            yield order[first : first + share]


class DomainBatches(Sampler[list[int]]):
    """This rank's share of every single-domain global batch of one epoch, from global batch `start`.

    Domains are contiguous index blocks of `sizes`; domain d's k-th batch is slice k % (n_d // B) of its
    permutation number k // (n_d // B), seeded by (seed, epoch, d, that number).
    """

    def __init__(self, sizes: Sequence[int], ratios: Sequence[int], global_batch: int, seed: int, epoch: int,
                 rank: int, world: int, start: int = 0):  # fmt: skip
        if global_batch % world:
            raise SpotInputError(
                f"train.batch_size = {global_batch} must be divisible by the number of processes ({world})"
            )
        short = [d for d, size in enumerate(sizes) if size < global_batch]
        if short:
            raise SpotInputError(f"domain {short[0]} has {sizes[short[0]]} samples, fewer than one batch "
                                 f"({global_batch}): every batch holds one domain")  # fmt: skip
        self.sizes, self.ratios, self.global_batch = list(sizes), list(ratios), global_batch
        self.seed, self.epoch, self.rank, self.world, self.start = seed, epoch, rank, world, start
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int).tolist()
        self.schedule = domain_schedule(self.sizes, self.ratios, global_batch)

    def __len__(self) -> int:
        return len(self.schedule) - self.start

    def __iter__(self) -> Iterator[list[int]]:
        share = self.global_batch // self.world
        orders: dict[tuple[int, int], list[int]] = {}
        for domain, k in self.schedule[self.start :]:
            per_order = self.sizes[domain] // self.global_batch
            key = (domain, k // per_order)
            if key not in orders:
                generator = torch.Generator().manual_seed(derive_seed(self.seed, "order", self.epoch, *key))
                orders[key] = torch.randperm(self.sizes[domain], generator=generator).tolist()
            first = (k % per_order) * self.global_batch + self.rank * share
            yield [self.offsets[domain] + i for i in orders[key][first : first + share]]


def domain_schedule(sizes: Sequence[int], ratios: Sequence[int], global_batch: int) -> list[tuple[int, int]]:
    """(domain, its batch number) of each global batch of an epoch: rounds of `ratios[d]` batches per domain,
    until the first domain's n_0 // B batches are used (Pointcept's length: n0 // r0 * sum(r) + n0 % r0)."""
    first = sizes[0] // global_batch
    rounds, rest = divmod(first, ratios[0])
    schedule, taken = [], [0] * len(sizes)
    for domain in [d for _ in range(rounds) for d, r in enumerate(ratios) for _ in range(r)] + [0] * rest:
        schedule.append((domain, taken[domain]))
        taken[domain] += 1
    return schedule


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


class DomainEvalBatches(Sampler[list[int]]):
    """`EvalBatches` within each domain's block of indices, so that every batch holds one domain."""

    def __init__(self, sizes: Sequence[int], batch_size: int, rank: int, world: int):
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
        self.parts = [
            (offset, EvalBatches(size, batch_size, rank, world)) for offset, size in zip(offsets, sizes, strict=True)
        ]

    def __len__(self) -> int:
        return sum(len(batches) for _, batches in self.parts)

    def __iter__(self) -> Iterator[list[int]]:
        for offset, batches in self.parts:
            for batch in batches:
                yield [offset + i for i in batch]


def train_batches(dataset: Any, global_batch: int, seed: int, epoch: int, rank: int, world: int, start: int = 0,
                  weights: Sequence[float] | None = None) -> Sampler[list[int]]:  # fmt: skip
    """The epoch's batches for `dataset`: `DomainBatches` when it concatenates domains, else `TrainBatches`."""
    if not hasattr(dataset, "domain_sizes"):
        return TrainBatches(len(dataset), global_batch, seed, epoch, rank, world, start, weights)
    if weights is not None:
        raise SpotInputError("class-balanced sampling is not available across domains (each batch is one domain)")
    return DomainBatches(dataset.domain_sizes(), dataset.domain_ratios(), global_batch, seed, epoch, rank, world,
                         start)  # fmt: skip


def eval_batches(dataset: Any, batch_size: int, rank: int, world: int) -> Sampler[list[int]]:
    """Every sample once; one domain per batch when `dataset` concatenates domains."""
    if hasattr(dataset, "domain_sizes"):
        return DomainEvalBatches(dataset.domain_sizes(), batch_size, rank, world)
    return EvalBatches(len(dataset), batch_size, rank, world)


def epoch_length(dataset: Any, global_batch: int) -> int:
    """Global batches in one training epoch of `dataset`."""
    if hasattr(dataset, "domain_sizes"):
        return len(domain_schedule(dataset.domain_sizes(), dataset.domain_ratios(), global_batch))
    return batches_per_epoch(len(dataset), global_batch)


def balanced_sampling_weights(frame_groups: Sequence[np.ndarray], num_groups: int) -> np.ndarray:
    """SPOT's class (or dataset) balancing: float64 (m,) sampling weight per frame, summing to m.

    For groups i (classes, or datasets) with n_i of the m frames containing group i, group i's ratio is
    s_i = sqrt(m / n_i): rare groups are drawn more, but only by the square root, so common ones are not
    starved. A frame weighs the largest ratio among its groups; a frame with none of them weighs 1.
    """
    m = len(frame_groups)
    if m == 0:
        raise ValueError("balanced_sampling_weights() needs at least one frame")
    presence = np.zeros((m, num_groups), dtype=bool)
    for frame, groups in enumerate(frame_groups):
        groups = np.unique(np.asarray(groups, dtype=np.int64))
        presence[frame, groups[(groups >= 0) & (groups < num_groups)]] = True
    n = presence.sum(axis=0)
    ratio = np.where(n > 0, np.sqrt(m / np.maximum(n, 1)), 0.0)
    weights = np.where(presence.any(axis=1), (presence * ratio).max(axis=1), 1.0)
    return weights * (m / weights.sum())


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
    substitutes: int = 0,
) -> DataLoader:
    """A DataLoader of `LoadedBatch`es over `batches` whose samples are seeded per (seed, epoch, index).

    It gets its own generator, so starting an epoch never draws from the training generators.
    """
    return DataLoader(
        SeededSamples(dataset, seed, epoch, substitutes),
        batch_sampler=batches,
        collate_fn=CollateLoaded(collate),
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(derive_seed(seed, "loader", epoch)),
    )
