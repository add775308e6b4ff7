"""The `centerpoint_detection` fine-tuning objective: sparse BEV encoder + CenterPoint head, 3D boxes.

Training: focal loss on per-class Gaussian heatmaps + weighted L1 on the box regression at object centres
(`center_targets`). Evaluation decodes with the runtime's own post-processing (`decode_center_heatmaps`, the
same code the deployed artifact runs) and reports nuScenes-style centre-distance AP and KITTI-style BEV IoU AP
from additive score histograms (`spot.trainer.metrics.detection`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spot.runtime import Boxes
from spot.runtime.detection import CenterHeadSpec, decode_center_heatmaps
from spot.trainer.sparse import SparseTensor

from ...data.datasets import TrainingFrame
from ...engine.task import DatasetInfo, Task
from ...losses.center import gaussian_focal_loss, weighted_l1
from ...metrics.detection import DetectionEvalConfig, detection_metrics, frame_statistics
from ...models.heads import CenterHead
from ..batching import voxel_batch
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
NMS_RADIUS = {"car": 2.0, "truck": 3.5, "bus": 3.5, "pedestrian": 0.5, "cyclist": 0.9}  # CenterPoint's, in metres


@dataclass
class CenterPointConfig:
    class_names: list[str] = field(default_factory=lambda: list(DETECTION_CLASSES))
    # box class (lower case) -> detection class; boxes mapped to nothing in class_names are left out
    class_map: dict[str, str] = field(default_factory=lambda: dict(CLASS_MAP))
    neck_channels: int = 64
    neck_blocks: int = 2
    head_channels: int = 64
    gaussian_overlap: float = 0.1  # CenterPoint's heatmap radius rule
    min_radius: int = 2  # cells
    heatmap_weight: float = 1.0
    regression_weight: float = 0.25
    regression_channel_weights: list[float] = field(default_factory=lambda: [1.0] * 8)  # offset z size sin cos
    score_threshold: float = 0.1
    max_detections: int = 100
    nms: str = "circle"  # circle | bev_iou
    nms_radius: list[float] | None = None  # per class, metres; None: CenterPoint's by class name (1 m otherwise)
    iou_threshold: float = 0.2  # bev_iou NMS
    eval_iou_thresholds: list[float] | None = None  # KITTI-style AP; None: 0.7 vehicles, 0.5 otherwise
    score_bins: int = 1000
    report_frames: int = 1  # `spot-train eval` draws this many evaluation frames with truth and predictions


class CenterPointTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: CenterPointConfig):
        super().__init__(backbone, info)
        if not hasattr(backbone, "bev_channels"):
            raise ValueError(f"centerpoint_detection needs a BEV backbone (model.name: sparse_bev_encoder), got "
                             f"{type(backbone).__name__}")  # fmt: skip
        unmapped = sorted(set(config.class_names) - set(config.class_map.values()))
        if unmapped:
            raise ValueError(f"objective.class_map maps no box class onto {unmapped} (class_names)")
        self.config = config
        names = tuple(config.class_names)
        radius = config.nms_radius or [NMS_RADIUS.get(name, 1.0) for name in names]
        self.spec = CenterHeadSpec(names, info.grid, backbone.config.bev_stride, config.score_threshold,
                                   max_detections=config.max_detections, nms=config.nms, nms_radius=tuple(radius),
                                   iou_threshold=config.iou_threshold)  # fmt: skip
        self.evaluation = DetectionEvalConfig(names, iou_thresholds=tuple(config.eval_iou_thresholds or ()),
                                              bins=config.score_bins)  # fmt: skip
        self.head = CenterHead(backbone.bev_channels(info.grid.grid_shape), len(names), self.spec.regression_channels,
                               config.neck_channels, config.neck_blocks, config.head_channels)  # fmt: skip
        weights = torch.as_tensor(config.regression_channel_weights, dtype=torch.float32)
        if weights.shape != (self.spec.regression_channels,):
            raise ValueError(f"regression_channel_weights needs {self.spec.regression_channels} values")
        self.register_buffer("regression_channel_weights", weights, persistent=False)

    def frame_boxes(self, frame: TrainingFrame) -> Boxes:
        """The frame's ground-truth boxes in the detection classes, centred inside the grid's x-y range (the
        detector cannot see the others; nuScenes likewise evaluates within a range)."""
        sample = frame.sample
        if sample.boxes is None:
            raise ValueError(f"{sample.source}: detection needs frames with boxes (data.use_labels: true)")
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

    def outputs(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmap logits (B, C, H, W) and regression (B, R, H, W)."""
        x = SparseTensor(batch["features"], batch["coords"], self.info.grid.grid_shape, int(batch["batch_size"]))
        return self.head(self.backbone(x)["bev"])

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
        totals: dict[str, np.ndarray] = {}
        for i, predicted in enumerate(self.predict(batch)):
            stats = frame_statistics(predicted, ground_truth(batch, i), self.evaluation)
            totals = {key: totals.get(key, 0) + value for key, value in stats.items()}
        return {key: torch.as_tensor(value, dtype=torch.float64, device=device) for key, value in totals.items()}

    def summarize(self, totals: Mapping[str, torch.Tensor]) -> dict[str, float]:
        return detection_metrics({key: value.cpu().numpy() for key, value in totals.items()}, self.evaluation)

    def write_report(self, totals: Mapping[str, torch.Tensor], dataset: Any, folder: Path) -> list[Path]:
        """Precision-recall curves and a BEV picture of the first evaluation frame with truth and predictions."""
        from .report import write_detection_report

        return write_detection_report(self, totals, dataset, folder)


def ground_truth(batch: Mapping[str, torch.Tensor], frame: int) -> Boxes:
    """Frame `frame`'s ground-truth boxes from a collated batch."""
    mine = (batch["gt_frame"] == frame).cpu().numpy()
    return Boxes(batch["gt_boxes"].cpu().numpy()[mine], batch["gt_classes"].cpu().numpy()[mine])


def build_detection_task(config: CenterPointConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return CenterPointTask(backbone, info, config)
