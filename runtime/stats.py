"""What is in a scan or a set of scans, as one JSON-able dict (`spot-data stats`, and later spot-run's log).

Statistics stream over samples: ranges go into a fixed 1 cm histogram, so percentiles of a folder of any size
cost constant memory and are exact to 1 cm (bins are reported by their lower edge).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from .rings import ring_count
from .sample import IGNORE_INDEX, Sample

RANGE_BIN_M = 0.01
RANGE_LIMIT_M = 500.0
PERCENTILES = (1, 5, 50, 95, 99)


class ScanStatistics:
    """Accumulates samples one at a time; `summary()` gives the JSON-able dict."""

    def __init__(self) -> None:
        self.samples = 0
        self.points = 0
        self.columns: Counter = Counter()
        self.datasets: Counter = Counter()
        self.rings: Counter = Counter()
        self.labels: Counter = Counter()
        self.boxes: Counter = Counter()
        self.range_counts = np.zeros(int(RANGE_LIMIT_M / RANGE_BIN_M) + 1, dtype=np.int64)
        self.intensity_sum = 0.0

    def add(self, sample: Sample) -> None:
        scan = sample.scan
        self.samples += 1
        self.points += len(scan)
        self.columns[" ".join(scan.columns)] += 1
        self.datasets[sample.dataset] += 1
        self.rings[ring_count(scan)] += 1
        ranges = np.linalg.norm(scan.xyz.astype(np.float64), axis=1)
        bins = np.minimum((ranges / RANGE_BIN_M).astype(np.int64), len(self.range_counts) - 1)
        self.range_counts += np.bincount(bins, minlength=len(self.range_counts))
        self.intensity_sum += float(scan.intensity.sum(dtype=np.float64))
        if sample.labels is not None:
            self.labels.update(_named_counts(sample.labels, sample.class_names))
        if sample.boxes is not None:
            self.boxes.update(_named_counts(sample.boxes.class_ids, sample.box_class_names))

    def summary(self) -> dict:
        columns = self.columns.most_common(1)[0][0].split() if len(self.columns) == 1 else dict(self.columns)
        result = {
            "samples": self.samples,
            "points": self.points,
            "columns": columns,
            "datasets": dict(self.datasets),
            "range_m": self._range_percentiles(),
            "intensity_mean": round(self.intensity_sum / max(self.points, 1), 4),
            "rings": self.rings.most_common(1)[0][0] if self.rings else 0,
        }
        if len(self.rings) > 1:
            result["rings_per_sample"] = {str(k): v for k, v in sorted(self.rings.items())}
        if self.labels:
            result["labels"] = dict(self.labels.most_common())
        if self.boxes:
            result["boxes"] = dict(self.boxes.most_common())
        return result

    def _range_percentiles(self) -> dict:
        cumulative = np.cumsum(self.range_counts)
        if cumulative[-1] == 0:
            return {}
        result = {}
        for percent in PERCENTILES:
            index = int(np.searchsorted(cumulative, percent / 100 * cumulative[-1]))
            result[f"p{percent}"] = round(float(index * RANGE_BIN_M), 2)
        result["max"] = round(float(np.nonzero(self.range_counts)[0][-1] * RANGE_BIN_M), 2)
        return result


def _named_counts(class_ids: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    """Counts per class name ('ignored' for IGNORE_INDEX, 'class_<id>' where the name is unknown)."""
    ids, counts = np.unique(np.asarray(class_ids), return_counts=True)
    named = {}
    for class_id, count in zip(ids.tolist(), counts.tolist(), strict=True):
        if class_id == IGNORE_INDEX:
            named["ignored"] = count
        else:
            named[names[class_id] if 0 <= class_id < len(names) else f"class_{class_id}"] = count
    return named


def scan_statistics(samples: Iterable[Sample]) -> dict:
    """Summary of every sample in `samples` (see `ScanStatistics`)."""
    statistics = ScanStatistics()
    for sample in samples:
        statistics.add(sample)
    return statistics.summary()
