"""The `semantic_segmentation` fine-tuning objective: sparse UNet + per-voxel classifier, scored per point.

Voxel logits reach every point through `point_to_voxel` (the voxelization contract), so the loss and the
metrics are computed on points, as benchmarks count them. Points outside the voxel grid get no prediction and
are left out of both; the evaluation report says how many there were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spot.runtime import IGNORE_INDEX, SpotInputError
from spot.runtime.artifact import TensorSpec
from spot.trainer.sparse import SparseTensor

from ...engine.task import DatasetInfo, Task, TrainingFrame
from ...losses import CrossEntropyLovasz
from ...models.heads import VoxelClassifier
from ...schema import POINT_LABELS, VOXEL_FEATURES, Invalid, bounded, require_classes, require_features, require_labels
from ..batching import voxel_batch
from .report import write_segmentation_report

VOXEL_LOGITS = "voxel_logits"  # the deployed model's output
SEGMENTATION_OBJECTIVE = "semantic_segmentation"  # its registry name (`spot.trainer.components`)


@dataclass
class SegmentationConfig:
    lovasz_weight: float = bounded(1.0, ge=0)
    class_weights: list[float] | None = bounded(None, ge=0)  # one per class; None = uniform

    def check_experiment(self, experiment, key: str) -> None:
        """Labelled points in the experiment's classes, and a backbone with a feature per voxel to classify."""
        classes = require_classes(experiment)
        require_labels(experiment, POINT_LABELS)
        require_features(experiment, VOXEL_FEATURES)
        if self.class_weights is not None and len(self.class_weights) != len(classes):
            raise Invalid(f"{key}.class_weights", f"expected one weight per class ({len(classes)})",
                          self.class_weights)  # fmt: skip


class SegmentationTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: SegmentationConfig):
        super().__init__(backbone, info)
        num_classes = len(info.class_names)
        self.head = VoxelClassifier(backbone.out_channels, num_classes)
        self.loss = CrossEntropyLovasz(num_classes, config.class_weights, config.lovasz_weight)

    def collate(self, frames: Sequence[TrainingFrame]) -> dict[str, torch.Tensor]:
        samples = [frame.sample for frame in frames]
        for sample in samples:
            if sample.labels is None:
                raise SpotInputError("segmentation needs labelled frames", source=sample.source)
        batch = voxel_batch(samples, self.info.grid)
        batch["point_labels"] = torch.from_numpy(np.concatenate([sample.labels for sample in samples]).astype(np.int64))
        return batch

    def infer(self, x: SparseTensor) -> tuple[torch.Tensor]:
        """Class logits (V, C) of every input voxel: what the exported graph returns."""
        return (self.head(self.backbone(x)),)

    def output_specs(self) -> tuple[TensorSpec]:
        shape = ("V_input", len(self.info.class_names))
        return (TensorSpec(VOXEL_LOGITS, "float32", shape, meaning="class logits per input voxel"),)

    def voxel_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.infer(self.network_input(batch))[0]  # (V, C)

    def point_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (N_in, C) of the points inside the grid, and their labels (N_in,)."""
        point_to_voxel = batch["point_to_voxel"]
        inside = point_to_voxel >= 0
        return self.voxel_logits(batch)[point_to_voxel[inside]], batch["point_labels"][inside]

    def predict_points(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Class id of every point in the batch (N,), `IGNORE_INDEX` outside the grid."""
        point_to_voxel = batch["point_to_voxel"]
        inside = point_to_voxel >= 0
        labels = torch.full_like(point_to_voxel, IGNORE_INDEX)
        labels[inside] = self.voxel_logits(batch).argmax(1)[point_to_voxel[inside]].to(labels.dtype)
        return labels

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits, labels = self.point_logits(batch)
        return self.loss(logits, labels)

    def evaluate_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-point confusion matrix (rows = truth) over labelled points inside the grid."""
        logits, labels = self.point_logits(batch)
        labelled = labels != IGNORE_INDEX
        k = len(self.info.class_names)
        confusion = torch.bincount(labels[labelled] * k + logits[labelled].argmax(1), minlength=k * k).view(k, k)
        outside = (batch["point_to_voxel"] < 0).sum()
        return {"confusion": confusion.double(), "points_outside_grid": outside.double()}

    def summarize(self, totals: dict[str, torch.Tensor]) -> dict[str, float]:
        metrics = segmentation_metrics(totals["confusion"], self.info.class_names)
        metrics["points_outside_grid"] = float(totals["points_outside_grid"])
        return metrics

    def write_report(self, totals: dict[str, torch.Tensor], dataset: Any, folder: Path) -> list[Path]:
        """The confusion matrix, and the first evaluation frame's truth beside its prediction."""
        return write_segmentation_report(self, totals, dataset, folder)


def segmentation_metrics(confusion: torch.Tensor, class_names: Sequence[str]) -> dict[str, float]:
    """mIoU over the classes present in the ground truth, per-class IoU (`iou/<name>`), and accuracy."""
    confusion = confusion.double()
    true_positive = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = confusion.sum(1) > 0
    iou = true_positive / union.clamp(min=1)
    metrics = {
        "miou": float(iou[present].mean()) if present.any() else 0.0,
        "accuracy": float(true_positive.sum() / confusion.sum().clamp(min=1)),
    }
    metrics.update({f"iou/{name}": float(iou[c]) for c, name in enumerate(class_names) if present[c]})
    return metrics


def build_segmentation_task(config: SegmentationConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return SegmentationTask(backbone, info, config)
