"""Voxel logits -> per-point labels and scores in compiled code: what `Perception` does in numpy, in one
parallel pass per voxel (arg max, softmax of the arg max) and one per point, without the numpy build's
(V, C) temporaries and boolean-mask gathers. Labels are identical; scores agree to float32 rounding (the
softmax denominator is summed in another order)."""

from __future__ import annotations

import numba
import numpy as np

from .jit import compiled


@compiled(parallel=True)
def _point_labels(logits, point_to_voxel, kept, labels, scores):  # pragma: no cover - compiled
    voxels, classes = logits.shape
    voxel_labels = np.empty(voxels, dtype=np.int32)
    voxel_scores = np.empty(voxels, dtype=np.float32)
    for v in numba.prange(voxels):
        best = 0
        for c in range(1, classes):
            if logits[v, c] > logits[v, best]:  # the first of equal maxima, as argmax
                best = c
        total = np.float32(0.0)
        for c in range(classes):
            total += np.exp(logits[v, c] - logits[v, best])
        voxel_labels[v], voxel_scores[v] = best, np.float32(1.0) / total
    for p in numba.prange(point_to_voxel.shape[0]):
        v = point_to_voxel[p]
        if v >= 0:
            labels[kept[p]], scores[kept[p]] = voxel_labels[v], voxel_scores[v]


def point_labels(
    logits: np.ndarray, point_to_voxel: np.ndarray, kept: np.ndarray, labels: np.ndarray, scores: np.ndarray
) -> None:
    """Fill `labels` (int32) and `scores` (float32) at rows `kept[p]` of every point p inside a voxel with
    its voxel's arg max class and softmax probability; logits float32 (V, C), point_to_voxel int64 (N,)."""
    _point_labels(np.ascontiguousarray(logits, dtype=np.float32), point_to_voxel, kept, labels, scores)


def warm_up() -> None:
    """Compile (or load from numba's cache) with the argument types scans use."""
    rows = np.zeros(1, dtype=np.int64)
    point_labels(np.zeros((1, 2), np.float32), rows, rows, np.zeros(1, np.int32), np.zeros(1, np.float32))
