"""The `centerpoint_detection` fine-tuning objective: sparse BEV encoder + CenterPoint head, 3D boxes.

Training: focal loss on per-class Gaussian heatmaps + weighted L1 on the box regression at object centres
(`center_targets`). Evaluation decodes with the runtime's own post-processing (`decode_center_heatmaps`, the
same code the deployed artifact runs) and reports nuScenes-style centre-distance AP and KITTI-style BEV IoU AP
from additive score histograms (`spot.trainer.metrics.detection`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spot.runtime import Boxes, SpotInputError
from spot.runtime.artifact import TensorSpec
from spot.runtime.detection import NMS_KINDS, REGRESSION_LAYOUT, CenterHeadSpec, decode_center_heatmaps
from spot.trainer.sparse import SparseTensor

from ...engine.task import DatasetInfo, Task, TrainingFrame
from ...losses.center import gaussian_focal_loss, weighted_l1
from ...metrics.detection import DetectionEvalConfig, detection_metrics, frame_statistics, sum_statistics
from ...models.heads import CenterHead
from ...schema import BEV_MAP, BOX_LABELS, Invalid, bounded, require_features, require_labels
from ..batching import voxel_batch
from .report import write_detection_report
from .targets import center_targets, map_box_classes

DETECTION_CLASSES = ["car", "truck", "pedestrian", "cyclist"]
# Box class names of the simulator (SemanticKITTI names), KITTI object and nuScenes -> detection classes.
CLASS_MAP = {
    "car": "car",
    "truck": "truck",
    "other-vehicle": "truck",  # the simulator's buses
    "bus": "truck",
    "person": "pedestrian",
    "pedestrian": "pedestrian",
    "bicyclist": "cyclist",
    "cyclist": "cyclist",
}
HEATMAP_LOGITS, BOX_REGRESSION = "heatmap_logits", "box_regression"  # the deployed model's outputs
NMS_RADIUS = {"car": 2.0, "truck": 3.5, "bus": 3.5, "pedestrian": 0.5, "cyclist": 0.9}  # CenterPoint's, in metres
NmsKind = StrEnum("NmsKind", {kind: kind for kind in NMS_KINDS})  # the runtime's NMS kinds
BOX_CHANNELS = REGRESSION_LAYOUT["yaw"].stop  # regression channels of a box without velocity


@dataclass
class CenterPointConfig:
    class_names: list[str] = bounded(default_factory=lambda: list(DETECTION_CLASSES), min_length=1)
    # box class (lower case) -> detection class; boxes mapped to nothing in class_names are left out
    class_map: dict[str, str] = field(default_factory=lambda: dict(CLASS_MAP))
    neck_channels: int = bounded(64, ge=1)
    neck_blocks: int = bounded(2, ge=0)
    head_channels: int = bounded(64, ge=1)
    gaussian_overlap: float = bounded(0.1, gt=0, lt=1)  # CenterPoint's heatmap radius rule
    min_radius: int = bounded(2, ge=0)  # cells
    heatmap_weight: float = bounded(1.0, ge=0)
    regression_weight: float = bounded(0.25, ge=0)
    # offset (2), z, log size (3), sin, cos
    regression_channel_weights: list[float] = bounded(default_factory=lambda: [1.0] * BOX_CHANNELS, ge=0,
                                                      length=BOX_CHANNELS)  # fmt: skip
    score_threshold: float = bounded(0.1, ge=0, le=1)
    max_detections: int = bounded(100, ge=1)
    nms: NmsKind = NmsKind.circle
    nms_radius: list[float] | None = bounded(None, gt=0)  # per class, metres; None: CenterPoint's (1 m otherwise)
    iou_threshold: float = bounded(0.2, ge=0, le=1)  # bev_iou NMS
    eval_iou_thresholds: list[float] | None = bounded(None, gt=0, le=1)  # KITTI-style AP; None: 0.7 vehicles, 0.5
    score_bins: int = bounded(1000, ge=1)
    report_frames: int = bounded(1, ge=0)  # `spot-train eval` draws this many evaluation frames with predictions

    def check(self) -> None:
        repeated = sorted({name for name in self.class_names if self.class_names.count(name) > 1})
        if repeated:
            raise Invalid("class_names", f"expected distinct names, {repeated} repeat", self.class_names)
        unmapped = sorted(set(self.class_names) - set(self.class_map.values()))
        if unmapped:
            raise Invalid("class_map", f"maps no box class onto {unmapped} (of class_names)")
        for key in ("nms_radius", "eval_iou_thresholds"):
            values = getattr(self, key)
            if values is not None and len(values) != len(self.class_names):
                raise Invalid(key, f"expected one value per class ({len(self.class_names)})", values)

    def check_experiment(self, experiment, key: str) -> None:
        """Frames with boxes, and a backbone with a BEV map for the head."""
        require_labels(experiment, BOX_LABELS)
        require_features(experiment, BEV_MAP)


class CenterPointTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: CenterPointConfig):
        super().__init__(backbone, info)
        self.config = config
        names = tuple(config.class_names)
        radius = config.nms_radius or [NMS_RADIUS.get(name, 1.0) for name in names]
        self.spec = CenterHeadSpec(names, info.grid, backbone.config.bev_stride, config.score_threshold,
                                   max_detections=config.max_detections, nms=str(config.nms), nms_radius=tuple(radius),
                                   iou_threshold=config.iou_threshold)  # fmt: skip
        self.evaluation = DetectionEvalConfig(names, iou_thresholds=tuple(config.eval_iou_thresholds or ()),
                                              bins=config.score_bins)  # fmt: skip
        self.head = CenterHead(backbone.bev_channels(info.grid.grid_shape), len(names), self.spec.regression_channels,
                               config.neck_channels, config.neck_blocks, config.head_channels)  # fmt: skip
        weights = torch.as_tensor(config.regression_channel_weights, dtype=torch.float32)
        self.register_buffer("regression_channel_weights", weights, persistent=False)

    def frame_boxes(self, frame: TrainingFrame) -> Boxes:
        """The frame's ground-truth boxes in the detection classes, centred inside the grid's x-y range (the
        detector cannot see the others; nuScenes likewise evaluates within a range)."""
        sample = frame.sample
        if sample.boxes is None:
            raise SpotInputError("detection needs frames with boxes", source=sample.source)
        boxes = map_box_classes(sample.boxes, sample.box_class_names, self.config.class_map, self.spec.class_names)
        low, high = np.asarray(self.info.grid.point_cloud_range[:2]), np.asarray(self.info.grid.point_cloud_range[3:5])
        return boxes.select(((boxes.data[:, :2] >= low) & (boxes.data[:, :2] < high)).all(axis=1))

    def collate(self, frames: Sequence[TrainingFrame]) -> dict[str, torch.Tensor]:
        """Voxels + heatmaps (B, C, H, W), centre cells (T,) flat over (B, H, W), regression targets (T, R), and
        the boxes themselves (G, 7) with their classes (G,) and frame index (G,) for evaluation."""
        batch = voxel_batch([frame.sample for frame in frames], self.info.grid)
        boxes = [self.frame_boxes(frame) for frame in frames]
        targets = [center_targets(b, self.spec, self.config.gaussian_overlap, self.config.min_radius) for b in boxes]
        cells_per_frame = int(np.prod(self.spec.map_shape))
        batch["heatmap"] = torch.from_numpy(np.stack([t.heatmap for t in targets]))
        batch["centre_cells"] = torch.from_numpy(np.concatenate([t.cells + i * cells_per_frame
                                                                 for i, t in enumerate(targets)]))  # fmt: skip
        batch["regression"] = torch.from_numpy(np.concatenate([t.regression for t in targets]))
        batch["gt_boxes"] = torch.from_numpy(np.concatenate([b.data for b in boxes]))
        batch["gt_classes"] = torch.from_numpy(np.concatenate([b.class_ids for b in boxes]).astype(np.int64))
        batch["gt_frame"] = torch.from_numpy(np.repeat(np.arange(len(boxes)), [len(b) for b in boxes]))
        return batch

    def infer(self, x: SparseTensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse BEV encoder, densified (a ScatterND of its last voxels into the BEV map in the exported graph),
        CenterPoint head: heatmap logits (B, C, H, W) and box regression (B, R, H, W)."""
        return self.head(self.backbone(x)["bev"])

    def output_specs(self) -> tuple[TensorSpec, TensorSpec]:
        (h, w), classes, channels = self.spec.map_shape, len(self.spec.class_names), self.spec.regression_channels
        return (
            TensorSpec(HEATMAP_LOGITS, "float32", (1, classes, h, w), meaning="CenterPoint heatmap logits"),
            TensorSpec(BOX_REGRESSION, "float32", (1, channels, h, w),
                       meaning="box regression per cell (spot.runtime.detection.REGRESSION_LAYOUT)"),
        )  # fmt: skip

    def outputs(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmap logits (B, C, H, W) and regression (B, R, H, W) of a collated batch."""
        return self.infer(self.network_input(batch))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        heatmap_logits, regression = self.outputs(batch)
        heatmap_loss = gaussian_focal_loss(heatmap_logits, batch["heatmap"])
        r = regression.shape[1]
        at_centres = regression.permute(0, 2, 3, 1).reshape(-1, r)[batch["centre_cells"]]  # (T, R)
        regression_loss = weighted_l1(at_centres, batch["regression"], self.regression_channel_weights)
        loss = self.config.heatmap_weight * heatmap_loss + self.config.regression_weight * regression_loss
        return {"loss": loss, "heatmap_loss": heatmap_loss.detach(), "regression_loss": regression_loss.detach()}

    @torch.no_grad()
    def predict(self, batch: Mapping[str, torch.Tensor]) -> list[Boxes]:
        """Boxes per frame, decoded by the runtime's post-processing."""
        heatmap_logits, regression = self.outputs(batch)
        heatmaps = torch.sigmoid(heatmap_logits.float()).cpu().numpy()
        regression = regression.float().cpu().numpy()
        return [decode_center_heatmaps(h, r, self.spec) for h, r in zip(heatmaps, regression, strict=True)]

    def evaluate_step(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Score-binned detection and true-positive counts per class and matching rule, ground-truth counts."""
        device = batch["gt_boxes"].device
        frames = [frame_statistics(boxes, ground_truth(batch, i), self.evaluation)
                  for i, boxes in enumerate(self.predict(batch))]  # fmt: skip
        totals = sum_statistics(frames)
        return {key: torch.as_tensor(value, dtype=torch.float64, device=device) for key, value in totals.items()}

    def summarize(self, totals: Mapping[str, torch.Tensor]) -> dict[str, float]:
        return detection_metrics({key: value.cpu().numpy() for key, value in totals.items()}, self.evaluation)

    def write_report(self, totals: Mapping[str, torch.Tensor], dataset: Any, folder: Path) -> list[Path]:
        """Precision-recall curves and a BEV picture of the first evaluation frame with truth and predictions."""
        return write_detection_report(self, totals, dataset, folder)


def ground_truth(batch: Mapping[str, torch.Tensor], frame: int) -> Boxes:
    """Frame `frame`'s ground-truth boxes from a collated batch."""
    mine = (batch["gt_frame"] == frame).cpu().numpy()
    return Boxes(batch["gt_boxes"].cpu().numpy()[mine], batch["gt_classes"].cpu().numpy()[mine])


def build_detection_task(config: CenterPointConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return CenterPointTask(backbone, info, config)
