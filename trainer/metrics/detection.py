"""3D detection metrics from additive statistics (numpy): nuScenes centre-distance AP and KITTI-style BEV IoU AP.

Evaluation is distributed over batches and ranks, so a frame contributes only sums: per class and matching
rule, how many detections fell in each of `bins` score bins and how many of those were true positives, plus
the ground-truth count. Matching is exact per frame (greedy by score, as both benchmarks do; matches never
cross frames, so per-frame greedy equals the benchmarks' global greedy order); only the precision-recall
curve is read at bin edges. With every detection in its own bin it is the exact curve (tested).

- nuScenes (Caesar et al. 2020): a detection matches the nearest unmatched ground truth of its class whose
  centre is closer than d in the ground plane, d in 0.5 / 1 / 2 / 4 m; precision is interpolated at 101 recall
  points, recalls up to 0.1 are dropped and precisions below 0.1 clipped: AP = mean(max(p - 0.1, 0)) / 0.9.
  mAP averages over classes and thresholds.
- KITTI (Geiger et al. 2012, R40 since 2019): a detection matches the unmatched ground truth of its class with
  the highest rotated BEV IoU at or above the class threshold (0.7 vehicles, 0.5 pedestrians and cyclists);
  AP = mean over recalls 1/40 ... 1 of the best precision at that recall or more. No difficulty levels or
  don't-care regions (the simulator has neither).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from spot.runtime.boxes import Boxes
from spot.runtime.detection import bev_iou

CENTRE_DISTANCES = (0.5, 1.0, 2.0, 4.0)
KITTI_IOU = {"car": 0.7, "truck": 0.7, "bus": 0.7, "pedestrian": 0.5, "cyclist": 0.5}
DEFAULT_IOU = 0.5
MIN_RECALL = MIN_PRECISION = 0.1


@dataclass(frozen=True)
class DetectionEvalConfig:
    """Matching rules and binning: `centre_distances` (m), per-class BEV IoU thresholds, score bins on [0, 1]."""

    class_names: tuple[str, ...]
    centre_distances: tuple[float, ...] = CENTRE_DISTANCES
    iou_thresholds: tuple[float, ...] = field(default=())
    bins: int = 1000

    def __post_init__(self) -> None:
        thresholds = self.iou_thresholds or tuple(KITTI_IOU.get(n, DEFAULT_IOU) for n in self.class_names)
        if len(thresholds) != len(self.class_names):
            raise ValueError(f"{len(thresholds)} IoU thresholds for {len(self.class_names)} classes")
        object.__setattr__(self, "iou_thresholds", tuple(float(t) for t in thresholds))


def frame_statistics(predicted: Boxes, truth: Boxes, config: DetectionEvalConfig) -> dict[str, np.ndarray]:
    """One frame's additive statistics: `detections` (C, bins), `tp_centre` (D, C, bins), `tp_iou` (C, bins)
    and `num_gt` (C,), all float64 counts."""
    c, d, bins = len(config.class_names), len(config.centre_distances), config.bins
    stats = {
        "detections": np.zeros((c, bins)),
        "tp_centre": np.zeros((d, c, bins)),
        "tp_iou": np.zeros((c, bins)),
        "num_gt": np.bincount(truth.class_ids, minlength=c)[:c].astype(np.float64),
    }
    for class_id in range(c):
        mine = predicted.class_ids == class_id
        if not mine.any():
            continue
        order = np.argsort(-predicted.scores[mine], kind="stable")
        boxes, scores = predicted.data[mine][order], predicted.scores[mine][order]
        gt = truth.data[truth.class_ids == class_id]
        bin_of = score_bins(scores, bins)
        np.add.at(stats["detections"][class_id], bin_of, 1)
        distance = np.linalg.norm(boxes[:, None, :2] - gt[None, :, :2], axis=-1)  # (P, G)
        for k, threshold in enumerate(config.centre_distances):
            np.add.at(stats["tp_centre"][k, class_id], bin_of, greedy_match(-distance, -threshold, strict=True))
        iou = bev_iou(boxes, gt)
        np.add.at(stats["tp_iou"][class_id], bin_of, greedy_match(iou, config.iou_thresholds[class_id]))
    return stats


def score_bins(scores: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of scores in [0, 1] (bin b holds [b / bins, (b + 1) / bins); 1.0 joins the last bin)."""
    return np.clip(np.floor(np.asarray(scores, dtype=np.float64) * bins), 0, bins - 1).astype(np.int64)


def greedy_match(affinity: np.ndarray, threshold: float, strict: bool = False) -> np.ndarray:
    """Detections (rows, strongest first) take, in turn, the unmatched ground truth (column) of highest affinity
    at or above `threshold` (above it with `strict`). Returns (P,) 1.0 for true positives, 0.0 otherwise."""
    taken = np.zeros(affinity.shape[1], dtype=bool)
    hit = np.zeros(affinity.shape[0])
    for row in range(affinity.shape[0]):
        candidates = np.where(taken, -np.inf, affinity[row])
        if candidates.size == 0:
            break
        best = int(np.argmax(candidates))
        if candidates[best] > threshold or (not strict and candidates[best] == threshold):
            taken[best], hit[row] = True, 1.0
    return hit


def precision_recall(true_positives: np.ndarray, detections: np.ndarray, num_gt: float) -> tuple[np.ndarray, ...]:
    """Recall and precision (K,) after each of K steps taken from the highest score down: per step, how many
    detections it adds and how many of them are true positives (one detection per step for the exact curve,
    one score bin per step for the binned one). Steps without detections are skipped."""
    keep = np.asarray(detections) > 0
    tp = np.cumsum(np.asarray(true_positives, dtype=np.float64)[keep])
    total = np.cumsum(np.asarray(detections, dtype=np.float64)[keep])
    return tp / max(num_gt, 1e-12), tp / np.maximum(total, 1e-12)


def binned_precision_recall(tp_hist: np.ndarray, det_hist: np.ndarray, num_gt: float) -> tuple[np.ndarray, ...]:
    """`precision_recall` of score histograms (bins,), read from the highest bin down."""
    return precision_recall(tp_hist[::-1], det_hist[::-1], num_gt)


def nuscenes_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """nuScenes AP (detection/algo.py `accumulate` + `calc_ap`): precision at 101 recall points (0 past the
    highest recall), recalls <= 0.1 dropped, precision less 0.1 clipped at 0, normalised by 0.9."""
    if len(recall) == 0:
        return 0.0
    sampled = np.interp(np.linspace(0, 1, 101), recall, precision, right=0)
    sampled = sampled[round(100 * MIN_RECALL) + 1 :] - MIN_PRECISION
    return float(np.mean(np.clip(sampled, 0, None)) / (1 - MIN_PRECISION))


def kitti_ap_r40(recall: np.ndarray, precision: np.ndarray) -> float:
    """KITTI R40 AP: mean over r in {1/40, ..., 1} of the highest precision at recall >= r (0 if none)."""
    if len(recall) == 0:
        return 0.0
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this recall or more
    points = np.arange(1, 41) / 40
    index = np.searchsorted(recall, points - 1e-12, side="left")  # first step reaching each recall
    reached = index < len(recall)
    return float(np.sum(envelope[index[reached]]) / 40)


def detection_metrics(totals: Mapping[str, np.ndarray], config: DetectionEvalConfig) -> dict[str, float]:
    """Summed `frame_statistics` -> `map` (nuScenes-style, over classes with ground truth and the centre
    distances), `ap/<class>` (its mean over distances), `ap/<class>@<d>m`, `bev_ap/<class>@<iou>` (KITTI R40),
    `map_bev`, `num_gt/<class>`, `num_detections/<class>`."""
    totals = {key: np.asarray(value, dtype=np.float64) for key, value in totals.items()}
    metrics: dict[str, float] = {}
    class_aps, bev_aps = [], []
    for c, name in enumerate(config.class_names):
        num_gt = float(totals["num_gt"][c])
        metrics[f"num_gt/{name}"] = num_gt
        metrics[f"num_detections/{name}"] = float(totals["detections"][c].sum())
        if num_gt == 0:
            continue
        aps = []
        for k, distance in enumerate(config.centre_distances):
            ap = nuscenes_ap(*binned_precision_recall(totals["tp_centre"][k, c], totals["detections"][c], num_gt))
            metrics[f"ap/{name}@{distance:g}m"] = ap
            aps.append(ap)
        metrics[f"ap/{name}"] = float(np.mean(aps))
        class_aps.append(aps)
        bev = kitti_ap_r40(*binned_precision_recall(totals["tp_iou"][c], totals["detections"][c], num_gt))
        metrics[f"bev_ap/{name}@{config.iou_thresholds[c]:g}"] = bev
        bev_aps.append(bev)
    metrics["map"] = float(np.mean(class_aps)) if class_aps else 0.0
    metrics["map_bev"] = float(np.mean(bev_aps)) if bev_aps else 0.0
    return metrics


def sum_statistics(frames: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The `frame_statistics` of several frames (at least one) added up: they are additive by design."""
    return {key: np.sum([frame[key] for frame in frames], axis=0) for key in frames[0]}
