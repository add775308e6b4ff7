"""The spot.json `tasks` section of each exportable objective: how the runtime reads the task's outputs.

What the graph computes and the specs of its outputs are the task's own (`Task.infer`, `Task.output_specs`, the
path its evaluation runs); this file only says how the runtime post-processes them. `TASK_SECTIONS` maps an
objective name (the checkpoint config's `objective.name`) to that description; adding an exportable objective
means adding its line here.
"""

from __future__ import annotations

from collections.abc import Callable

from spot.runtime.artifact import DetectionSpec, SegmentationSpec
from spot.runtime.viz import class_color
from spot.trainer.objectives.detection.task import BOX_REGRESSION, HEATMAP_LOGITS, CenterPointTask
from spot.trainer.objectives.segmentation.task import VOXEL_LOGITS, SegmentationTask


def segmentation_section(task: SegmentationTask) -> dict:
    names = tuple(task.info.class_names)
    colors = tuple(class_color(name, i) for i, name in enumerate(names))
    return {"segmentation": SegmentationSpec(VOXEL_LOGITS, names, colors)}


def detection_section(task: CenterPointTask) -> dict:
    return {"detection": DetectionSpec(HEATMAP_LOGITS, BOX_REGRESSION, task.spec)}


# objective name -> the `Artifact` keyword arguments (`segmentation=` / `detection=`) describing its outputs
TASK_SECTIONS: dict[str, Callable[..., dict]] = {
    "semantic_segmentation": segmentation_section,
    "centerpoint_detection": detection_section,
}
