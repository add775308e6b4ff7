"""What export needs to know per objective: the traced outputs, their specs, and the task section of spot.json.

`TASK_EXPORTS` maps an objective name (the checkpoint config's `objective.name`) to its `TaskExport`; adding
an exportable objective means adding its line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from spot.runtime.artifact import DetectionSpec, SegmentationSpec, TensorSpec
from spot.runtime.viz import class_color
from spot.trainer.sparse import SparseTensor

VOXEL_LOGITS = "voxel_logits"
HEATMAP_LOGITS = "heatmap_logits"
BOX_REGRESSION = "box_regression"


@dataclass(frozen=True)
class TaskExport:
    """forward(task, x) -> output tensors (in `outputs` order); `outputs(task)` specs; `tasks(task)` the
    spot.json `tasks` entries (`SegmentationSpec` / `DetectionSpec` by keyword)."""

    forward: Callable[[nn.Module, SparseTensor], tuple[torch.Tensor, ...]]
    outputs: Callable[[nn.Module], tuple[TensorSpec, ...]]
    tasks: Callable[[nn.Module], dict]


def _segmentation_forward(task: nn.Module, x: SparseTensor) -> tuple[torch.Tensor, ...]:
    return (task.head(task.backbone(x).features),)  # (V, C) class logits per input voxel


def _segmentation_outputs(task: nn.Module) -> tuple[TensorSpec, ...]:
    shape = ("V_input", len(task.info.class_names))
    return (TensorSpec(VOXEL_LOGITS, "float32", shape, meaning="class logits per input voxel"),)


def _segmentation_tasks(task: nn.Module) -> dict:
    names = tuple(task.info.class_names)
    colors = tuple(class_color(name, i) for i, name in enumerate(names))
    return {"segmentation": SegmentationSpec(VOXEL_LOGITS, names, colors)}


def _detection_forward(task: nn.Module, x: SparseTensor) -> tuple[torch.Tensor, ...]:
    """Sparse BEV encoder, densified (a ScatterND of the last voxels into the BEV map), CenterPoint head."""
    return tuple(task.head(task.backbone(x)["bev"]))  # (1, C, H, W) heatmap logits, (1, R, H, W) regression


def _detection_outputs(task: nn.Module) -> tuple[TensorSpec, ...]:
    (h, w), spec = task.spec.map_shape, task.spec
    return (
        TensorSpec(HEATMAP_LOGITS, "float32", (1, len(spec.class_names), h, w), meaning="CenterPoint heatmap logits"),
        TensorSpec(BOX_REGRESSION, "float32", (1, spec.regression_channels, h, w),
                   meaning="box regression per cell (spot.runtime.detection.REGRESSION_LAYOUT)"),
    )  # fmt: skip


def _detection_tasks(task: nn.Module) -> dict:
    return {"detection": DetectionSpec(HEATMAP_LOGITS, BOX_REGRESSION, task.spec)}


TASK_EXPORTS: dict[str, TaskExport] = {
    "semantic_segmentation": TaskExport(_segmentation_forward, _segmentation_outputs, _segmentation_tasks),
    "centerpoint_detection": TaskExport(_detection_forward, _detection_outputs, _detection_tasks),
}
