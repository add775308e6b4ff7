"""A stand-in with `spot.runtime.Perception`'s interface, so the node's plumbing is tested without an artifact.

Labels are a fixed function of each point (known to the test), points beyond 60 m get IGNORE_INDEX as points
outside a voxel grid would, and `delay_s` (artifact "fake:<seconds>") makes inference slower than the sensor;
artifact "unloadable" fails to load as a bad artifact folder does. Run as a script it is the node's entry point
with this fake injected.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from spot.runtime import IGNORE_INDEX, Boxes, Scan, SpotInputError

CLASS_NAMES = ("road", "car", "vegetation", "building")
BOX_CLASS_NAMES = ("car", "pedestrian")
OUTSIDE_RANGE_M = 60.0


def expected_labels(points: np.ndarray) -> np.ndarray:
    """int32 (N,): the class the fake gives each point of float32 (N, >= 3) points."""
    labels = (points[:, 0] > 0).astype(np.int32) + 2 * (points[:, 2] > -1.0)
    labels[np.linalg.norm(points[:, :2], axis=1) > OUTSIDE_RANGE_M] = IGNORE_INDEX
    return labels


def expected_boxes(points: np.ndarray) -> Boxes:
    """Two boxes at the points' centroid, one scoring 0.9 and one 0.2 (for score_threshold tests)."""
    centre = points[:, :3].mean(axis=0)
    data = np.array([[*centre, 4.0, 1.8, 1.5, 0.3], [*(centre + 5), 0.8, 0.8, 1.8, 0.0]], dtype=np.float32)
    return Boxes(data, np.array([0, 1]), np.array([0.9, 0.2]))


@dataclass
class FakeResult:
    labels: np.ndarray | None
    scores: np.ndarray | None
    boxes: Boxes | None
    timings: dict


class FakePerception:
    class_names = CLASS_NAMES
    box_class_names = BOX_CLASS_NAMES
    input_columns = ("x", "y", "z", "intensity")

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s

    @classmethod
    def load(cls, artifact: str, engine: str = "onnxruntime", num_threads: int | None = None) -> FakePerception:
        if artifact == "unloadable":
            raise SpotInputError("is not a spot artifact (no spot.json)", source=artifact)
        _, _, delay = artifact.partition(":")
        return cls(float(delay or 0.0))

    def __call__(self, scan: Scan) -> FakeResult:
        time.sleep(self.delay_s)
        labels = expected_labels(scan.points)
        scores = np.where(labels >= 0, 0.75, 0.0).astype(np.float32)
        return FakeResult(labels, scores, expected_boxes(scan.points), {"total": self.delay_s * 1e3})


if __name__ == "__main__":
    from spot_ros.perception_node import main

    sys.exit(main(load_perception=FakePerception.load))
