"""CenterPoint-style detection post-processing (numpy): heatmaps -> oriented boxes, NMS, rotated BEV IoU.

One implementation serves the trainer's evaluation and the deployed runtime, so a detector scores the same in
`spot-train eval` as on the vehicle. The network (torch head or exported graph) outputs

    heatmap    (C, H, W) per-class centre probabilities (sigmoid already applied) on the BEV map,
    regression (R, H, W) per cell, in `REGRESSION_LAYOUT` order: offset (dx, dy) of the centre inside its cell
               in cells, z centre in metres, log(length, width, height) in metres, sin(yaw), cos(yaw), and,
               when the head predicts them, velocity (vx, vy) in m/s,

where row h / column w of the map is the cell [y_min + h * cell_y, ...) x [x_min + w * cell_x, ...), and
cell = voxel size * `stride`. Boxes follow the contract of `spot.runtime.boxes` (sensor frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .boxes import Boxes, box_corners
from .errors import SpotInputError
from .voxelize import VoxelGrid

REGRESSION_LAYOUT: dict[str, slice] = {
    "offset": slice(0, 2),
    "z": slice(2, 3),
    "log_size": slice(3, 6),
    "yaw": slice(6, 8),  # sin, cos
    "velocity": slice(8, 10),
}
NMS_KINDS = ("circle", "bev_iou")


@dataclass(frozen=True)
class CenterHeadSpec:
    """How to turn one frame's head outputs into boxes; written into spot.json by export.

    class_names: the heatmap channels; grid: the voxelization the BEV map is built on; stride: BEV cells per
    heatmap cell (the encoder's downsampling); score_threshold: lowest heatmap peak kept; pre_nms_top_k: peaks
    decoded per frame; max_detections: boxes kept per frame after NMS; nms: "circle" (CenterPoint: suppress
    same-class centres within `nms_radius[class]` metres) or "bev_iou" (rotated BEV IoU above `iou_threshold`).
    """

    class_names: tuple[str, ...]
    grid: VoxelGrid
    stride: int
    score_threshold: float = 0.1
    pre_nms_top_k: int = 500
    max_detections: int = 100
    nms: str = "circle"
    nms_radius: tuple[float, ...] = ()
    iou_threshold: float = 0.2
    with_velocity: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        radius = tuple(float(r) for r in self.nms_radius) or (1.0,) * len(self.class_names)
        object.__setattr__(self, "nms_radius", radius)
        if not self.class_names:
            raise SpotInputError("CenterHeadSpec needs at least one class name")
        if self.nms not in NMS_KINDS:
            raise SpotInputError(f"CenterHeadSpec nms={self.nms!r}; expected one of {NMS_KINDS}")
        if len(self.nms_radius) != len(self.class_names):
            raise SpotInputError(
                f"CenterHeadSpec has {len(self.nms_radius)} nms_radius values for {len(self.class_names)} classes"
            )
        for name in ("stride", "pre_nms_top_k", "max_detections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpotInputError(f"CenterHeadSpec {name}={value!r}; expected a positive whole number")
        for name in ("score_threshold", "iou_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise SpotInputError(f"CenterHeadSpec {name}={value!r}; expected a number in [0, 1]")
        if not all(np.isfinite(r) and r > 0 for r in self.nms_radius):
            raise SpotInputError(f"CenterHeadSpec nms_radius={self.nms_radius}; expected positive metres")

    @property
    def regression_channels(self) -> int:
        return REGRESSION_LAYOUT["velocity"].stop if self.with_velocity else REGRESSION_LAYOUT["yaw"].stop

    @property
    def cell_size(self) -> tuple[float, float]:
        """(x, y) metres of one heatmap cell."""
        return self.grid.voxel_size[0] * self.stride, self.grid.voxel_size[1] * self.stride

    @property
    def map_shape(self) -> tuple[int, int]:
        """(H, W) of the heatmap: the grid's (Y, X) divided by the stride, rounded up (strided convs pad)."""
        _, y, x = self.grid.grid_shape
        return -(-y // self.stride), -(-x // self.stride)

    def to_dict(self) -> dict[str, Any]:
        """The head's settings; the grid is not among them (it is the artifact's / the config's own section)."""
        return {
            "class_names": list(self.class_names),
            "stride": self.stride,
            "score_threshold": self.score_threshold,
            "pre_nms_top_k": self.pre_nms_top_k,
            "max_detections": self.max_detections,
            "nms": self.nms,
            "nms_radius": list(self.nms_radius),
            "iou_threshold": self.iou_threshold,
            "with_velocity": self.with_velocity,
            "regression_layout": _layout_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], grid: VoxelGrid) -> CenterHeadSpec:
        """The spec of `to_dict` on `grid`; a regression layout other than this runtime's is refused."""
        layout = data.get("regression_layout", _layout_dict())
        if layout != _layout_dict():
            raise SpotInputError(f"detection head regression_layout {layout} differs from this runtime's "
                                 f"{_layout_dict()}: the boxes would be decoded wrongly")  # fmt: skip
        return cls(grid=grid, **{key: value for key, value in data.items() if key != "regression_layout"})


def _layout_dict() -> dict[str, list[int]]:
    return {name: [s.start, s.stop] for name, s in REGRESSION_LAYOUT.items()}


@dataclass(frozen=True)
class Peaks:
    """Heatmap peaks of one frame: class ids, scores, and (row, column) cells, strongest first."""

    class_ids: np.ndarray
    scores: np.ndarray
    rows: np.ndarray
    cols: np.ndarray = field(repr=False)


def find_peaks(heatmap: np.ndarray, score_threshold: float, top_k: int) -> Peaks:
    """Cells that are the maximum of their 3x3 neighbourhood in their class (CenterNet's max-pool NMS), above
    `score_threshold`, the `top_k` strongest over all classes."""
    _, h, w = heatmap.shape
    padded = np.pad(heatmap, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    neighbourhood = np.max([padded[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], axis=0)
    candidates = np.flatnonzero((heatmap >= neighbourhood) & (heatmap >= score_threshold))
    scores = heatmap.reshape(-1)[candidates]
    order = np.argsort(-scores, kind="stable")[:top_k]
    candidates = candidates[order]
    class_ids, cells = np.divmod(candidates, h * w)
    rows, cols = np.divmod(cells, w)
    return Peaks(class_ids.astype(np.int32), scores[order].astype(np.float32), rows, cols)


def decode_center_heatmaps(heatmap: np.ndarray, regression: np.ndarray, spec: CenterHeadSpec) -> Boxes:
    """One frame's heatmap (C, H, W) probabilities and regression (R, H, W) -> `Boxes` with class ids and
    scores, after per-class NMS, strongest first, at most `spec.max_detections`."""
    heatmap, regression = _checked_outputs(heatmap, regression, spec)
    peaks = find_peaks(heatmap, spec.score_threshold, spec.pre_nms_top_k)
    values = regression[:, peaks.rows, peaks.cols].T.astype(np.float64)  # (P, R)
    cell_x, cell_y = spec.cell_size
    x_min, y_min = spec.grid.point_cloud_range[:2]
    offset = values[:, REGRESSION_LAYOUT["offset"]]
    sin_cos = values[:, REGRESSION_LAYOUT["yaw"]]
    data = np.column_stack(
        [
            x_min + (peaks.cols + offset[:, 0]) * cell_x,
            y_min + (peaks.rows + offset[:, 1]) * cell_y,
            values[:, REGRESSION_LAYOUT["z"]],
            np.exp(np.clip(values[:, REGRESSION_LAYOUT["log_size"]], -5.0, 5.0)),
            np.arctan2(sin_cos[:, 0], sin_cos[:, 1]),
        ]
    )
    keep = per_class_nms(data, peaks.scores, peaks.class_ids, spec)[: spec.max_detections]
    return Boxes(data[keep], peaks.class_ids[keep], peaks.scores[keep])


def per_class_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, spec: CenterHeadSpec) -> np.ndarray:
    """Indices kept by `spec.nms` run within each class, strongest first over all classes."""
    kept = []
    for class_id in np.unique(class_ids):
        members = np.flatnonzero(class_ids == class_id)
        if spec.nms == "circle":
            keep = circle_nms(boxes[members, :2], scores[members], spec.nms_radius[class_id])
        else:
            keep = bev_nms(boxes[members], scores[members], spec.iou_threshold)
        kept.append(members[keep])
    kept = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    return kept[np.argsort(-scores[kept], kind="stable")]


def circle_nms(centres: np.ndarray, scores: np.ndarray, radius: float) -> np.ndarray:
    """Greedy NMS on BEV centres (M, 2): a centre closer than `radius` metres to a kept, higher-scoring one is
    dropped. Returns kept indices, highest score first."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    order = np.argsort(-np.asarray(scores), kind="stable")
    close = np.sum((centres[order, None] - centres[None, order]) ** 2, axis=-1) < radius**2  # (M, M) in order
    return order[_greedy_keep(close)]


def bev_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS on rotated BEV IoU: a box overlapping a kept, higher-scoring one by more than `iou_threshold`
    is dropped. Returns kept indices, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    order = np.argsort(-np.asarray(scores), kind="stable")
    return order[_greedy_keep(bev_iou(boxes[order], boxes[order]) > iou_threshold)]


def _greedy_keep(conflicts: np.ndarray) -> np.ndarray:
    """Positions kept when walking a score-sorted list: each position is kept unless it conflicts with a kept one."""
    suppressed = np.zeros(len(conflicts), dtype=bool)
    kept = []
    for i in range(len(conflicts)):
        if suppressed[i]:
            continue
        kept.append(i)
        suppressed |= conflicts[i]
    return np.asarray(kept, dtype=np.int64)


def bev_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotated bird's-eye-view IoU (M, K) of boxes a (M, 7) and b (K, 7) (only x, y, length, width, yaw count).

    Exact: the intersection of two convex rectangles is the convex polygon of the corners of each inside the
    other and the crossings of their edges, ordered by angle around its centroid (shoelace area). Pairs whose
    circumscribed circles do not meet are skipped.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 7)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 7)
    iou = np.zeros((len(a), len(b)))
    half_diagonal_a = np.hypot(a[:, 3], a[:, 4]) / 2
    half_diagonal_b = np.hypot(b[:, 3], b[:, 4]) / 2
    distance = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    i, j = np.nonzero(distance < half_diagonal_a[:, None] + half_diagonal_b[None, :])
    if len(i) == 0:
        return iou
    intersection = rectangle_intersection_area(a[i], b[j])
    area_a, area_b = a[i, 3] * a[i, 4], b[j, 3] * b[j, 4]
    iou[i, j] = intersection / np.maximum(area_a + area_b - intersection, 1e-12)
    return iou


def rectangle_intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area (P,) of BEV rectangles a[p] and b[p] (P, 7), pair by pair."""
    corners_a = box_corners(a)[:, :4, :2]  # (P, 4, 2) counter-clockwise
    corners_b = box_corners(b)[:, :4, :2]
    crossings, crossing_valid = _edge_crossings(corners_a, corners_b)  # (P, 16, 2), (P, 16)
    points = np.concatenate([corners_a, corners_b, crossings], axis=1)  # (P, 24, 2)
    valid = np.concatenate([_inside(corners_a, b), _inside(corners_b, a), crossing_valid], axis=1)  # (P, 24)
    count = valid.sum(axis=1)
    centroid = (points * valid[..., None]).sum(axis=1) / np.maximum(count, 1)[:, None]
    angle = np.arctan2(points[..., 1] - centroid[:, None, 1], points[..., 0] - centroid[:, None, 0])
    order = np.argsort(np.where(valid, angle, np.inf), axis=1, kind="stable")
    ordered = np.take_along_axis(points, order[..., None], axis=1)
    # Invalid points (sorted last) collapse onto the first vertex, adding zero-length edges only.
    ordered = np.where(np.take_along_axis(valid, order, axis=1)[..., None], ordered, ordered[:, :1])
    following = np.roll(ordered, -1, axis=1)
    area = 0.5 * np.abs(np.sum(ordered[..., 0] * following[..., 1] - ordered[..., 1] * following[..., 0], axis=1))
    return np.where(count >= 3, area, 0.0)


def _inside(points: np.ndarray, boxes: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
    """(P, n) whether points[p] (P, n, 2) lie inside (or on) the BEV rectangle boxes[p]."""
    d = points - boxes[:, None, :2]
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    along = d[..., 0] * cos + d[..., 1] * sin
    across = -d[..., 0] * sin + d[..., 1] * cos
    return (np.abs(along) <= boxes[:, 3:4] / 2 + tolerance) & (np.abs(across) <= boxes[:, 4:5] / 2 + tolerance)


def _edge_crossings(corners_a: np.ndarray, corners_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crossing points (P, 16, 2) of every edge of a with every edge of b, and whether they lie on both edges
    (P, 16); parallel edges never cross (their shared stretch starts at corners, which are counted already)."""
    p = corners_a[:, :, None, :]  # (P, 4, 1, 2): edge k of a runs p -> p + r
    r = np.roll(corners_a, -1, axis=1)[:, :, None, :] - p
    q = corners_b[:, None, :, :]  # (P, 1, 4, 2): edge l of b runs q -> q + s
    s = np.roll(corners_b, -1, axis=1)[:, None, :, :] - q
    denominator = _cross(r, s)  # (P, 4, 4)
    parallel = np.abs(denominator) < 1e-12
    safe = np.where(parallel, 1.0, denominator)
    t = _cross(q - p, s) / safe  # position along a's edge
    u = _cross(q - p, r) / safe  # position along b's edge
    valid = ~parallel & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    return (p + t[..., None] * r).reshape(len(p), 16, 2), valid.reshape(len(p), 16)


def _cross(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    return v[..., 0] * w[..., 1] - v[..., 1] * w[..., 0]


def _checked_outputs(heatmap: Any, regression: Any, spec: CenterHeadSpec) -> tuple[np.ndarray, np.ndarray]:
    heatmap, regression = np.asarray(heatmap), np.asarray(regression)
    c, r = len(spec.class_names), spec.regression_channels
    if heatmap.ndim != 3 or heatmap.shape[0] != c:
        raise SpotInputError(f"heatmap must be (C={c}, H, W) for classes {spec.class_names}, got {heatmap.shape}")
    if regression.shape != (r, *heatmap.shape[1:]):
        raise SpotInputError(
            f"regression must be ({r}, {heatmap.shape[1]}, {heatmap.shape[2]}), got {regression.shape}"
        )
    return heatmap, regression
