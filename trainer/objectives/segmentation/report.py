"""`spot-train eval` pictures for segmentation: the confusion matrix, and one frame predicted beside its truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from spot.runtime.viz import render_bev

from ...engine.task import move_to_device


def write_segmentation_report(task: Any, totals: Mapping[str, torch.Tensor], dataset: Any, folder: Path) -> list[Path]:
    """`folder`/confusion_matrix.png and `folder`/bev_frame0.png (truth | prediction)."""
    folder.mkdir(parents=True, exist_ok=True)
    matrix = folder / "confusion_matrix.png"
    plot_confusion(totals["confusion"].cpu().numpy(), task.info.class_names, matrix)
    pictures = [matrix]
    if len(dataset):
        frame = folder / "bev_frame0.png"
        side_by_side(task, dataset[0]).save(frame, format="PNG")
        pictures.append(frame)
    return pictures


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    """Row-normalised confusion matrix (rows = truth) over the classes present in the truth or the predictions;
    each row is labelled with its IoU and its share of the points."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    present = np.flatnonzero((confusion.sum(0) + confusion.sum(1)) > 0)
    shown = confusion[np.ix_(present, present)]
    rows = shown.sum(1, keepdims=True)
    normalised = np.divide(shown, rows, out=np.zeros_like(shown, dtype=float), where=rows > 0)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    iou = np.divide(np.diag(confusion), union, out=np.zeros(len(confusion)), where=union > 0)[present]
    share = confusion.sum(1)[present] / max(confusion.sum(), 1)
    names = [class_names[c] for c in present]
    size = 2.5 + 0.45 * len(present)
    figure, axes = plt.subplots(figsize=(size + 2, size))
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right")
    row_labels = [f"{n}  IoU {i:.2f}  ({100 * s:.1f} %)" for n, i, s in zip(names, iou, share, strict=True)]
    axes.set_yticks(range(len(names)), row_labels)
    for r, c in zip(*np.nonzero(normalised >= 0.01), strict=True):
        axes.text(c, r, f"{normalised[r, c]:.2f}", ha="center", va="center", fontsize=7,
                  color="white" if normalised[r, c] > 0.5 else "black")  # fmt: skip
    axes.set(xlabel="predicted", ylabel="truth (IoU, share of labelled points)", title="confusion (row-normalised)")
    figure.colorbar(image, ax=axes, fraction=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def side_by_side(task: Any, frame: Any) -> Image.Image:
    """BEV of one frame coloured by its truth (left) and by the model's prediction (right)."""
    device = next(task.parameters()).device
    was_training = task.training
    task.eval()
    with torch.no_grad():
        predicted = task.predict_points(move_to_device(task.collate([frame]), device)).cpu().numpy()
    task.train(was_training)
    sample = frame.sample
    extent = task.info.grid.bev_extent_m
    names = task.info.class_names
    truth = render_bev(replace(sample, class_names=names, source="truth"), extent, color_by="label")
    prediction = render_bev(replace(sample, labels=predicted, class_names=names, source="prediction"), extent)
    canvas = Image.new("RGB", (truth.width + prediction.width, max(truth.height, prediction.height)))
    canvas.paste(truth, (0, 0))
    canvas.paste(prediction, (truth.width, 0))
    return canvas
