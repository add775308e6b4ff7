"""`spot-train eval` pictures for detection: precision-recall curves and one frame with truth and predictions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spot.runtime.detection_viz import render_detections

from ...engine.task import move_to_device
from ...metrics.detection import binned_precision_recall

PR_DISTANCE_M = 2.0  # the nuScenes threshold the curves show


def write_detection_report(task: Any, totals: Mapping[str, torch.Tensor], dataset: Any, folder: Path) -> list[Path]:
    """`folder`/precision_recall.png and `folder`/bev_frame<i>.png for the first `report_frames` frames."""
    folder.mkdir(parents=True, exist_ok=True)
    curves = folder / "precision_recall.png"
    plot_precision_recall({key: value.cpu().numpy() for key, value in totals.items()}, task.evaluation, curves)
    extent = task.info.grid.bev_extent_m
    device = next(task.parameters()).device
    was_training = task.training
    task.eval()
    pictures = [curves]
    for index in range(min(len(dataset), task.config.report_frames)):
        frame = dataset[index]
        predicted = task.predict(move_to_device(task.collate([frame]), device))[0]
        picture = render_detections(frame.sample, task.frame_boxes(frame), predicted, task.spec.class_names, extent)
        pictures.append(folder / f"bev_frame{index}.png")
        picture.save(pictures[-1], format="PNG")
    task.train(was_training)
    return pictures


def plot_precision_recall(totals: Mapping[str, np.ndarray], evaluation: Any, path: Path) -> None:
    """Per class with ground truth: precision over recall at the 2 m centre distance and at the BEV IoU threshold."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    distance = evaluation.centre_distances.index(PR_DISTANCE_M)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for c, name in enumerate(evaluation.class_names):
        num_gt = float(totals["num_gt"][c])
        if num_gt == 0:
            continue
        detections = totals["detections"][c]
        left.plot(*binned_precision_recall(totals["tp_centre"][distance, c], detections, num_gt), label=name)
        right.plot(*binned_precision_recall(totals["tp_iou"][c], detections, num_gt),
                   label=f"{name} (IoU {evaluation.iou_thresholds[c]:g})")  # fmt: skip
    for axes, title in ((left, f"centre distance < {PR_DISTANCE_M:g} m (nuScenes)"), (right, "BEV IoU (KITTI)")):
        axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
