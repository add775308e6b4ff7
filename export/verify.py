"""Does the exported graph compute what PyTorch computes? Per scan: per-point labels, boxes, raw outputs.

Both sides see the same voxels (the runtime's voxelization) and go through the runtime's post-processing, so
the comparison isolates the graph: PyTorch eager (native sparse backend, BatchNorm unfused; the exporter passes
it in as a `Reference`) against the artifact run by its engine (onnxruntime for portable and fused graphs, the
ONNX reference evaluator with the numpy kernels of Autoware's plugin ops for autoware graphs). This module needs
numpy and the runtime only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from spot.runtime import IGNORE_INDEX, Sample, Voxels
from spot.runtime.perception import Perception

MIN_LABEL_AGREEMENT = 0.999
FEATURE_TOLERANCE = 1e-3  # max |graph - torch| relative to max(1, max |torch|), per output


@dataclass
class ScanCheck:
    source: str
    points: int
    voxels: int
    label_agreement: float | None  # over points PyTorch labels (inside the grid)
    box_agreement: float | None  # matched boxes / max(#boxes) at the same class, centre within 0.1 m
    max_feature_error: float  # max abs difference over every graph output
    feature_scale: float  # max(1, max |torch output|)

    @property
    def passed(self) -> bool:
        labels_ok = self.label_agreement is None or self.label_agreement >= MIN_LABEL_AGREEMENT
        boxes_ok = self.box_agreement is None or self.box_agreement >= MIN_LABEL_AGREEMENT
        return labels_ok and boxes_ok and self.max_feature_error <= FEATURE_TOLERANCE * self.feature_scale


@dataclass
class VerificationReport:
    checks: list[ScanCheck]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "min_label_agreement": MIN_LABEL_AGREEMENT,
            "feature_tolerance": FEATURE_TOLERANCE,
            "scans": [{**asdict(check), "passed": check.passed} for check in self.checks],
        }


# The reference model's outputs on the runtime's voxels, in the order of the graph's outputs.
Reference = Callable[[Voxels], Sequence[np.ndarray]]


def verify(perception: Perception, model: Reference, samples: Sequence[Sample]) -> VerificationReport:
    """Compare the artifact behind `perception` with the reference `model` on every sample's scan."""
    names = [spec.name for spec in perception.artifact.outputs]
    checks = []
    for sample in samples:
        prepared = perception.prepare(sample.scan)
        reference = dict(zip(names, model(prepared.voxels), strict=True))
        graph = perception.run_network(prepared)
        expected, actual = perception.postprocess(prepared, reference), perception.postprocess(prepared, graph)
        error = max(float(np.abs(graph[n] - reference[n]).max(initial=0.0)) for n in names)
        scale = max([1.0] + [float(np.abs(reference[n]).max(initial=0.0)) for n in names])
        checks.append(
            ScanCheck(
                sample.source or sample.dataset,
                len(sample.scan),
                len(prepared.voxels),
                _label_agreement(expected.labels, actual.labels),
                _box_agreement(expected.boxes, actual.boxes),
                error,
                scale,
            )
        )
    return VerificationReport(checks)


def _label_agreement(expected: np.ndarray | None, actual: np.ndarray | None) -> float | None:
    if expected is None:
        return None
    labelled = expected != IGNORE_INDEX
    return float((expected[labelled] == actual[labelled]).mean()) if labelled.any() else 1.0


def _box_agreement(expected, actual, centre_tolerance_m: float = 0.1) -> float | None:
    """Share of boxes found on both sides: same class, centres within `centre_tolerance_m`."""
    if expected is None:
        return None
    if max(len(expected), len(actual)) == 0:
        return 1.0
    distance = np.linalg.norm(expected.data[:, None, :3] - actual.data[None, :, :3], axis=2)
    same = (expected.class_ids[:, None] == actual.class_ids[None, :]) & (distance <= centre_tolerance_m)
    matched = min(int(same.any(axis=1).sum()), int(same.any(axis=0).sum()))
    return matched / max(len(expected), len(actual))
