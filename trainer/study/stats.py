"""Paired comparisons across fine-tuning seeds: the difference, its 95 % interval and the verdict.

Runs with the same fine-tuning seed share the labelled subset, the head's initial weights and the sample order,
so method and baseline are compared seed by seed: d_i = method_i - baseline_i, and the interval is Student's t
over those n paired differences, mean(d) +- t(0.975, n - 1) * std(d, ddof=1) / sqrt(n). A claim is "met" only
when that interval excludes zero on the claimed side (and the mean clears the claim's minimum gain, if any);
otherwise it is "not shown". With fewer than two seeds there is no interval and nothing is shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
INTERVAL = "Student t over paired seeds, 95 %"


class Verdict(StrEnum):
    met = "met"  # the interval lies above zero and the mean clears the minimum gain
    below_target = "below target"  # above zero, but the mean gain is smaller than the claim's minimum
    not_shown = "not shown"  # the interval contains zero (or there are too few seeds for one)
    opposite = "opposite"  # the interval lies below zero: the baseline is better
    positive = "positive"  # two-sided claims: an effect above zero ...
    negative = "negative"  # ... or below it


@dataclass(frozen=True)
class PairedDifference:
    """method - baseline, in the units given (mIoU points in the study)."""

    mean: float
    std: float  # of the per-seed differences (ddof=1)
    low: float
    high: float
    seeds: int

    def to_dict(self) -> dict:
        """As JSON values: the nan of a missing interval (fewer than two pairs) becomes null."""
        return {key: None if isinstance(value, float) and math.isnan(value) else value
                for key, value in asdict(self).items()}  # fmt: skip


def paired_difference(method: Sequence[float], baseline: Sequence[float]) -> PairedDifference:
    """The mean paired difference and its two-sided 95 % t-interval (nan bounds with fewer than two pairs)."""
    if len(method) != len(baseline):
        raise ValueError(f"paired samples need as many values on both sides, got {len(method)} and {len(baseline)}")
    d = np.asarray(method, np.float64) - np.asarray(baseline, np.float64)
    n = len(d)
    if n < 2:
        mean = float(d.mean()) if n else math.nan
        return PairedDifference(mean, math.nan, math.nan, math.nan, n)
    std = float(d.std(ddof=1))
    half = half_width(std, n)
    mean = float(d.mean())
    return PairedDifference(mean, std, mean - half, mean + half, n)


def seeds_to_resolve(mean: float, std: float, most: int = 100) -> int | None:
    """The fewest paired seeds whose interval would exclude zero if the differences kept this mean and spread:
    what a "not shown" would take to decide (None: more than `most`, or no spread measured yet)."""
    if not std >= 0 or mean == 0:
        return None
    return next((n for n in range(2, most + 1) if half_width(std, n) < abs(mean)), None)


def half_width(std: float, n: int) -> float:
    """Half the two-sided t-interval of the mean of n paired differences with this spread."""
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)


def verdict(difference: PairedDifference, min_gain: float = 0.0, two_sided: bool = False) -> Verdict:
    """What the interval supports: a claim that the method is better (by `min_gain`), or, `two_sided`, a
    report of an effect whatever its sign."""
    if not difference.low > 0 and not difference.high < 0:  # contains zero, or nan (too few seeds)
        return Verdict.not_shown
    if two_sided:
        return Verdict.positive if difference.low > 0 else Verdict.negative
    if difference.high < 0:
        return Verdict.opposite
    return Verdict.met if difference.mean >= min_gain else Verdict.below_target
