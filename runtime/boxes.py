"""The box contract (DESIGN §3): `float32 (M, 7)` `[x, y, z_center, length, width, height, yaw]`.

Boxes are in the sensor frame; `length` is along the heading, `width` across it; yaw is about +z from +x.
Class ids (into the dataset's class names) and, for predictions, scores sit beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SpotInputError

BOX_COLUMNS = ("x", "y", "z_center", "length", "width", "height", "yaw")


@dataclass(frozen=True)
class Boxes:
    """`data` float32 (M, 7) in `BOX_COLUMNS` order, `class_ids` int32 (M,), optional `scores` float32 (M,)."""

    data: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data, dtype=np.float32)
        if data.size == 0:
            data = data.reshape(0, 7)
        if data.ndim != 2 or data.shape[1] != 7:
            raise SpotInputError(f"boxes must be (M, 7) {BOX_COLUMNS}, got {data.shape}")
        object.__setattr__(self, "data", data)
        class_ids = np.asarray(self.class_ids, dtype=np.int32).reshape(-1)
        if class_ids.shape[0] != data.shape[0]:
            raise SpotInputError(f"{data.shape[0]} boxes but {class_ids.shape[0]} class ids")
        object.__setattr__(self, "class_ids", class_ids)
        if self.scores is not None:
            scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
            if scores.shape[0] != data.shape[0]:
                raise SpotInputError(f"{data.shape[0]} boxes but {scores.shape[0]} scores")
            object.__setattr__(self, "scores", scores)
        if not np.isfinite(self.data).all():
            raise SpotInputError("boxes have non-finite values")

    @classmethod
    def empty(cls) -> Boxes:
        return cls(np.zeros((0, 7), np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return self.data.shape[0]

    def select(self, mask_or_index: np.ndarray) -> Boxes:
        scores = None if self.scores is None else self.scores[mask_or_index]
        return Boxes(self.data[mask_or_index], self.class_ids[mask_or_index], scores)


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners (M, 8, 3): bottom face counter-clockwise from (+l/2, +w/2), then the top face in the same order."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    signs = np.array(
        [[1, 1, -1], [-1, 1, -1], [-1, -1, -1], [1, -1, -1], [1, 1, 1], [-1, 1, 1], [-1, -1, 1], [1, -1, 1]],
        dtype=np.float64,
    )
    local = signs[None] * boxes[:, None, 3:6] / 2.0  # (M, 8, 3)
    cos, sin = np.cos(boxes[:, 6])[:, None], np.sin(boxes[:, 6])[:, None]
    x = local[..., 0] * cos - local[..., 1] * sin
    y = local[..., 0] * sin + local[..., 1] * cos
    return np.stack([x, y, local[..., 2]], axis=-1) + boxes[:, None, :3]


def points_in_boxes(xyz: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Index of the box containing each point, or -1; (N,) int64. Where boxes overlap, the first one wins."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    owner = np.full(len(xyz), -1, dtype=np.int64)
    for index in range(len(boxes) - 1, -1, -1):
        x, y, z, length, width, height, yaw = boxes[index]
        d = np.asarray(xyz[:, :3], dtype=np.float64) - (x, y, z)
        along = d[:, 0] * np.cos(yaw) + d[:, 1] * np.sin(yaw)
        across = -d[:, 0] * np.sin(yaw) + d[:, 1] * np.cos(yaw)
        inside = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2) & (np.abs(d[:, 2]) <= height / 2)
        owner[inside] = index
    return owner


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi
