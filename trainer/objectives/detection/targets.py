"""CenterPoint training targets from boxes: per-class Gaussian heatmaps and box regression at object centres.

The inverse of `spot.runtime.detection.decode_center_heatmaps`: decoding a frame's targets gives its boxes back
(tested), so the head learns exactly what the runtime reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spot.runtime import Boxes
from spot.runtime.detection import REGRESSION_LAYOUT, CenterHeadSpec


@dataclass(frozen=True)
class CenterTargets:
    """heatmap float32 (C, H, W); cells int64 (T,) flat index row * W + column of each object's centre cell;
    regression float32 (T, R) in `REGRESSION_LAYOUT` order."""

    heatmap: np.ndarray
    cells: np.ndarray
    regression: np.ndarray


def gaussian_radius(length: float, width: float, min_overlap: float) -> float:
    """CornerNet's radius (as CenterPoint uses it): the largest centre shift, in cells, for which a box of this
    size still overlaps its ground truth by `min_overlap` IoU in the three corner cases; the smallest of them."""
    b1 = length + width
    c1 = width * length * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (length + width)
    c2 = (1 - min_overlap) * width * length
    r2 = (b2 + np.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (length + width)
    c3 = (min_overlap - 1) * width * length
    r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return float(min(r1, r2, r3))


def draw_gaussian(heatmap: np.ndarray, row: int, col: int, radius: int) -> None:
    """Max-merge a (2r+1)^2 Gaussian (sigma = (2r+1) / 6, peak 1) centred on (row, col) into heatmap (H, W)."""
    sigma = (2 * radius + 1) / 6
    offsets = np.arange(-radius, radius + 1)
    bump = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    bump[bump < np.finfo(np.float32).eps * bump.max()] = 0
    h, w = heatmap.shape
    top, bottom = min(row, radius), min(h - row, radius + 1)
    left, right = min(col, radius), min(w - col, radius + 1)
    window = heatmap[row - top : row + bottom, col - left : col + right]
    np.maximum(window, bump[radius - top : radius + bottom, radius - left : radius + right], out=window)


def center_targets(boxes: Boxes, spec: CenterHeadSpec, min_overlap: float = 0.1, min_radius: int = 2) -> CenterTargets:
    """Targets of one frame's boxes (class ids into `spec.class_names`); boxes centred off the map are left out."""
    h, w = spec.map_shape
    heatmap = np.zeros((len(spec.class_names), h, w), np.float32)
    cell_x, cell_y = spec.cell_size
    x_min, y_min = spec.grid.point_cloud_range[:2]
    data = boxes.data.astype(np.float64)
    col_f, row_f = (data[:, 0] - x_min) / cell_x, (data[:, 1] - y_min) / cell_y
    cols, rows = np.floor(col_f).astype(np.int64), np.floor(row_f).astype(np.int64)
    on_map = (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    for box, row, col, class_id in zip(data[on_map], rows[on_map], cols[on_map], boxes.class_ids[on_map], strict=True):
        radius = gaussian_radius(box[3] / cell_x, box[4] / cell_y, min_overlap)
        draw_gaussian(heatmap[class_id], row, col, max(min_radius, int(radius)))
    regression = np.zeros((int(on_map.sum()), spec.regression_channels), np.float32)
    regression[:, REGRESSION_LAYOUT["offset"]] = np.column_stack([col_f - cols, row_f - rows])[on_map]
    regression[:, REGRESSION_LAYOUT["z"]] = data[on_map, 2:3]
    regression[:, REGRESSION_LAYOUT["log_size"]] = np.log(np.maximum(data[on_map, 3:6], 1e-3))
    yaw = data[on_map, 6]
    regression[:, REGRESSION_LAYOUT["yaw"]] = np.column_stack([np.sin(yaw), np.cos(yaw)])
    return CenterTargets(heatmap, (rows * w + cols)[on_map], regression)


def map_box_classes(
    boxes: Boxes, source_names: Sequence[str], class_map: Mapping[str, str], class_names: Sequence[str]
) -> Boxes:
    """Boxes relabelled into `class_names` through `class_map` (source name, lower case -> detection class);
    boxes of classes the map leaves out (parked bicycles, KITTI's Misc) or maps outside `class_names` are dropped."""
    lookup = np.full(len(source_names) + 1, -1, np.int32)  # the last entry catches ids outside source_names
    for source_id, name in enumerate(source_names):
        target = class_map.get(name.lower())
        if target in class_names:
            lookup[source_id] = class_names.index(target)
    ids = lookup[np.where((boxes.class_ids >= 0) & (boxes.class_ids < len(source_names)), boxes.class_ids, -1)]
    kept = ids >= 0
    return Boxes(boxes.data[kept], ids[kept], None if boxes.scores is None else boxes.scores[kept])
