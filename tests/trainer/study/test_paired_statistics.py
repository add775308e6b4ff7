"""The study's statistics: paired t-intervals and verdicts, against hand-computed numbers."""

from __future__ import annotations

import math

import pytest

from spot.trainer.study.stats import Verdict, paired_difference, seeds_to_resolve, verdict

T_975_DF2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom


def test_the_interval_is_student_t_over_the_paired_differences():
    d = paired_difference([16.0, 18.0, 20.0], [10.0, 11.0, 12.0])  # differences 6, 7, 8
    half = T_975_DF2 * 1.0 / math.sqrt(3)
    assert (d.mean, d.std, d.seeds) == (7.0, 1.0, 3)
    assert d.low == pytest.approx(7.0 - half) == pytest.approx(4.515862)
    assert d.high == pytest.approx(7.0 + half) == pytest.approx(9.484138)


def test_pairing_removes_what_the_seeds_share():
    # Large seed-to-seed spread, but the method is better by exactly 1 on every seed: the interval is [1, 1].
    d = paired_difference([11.0, 31.0, 51.0], [10.0, 30.0, 50.0])
    assert (d.mean, d.std, d.low, d.high) == (1.0, 0.0, 1.0, 1.0)
    assert verdict(d) == Verdict.met


@pytest.mark.parametrize(
    ("method", "baseline", "min_gain", "two_sided", "expected"),
    [
        ([16, 18, 20], [10, 11, 12], 5.0, False, Verdict.met),  # +7 [4.5, 9.5]: above zero, mean >= 5
        ([16, 18, 20], [10, 11, 12], 7.5, False, Verdict.below_target),  # above zero, mean 7 < 7.5
        ([11, 12, 13], [10, 10, 10], 0.0, False, Verdict.not_shown),  # +2 [-0.48, 4.48] contains zero
        ([10, 11, 12], [16, 18, 20], 0.0, False, Verdict.opposite),  # -7 [-9.5, -4.5]
        ([10, 11, 12], [16, 18, 20], 0.0, True, Verdict.negative),
        ([16, 18, 20], [10, 11, 12], 0.0, True, Verdict.positive),
        ([11, 12, 13], [10, 10, 10], 0.0, True, Verdict.not_shown),
        ([20.0], [10.0], 0.0, False, Verdict.not_shown),  # one seed: no interval, nothing shown
    ],
)
def test_verdicts(method, baseline, min_gain, two_sided, expected):
    assert verdict(paired_difference(method, baseline), min_gain, two_sided) == expected


def test_one_seed_has_no_interval_and_unpaired_lengths_are_refused():
    d = paired_difference([20.0], [10.0])
    assert d.mean == 10.0 and math.isnan(d.low) and math.isnan(d.high)
    with pytest.raises(ValueError, match="as many values"):
        paired_difference([1.0, 2.0], [1.0])


def test_a_claim_between_runs_still_learning_is_provisional():
    from types import SimpleNamespace

    from spot.trainer.study.report import PLATEAU_TOLERANCE, converged

    claim = SimpleNamespace(arm="vlp16", method="spot", baseline="scratch", label_fraction=0.01)
    gains = {"vlp16": {"spot": {"0.01": 0.3}, "scratch": {"0.01": 6.9}}}  # scratch still climbing (measured)
    assert converged(gains, claim) is False
    gains["vlp16"]["scratch"]["0.01"] = PLATEAU_TOLERANCE
    assert converged(gains, claim) is True
    assert converged({"vlp16": {"spot": {"0.01": 0.3}}}, claim) is None  # the baseline has not run


@pytest.mark.parametrize(
    ("mean", "std", "expected"),
    [
        (7.0, 1.0, 3),  # n = 2: t 12.71 x 1 / 1.41 = 8.98 > 7; n = 3: 4.30 / 1.73 = 2.48 < 7
        (1.6, 2.4, 12),  # the v4 study's 4 -> 16 sequences: n = 11 gives 2.23 x 2.4 / 3.32 = 1.61, n = 12 1.52
        (2.0, 0.0, 2),  # no spread: two seeds decide
        (0.1, 5.0, None),  # beyond 100 seeds
        (1.0, math.nan, None),  # no spread measured (one seed)
    ],
)
def test_seeds_to_resolve_is_the_fewest_whose_interval_excludes_zero(mean, std, expected):
    assert seeds_to_resolve(mean, std) == expected


@pytest.mark.parametrize(
    ("method", "baseline", "min_gain", "short", "why"),
    [
        ([16, 18, 20], [10, 11, 12], 7.5, "mean 0.5 points below the target of 7.5", "holds the target too"),
        ([16, 18, 20], [10, 11, 12], 12.0, "mean 5.0 points below the target of 12", "whole interval lies below"),
        ([11, 12, 13], [10, 10, 10], 0.0, "the interval reaches -0.5", "~4 seeds would resolve"),
        ([10, 11, 12], [16, 18, 20], 0.0, "the baseline is better by 7.0", "lies below zero"),
    ],
)
def test_a_missed_target_says_by_how_much_and_why(method, baseline, min_gain, short, why):
    from spot.trainer.study.report import compare, missed

    result = compare(method, baseline, min_gain)
    entry = missed("claim", result["difference"], result["verdict"], min_gain)
    assert entry["short"] == short and why in entry["why"]


@pytest.mark.parametrize(("scale", "minutes", "missed"), [(1, 715.0, True), (1, 290.0, False), (10, 715.0, False)])
def test_the_time_budget_is_missed_when_the_training_time_per_core_exceeds_it(scale, minutes, missed):
    from types import SimpleNamespace

    from spot.trainer.study.config import Budget
    from spot.trainer.study.report import shortfalls

    study = SimpleNamespace(arms=[], budget=Budget(minutes=150, cores=2))  # the budget is the CPU run's (scale 1)
    report = {
        "claims": [],
        "plateau": {},
        "scale": scale,
        "training_minutes": minutes,
        "complete": True,
        "time": [{"part": "fine-tuning", "runs": 24, "steps": [2400], "minutes": minutes, "ms_per_step": 162}],
    }
    entries = shortfalls(study, report)
    assert len(entries) == missed
    if missed:
        assert entries[0]["by"] == pytest.approx(715 / 2 - 150) and entries[0]["short"] == "208 min over (2.4x)"
