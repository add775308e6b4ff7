"""Global scene augmentation: the whole frame rotated, mirrored, scaled and tilted about the sensor.

What Pointcept's `RandomRotate` / `RandomFlip` / `RandomScale` and OpenPCDet's `random_world_*` do, as one
linear map drawn per frame. Simulated streets all run along +x, level and flat, while real ones curve, climb
and are seen from a pitching car; without this a model learns the street's direction and the road's absolute
height, which real scans do not keep. The map fixes the sensor origin, so rays stay rays (ALSO's queries, the
occupancy's free space) and the neighbouring frames' points and sensor positions move with the frame.

Boxes follow their centres, scale with the frame, turn with the yaw and mirror with the flip; a tilt of a few
degrees leaves them upright (a 1.5 m tall box moves its top corners by ~4 cm at 3 degrees).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from spot.runtime import Boxes, Sample

from ..schema import Invalid, bounded


@dataclass
class GlobalTransformConfig:
    """Defaults change nothing (the frame keeps its geometry and nothing is drawn)."""

    rotate_deg: float = bounded(0.0, ge=0, le=180)  # yaw uniform in [-r, r] about the sensor's z axis
    flip: bool = False  # mirror y -> -y half the time (a street seen with left-hand traffic)
    scale: list[float] = bounded(default_factory=lambda: [1.0, 1.0], gt=0, length=2)  # uniform factor
    tilt_deg: float = bounded(0.0, ge=0, le=15)  # roll and pitch, each uniform in [-t, t]: mounts and road grades

    def check(self) -> None:
        if self.scale[0] > self.scale[1]:
            raise Invalid("scale", "is a range [low, high] with low <= high", self.scale)

    @property
    def active(self) -> bool:
        return bool(self.rotate_deg or self.flip or self.tilt_deg or self.scale != [1.0, 1.0])


def draw_transform(config: GlobalTransformConfig, rng: np.random.Generator) -> np.ndarray:
    """A (3, 3) linear map: scale * yaw @ tilt @ flip (the flip and tilt act in the sensor frame first)."""
    flip = np.diag([1.0, -1.0 if config.flip and rng.random() < 0.5 else 1.0, 1.0])
    roll, pitch = np.deg2rad(rng.uniform(-config.tilt_deg, config.tilt_deg, size=2))
    yaw = np.deg2rad(rng.uniform(-config.rotate_deg, config.rotate_deg))
    scale = rng.uniform(*config.scale)
    return scale * _rotation_z(yaw) @ _rotation_y(pitch) @ _rotation_x(roll) @ flip


def transform_boxes(boxes: Boxes, matrix: np.ndarray) -> Boxes:
    """Boxes under the linear map `matrix` (a similarity with an upright-preserving yaw part)."""
    if len(boxes) == 0:
        return boxes
    data = boxes.data.astype(np.float64)
    scale = np.cbrt(abs(np.linalg.det(matrix)))
    heading = np.stack([np.cos(data[:, 6]), np.sin(data[:, 6]), np.zeros(len(data))], axis=1) @ matrix.T
    out = data.copy()
    out[:, :3] = data[:, :3] @ matrix.T
    out[:, 3:6] = data[:, 3:6] * scale
    out[:, 6] = np.arctan2(heading[:, 1], heading[:, 0])  # a mirror turns the heading too: yaw -> -yaw
    return replace(boxes, data=out.astype(np.float32))


class GlobalTransform:
    """The augmentation: `GlobalTransform(config)(sample, rng) -> (sample, matrix)`; callers apply `matrix` to
    whatever else lives in the sample's frame (`points @ matrix.T`). `matrix` is None when the config changes
    nothing (then no number is drawn either)."""

    def __init__(self, config: GlobalTransformConfig):
        self.config = config

    def __call__(self, sample: Sample, rng: np.random.Generator) -> tuple[Sample, np.ndarray | None]:
        if not self.config.active:
            return sample, None
        matrix = draw_transform(self.config, rng)
        points = sample.scan.points.copy()
        points[:, :3] = (points[:, :3].astype(np.float64) @ matrix.T).astype(points.dtype)
        pose = sample.pose
        if pose is not None:
            inverse = np.eye(4)
            inverse[:3, :3] = np.linalg.inv(matrix)
            pose = pose @ inverse
        boxes = None if sample.boxes is None else transform_boxes(sample.boxes, matrix)
        return replace(sample, scan=replace(sample.scan, points=points), boxes=boxes, pose=pose), matrix


def _rotation_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rotation_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
