import numpy as np

from spot.runtime import Boxes, Sample, Scan
from spot.runtime.stats import scan_statistics


def _sample(ranges, labels=None, names=()):
    points = np.zeros((len(ranges), 5), np.float32)
    points[:, 0] = ranges
    points[:, 3] = 0.5
    points[:, 4] = np.arange(len(ranges)) % 4
    boxes = Boxes(np.ones((3, 7)), [0, 1, 1])
    return Sample(
        Scan(points, ("x", "y", "z", "intensity", "ring")),
        labels=labels,
        class_names=names,
        boxes=boxes,
        box_class_names=("car", "truck"),
    )


def test_statistics_over_two_samples():
    first = _sample(
        np.arange(1, 101, dtype=np.float32),
        labels=np.r_[np.zeros(60), np.ones(30), -np.ones(10)],
        names=("road", "car"),
    )
    second = _sample(np.full(100, 200.0, np.float32), labels=np.zeros(100), names=("road", "car"))
    result = scan_statistics([first, second])
    assert result["samples"] == 2 and result["points"] == 200
    assert result["columns"] == ["x", "y", "z", "intensity", "ring"]
    assert result["rings"] == 4 and result["intensity_mean"] == 0.5
    assert result["range_m"]["p1"] == 2.0 and result["range_m"]["p50"] == 100.0
    assert result["range_m"]["max"] == 200.0
    assert result["labels"] == {"road": 160, "car": 30, "ignored": 10}
    assert result["boxes"] == {"truck": 4, "car": 2}
