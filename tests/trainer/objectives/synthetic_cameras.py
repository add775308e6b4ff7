"""Synthetic cameras for CLAP's tests until the simulator renders its own: a ring of pinhole cameras whose images
are the scan's points splatted with a z-buffer, coloured by height, intensity and a world-position texture (not
by label), on a sky gradient. The registries here add `sim_synthetic_cameras`: the simulator's frames with them."""

from dataclasses import dataclass, replace

import numpy as np

from spot.runtime.io.cameras import CameraCalibration, CameraFrame
from spot.trainer.components import DATASETS, MODELS, OBJECTIVES
from spot.trainer.data.datasets import SimDataConfig, SimulatedDataset
from spot.trainer.engine.task import TrainingFrame
from spot.trainer.registry import Entry, Registries

WIDTH, HEIGHT, HFOV_DEG = 128, 64, 120.0
CENTRE = np.array([0.3, 0.0, -0.2])  # every camera's optical centre in the LiDAR frame


def ring_rig(cameras: int = 3) -> tuple[CameraCalibration, ...]:
    """`cameras` level cameras at equal headings around the LiDAR, together seeing all around."""
    focal = (WIDTH / 2) / np.tan(np.radians(HFOV_DEG / 2))
    K = np.array([[focal, 0, (WIDTH - 1) / 2], [0, focal, (HEIGHT - 1) / 2], [0, 0, 1]])
    rig = []
    for i in range(cameras):
        yaw = 2 * np.pi * i / cameras
        forward, left = np.array([np.cos(yaw), np.sin(yaw), 0]), np.array([-np.sin(yaw), np.cos(yaw), 0])
        rotation = np.stack([-left, [0, 0, -1], forward])  # camera x right, y down, z forward
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = rotation, -rotation @ CENTRE
        rig.append(CameraCalibration(f"cam{i}", K, T, WIDTH, HEIGHT))
    return tuple(rig)


def point_colours(xyz: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """(N, 3) uint8: red from height, green from intensity, blue a stripe texture of the world position."""
    red = np.clip((xyz[:, 2] + 2.5) / 4.0, 0, 1)
    green = np.clip(intensity, 0, 1)
    blue = 0.5 + 0.5 * np.sin(2.0 * xyz[:, 0]) * np.cos(2.0 * xyz[:, 1])
    return (255 * np.stack([red, green, blue], axis=1)).astype(np.uint8)


def render(calibration: CameraCalibration, xyz: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """The points seen by the camera, nearest first, each splatted over 3 x 3 pixels; sky where none lands."""
    rows = np.linspace(200, 120, HEIGHT, dtype=np.float64)[:, None, None]
    image = np.broadcast_to(np.concatenate([rows * 0.6, rows * 0.8, rows], axis=2), (HEIGHT, WIDTH, 3)).copy()
    uv, depth = calibration.project(xyz)
    seen = np.flatnonzero((depth > 0.1) & np.isfinite(uv).all(1))
    order = seen[np.argsort(-depth[seen])]  # far first: nearer points overwrite
    colour = point_colours(xyz[order], intensity[order])
    col, row = np.floor(uv[order, 0] + 0.5).astype(int), np.floor(uv[order, 1] + 0.5).astype(int)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r, c = row + dr, col + dc
            inside = (r >= 0) & (r < HEIGHT) & (c >= 0) & (c < WIDTH)
            image[r[inside], c[inside]] = colour[inside]
    return image.astype(np.uint8)


@dataclass
class SyntheticCameraDataConfig(SimDataConfig):
    cameras: int = 3  # cameras in the ring


class SyntheticCameraDataset(SimulatedDataset):
    def __init__(self, config: SyntheticCameraDataConfig, info):
        super().__init__(config, info)
        self.rig = ring_rig(config.cameras)

    def __getitem__(self, index: int) -> TrainingFrame:
        frame = super().__getitem__(index)
        scan = frame.sample.scan
        cameras = tuple(CameraFrame(c, render(c, scan.xyz, scan.intensity)) for c in self.rig)
        return replace(frame, cameras=cameras)


REGISTRIES = Registries(
    datasets={**DATASETS, "sim_synthetic_cameras": Entry(SyntheticCameraDataset, SyntheticCameraDataConfig)},
    models=MODELS,
    objectives=OBJECTIVES,
)
