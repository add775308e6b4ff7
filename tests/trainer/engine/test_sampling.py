"""Data order: ranks split each global batch, resuming skips exactly the consumed batches."""

from __future__ import annotations

import numpy as np
import pytest

from spot.runtime.errors import SpotInputError
from spot.trainer.engine.sampling import (
    DomainBatches,
    DomainEvalBatches,
    EvalBatches,
    SeededSamples,
    TrainBatches,
    balanced_sampling_weights,
    domain_schedule,
)


def test_ranks_share_out_exactly_the_single_process_batches():
    single = list(TrainBatches(50, 8, seed=1, epoch=2, rank=0, world=1))
    ranks = [list(TrainBatches(50, 8, seed=1, epoch=2, rank=r, world=2)) for r in range(2)]
    assert len(single) == 6  # 50 // 8, the incomplete batch dropped
    assert [a + b for a, b in zip(*ranks, strict=True)] == single
    assert list(TrainBatches(50, 8, seed=1, epoch=3, rank=0, world=1)) != single


def test_resuming_at_batch_k_continues_with_the_same_batches():
    full = list(TrainBatches(40, 4, seed=0, epoch=0, rank=0, world=1))
    resumed = TrainBatches(40, 4, seed=0, epoch=0, rank=0, world=1, start=3)
    assert len(resumed) == 7 and list(resumed) == full[3:]


def test_bad_batch_sizes_are_explained():
    with pytest.raises(SpotInputError, match="must be divisible by the number of processes"):
        TrainBatches(40, 5, seed=0, epoch=0, rank=0, world=2)
    with pytest.raises(SpotInputError, match="fewer than one batch"):
        TrainBatches(3, 4, seed=0, epoch=0, rank=0, world=1)


def test_evaluation_visits_every_sample_once():
    batches = [b for r in range(3) for b in EvalBatches(10, 2, rank=r, world=3)]
    assert sorted(i for b in batches for i in b) == list(range(10))


class RandomDraw:
    def __len__(self):
        return 5

    def __getitem__(self, index):
        return np.random.random()  # noqa: NPY002 (the global generator is what is seeded)


def test_samples_are_seeded_by_epoch_and_index_and_leave_the_global_generator_alone():
    np.random.seed(7)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    data = SeededSamples(RandomDraw(), seed=0, epoch=0)
    first = [data[i].sample for i in range(5)]
    assert [data[i].sample for i in reversed(range(5))] == first[::-1]
    assert SeededSamples(RandomDraw(), seed=0, epoch=1)[0].sample != first[0]
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_balanced_weights_hand_computed():
    # 4 frames: class 0 in three of them, class 1 only in frame 3; frame 2 has no listed class.
    frames = [np.array([0]), np.array([0, 0]), np.array([], np.int64), np.array([0, 1])]
    raw = np.array([np.sqrt(4 / 3), np.sqrt(4 / 3), 1.0, 2.0])  # sqrt(m / n_i), max over the frame's classes
    np.testing.assert_allclose(balanced_sampling_weights(frames, 2), raw * 4 / raw.sum())
    with pytest.raises(ValueError, match="at least one frame"):
        balanced_sampling_weights([], 3)


def test_weighted_order_draws_rare_frames_more_and_is_reproducible():
    frames = [np.array([0])] * 90 + [np.array([0, 1])] * 10
    weights = balanced_sampling_weights(frames, 2)
    draws = [
        i for epoch in range(20) for batch in TrainBatches(100, 10, 0, epoch, 0, 1, weights=weights) for i in batch
    ]
    # sqrt(100/10) = 3.16 vs 1: expected share of the rare frames 31.6 / (90 + 31.6) = 0.26.
    assert 0.22 < np.mean(np.array(draws) >= 90) < 0.30
    first, again = (list(TrainBatches(100, 10, 0, 3, 0, 1, weights=weights)) for _ in range(2))
    assert first == again


def domain_of(index: int, sizes: list[int]) -> int:
    return int(np.searchsorted(np.cumsum(sizes), index, side="right"))


def test_every_global_batch_holds_one_domain_in_round_robin_order():
    sizes = [20, 13, 30]  # domain 0 sets the epoch: 20 // 4 = 5 batches
    batches = list(DomainBatches(sizes, [1, 1, 1], 4, seed=0, epoch=0, rank=0, world=1))
    domains = [{domain_of(i, sizes) for i in batch} for batch in batches]
    assert all(len(d) == 1 for d in domains)
    assert [d.pop() for d in domains] == [0, 1, 2] * 5
    first = sorted(i for batch in batches[::3] for i in batch)
    assert first == list(range(20))  # the first domain's frames, each once per epoch
    # domain 1 has 13 // 4 = 3 batches per permutation: its 4th and 5th batches start a new permutation
    assert len({i for batch in batches[1::3][:3] for i in batch}) == 12


def test_ratios_and_pointcepts_epoch_length():
    sizes = [40, 40]
    order = [domain_of(b[0], sizes) for b in DomainBatches(sizes, [2, 1], 8, seed=0, epoch=0, rank=0, world=1)]
    assert order == [0, 0, 1, 0, 0, 1, 0]  # 5 batches of domain 0: 5 // 2 * 3 + 5 % 2
    assert domain_schedule([40, 40], [2, 1], 8)[-2:] == [(1, 1), (0, 4)]


def test_domain_batches_on_two_ranks_are_the_single_process_batches_and_resume_exactly():
    sizes, ratios = [30, 22], [1, 2]
    single = list(DomainBatches(sizes, ratios, 6, seed=3, epoch=1, rank=0, world=1))
    ranks = [list(DomainBatches(sizes, ratios, 6, seed=3, epoch=1, rank=r, world=2)) for r in range(2)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == single
    for a, b in zip(*ranks, strict=True):
        assert domain_of(a[0], sizes) == domain_of(b[0], sizes)  # both ranks train the same domain in a step
    resumed = DomainBatches(sizes, ratios, 6, seed=3, epoch=1, rank=0, world=1, start=4)
    assert len(resumed) == len(single) - 4 and list(resumed) == single[4:]
    assert list(DomainBatches(sizes, ratios, 6, seed=3, epoch=2, rank=0, world=1)) != single
    with pytest.raises(SpotInputError, match="domain 1 has 22 samples, fewer than one batch"):
        DomainBatches(sizes, ratios, 24, seed=0, epoch=0, rank=0, world=1)


def test_domain_evaluation_batches_visit_every_sample_once_one_domain_each():
    sizes = [7, 5]
    batches = [b for r in range(2) for b in DomainEvalBatches(sizes, 2, rank=r, world=2)]
    assert sorted(i for b in batches for i in b) == list(range(12))
    assert all(len({domain_of(i, sizes) for i in b}) == 1 for b in batches)
