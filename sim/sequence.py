"""Simulated frames and sequences as `Sample`s, for training on the fly and for the dataset writer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from spot.runtime.boxes import Boxes
from spot.runtime.errors import SpotInputError
from spot.runtime.io.cameras import CameraFrame
from spot.runtime.sample import Sample
from spot.runtime.scan import Scan
from spot.runtime.sensors import SensorDescription, sensor_by_key
from spot.runtime.voxelize import VoxelGrid

from .camera import CameraSpec, CameraTruth, camera_rig, render_camera
from .classes import label_map
from .lidar import SCAN_COLUMNS, ReturnModel, sense
from .occupancy import occupancy_grid
from .raycast import SweepGeometry, cast_sweep
from .scene import Scene, generate_scene
from .shading import Lighting
from .solids import in_frame

# Occupancy grid of the SPOT / Occ3D kind: 102.4 m x 102.4 m x 6.4 m around the sensor in 0.4 m voxels.
DEFAULT_OCCUPANCY_GRID = VoxelGrid((-51.2, -51.2, -3.6, 51.2, 51.2, 2.8), (0.4, 0.4, 0.4))
CAMERA_STREAM = 1  # the cameras' random stream of a frame: [seed, index, CAMERA_STREAM] (the LiDAR's: [seed, index])


@dataclass(frozen=True)
class FrameTruth:
    """Per-frame ground truth beyond the Sample: raw SemanticKITTI labels of the points, box instance ids,
    raw box labels, points per box, moving flags."""

    raw_labels: np.ndarray
    box_instances: np.ndarray
    box_raw_labels: np.ndarray
    box_points: np.ndarray


def _boxes(scene: Scene, time: float, pose: np.ndarray, instances: np.ndarray):
    """Sensor-frame boxes (M, 7) of actors with at least one return, their instance ids and raw labels."""
    counts = np.bincount(instances, minlength=len(scene.actors) + 1)
    seen = [a for a in scene.actors if counts[a.instance] > 0]
    world = np.array([a.box_at(time) for a in seen]).reshape(-1, 7)
    inverse = np.linalg.inv(pose)
    boxes = world.copy()
    boxes[:, :3] = world[:, :3] @ inverse[:3, :3].T + inverse[:3, 3]
    boxes[:, 6] = np.mod(world[:, 6] - np.arctan2(pose[1, 0], pose[0, 0]) + np.pi, 2 * np.pi) - np.pi
    ids = np.array([a.instance for a in seen], dtype=np.int32)
    return boxes, ids, np.array([a.thing.label for a in seen], dtype=np.int32), counts[ids]


def simulate_frame(
    scene: Scene,
    sensor: SensorDescription,
    time: float,
    rng: np.random.Generator,
    *,
    model: ReturnModel | None = None,
    horizontal_resolution_deg: float | None = None,
    dataset: str = "sim",
) -> tuple[Sample, FrameTruth]:
    """One sweep of `scene` at `time` seconds: the Sample (contract class ids, boxes, world pose) and raw truth."""
    pose = scene.ego.pose_at(time)
    model = model or ReturnModel()
    geometry = SweepGeometry.of(sensor, horizontal_resolution_deg)
    image = cast_sweep(geometry, scene.ground, pose, in_frame(scene.solids_at(time), pose), sensor.max_range)
    returns = sense(image, geometry, sensor, model, rng)
    boxes, box_ids, box_labels, box_points = _boxes(scene, time, pose, returns.instance)
    labels = label_map()
    sample = Sample(
        scan=Scan(returns.points, SCAN_COLUMNS),
        labels=labels(returns.label),
        instances=returns.instance,
        boxes=Boxes(boxes.astype(np.float32), labels(box_labels)),
        pose=pose,
        sensor=sensor,
        dataset=dataset,
        source=f"{dataset}:seed={scene.seed}:t={time:.2f}",
        class_names=labels.class_names,
        box_class_names=labels.class_names,  # box class ids are contract class ids too
    )
    return sample, FrameTruth(returns.label, box_ids, box_labels, box_points)


def simulate_cameras(
    scene: Scene, rig: tuple[CameraSpec, ...], time: float, rng: np.random.Generator, source: str = ""
) -> list[tuple[CameraFrame, CameraTruth]]:
    """The images of `rig` at the instant of the sweep at `time` (same poses, same solids), with their truth."""
    pose, solids, lighting = scene.ego.pose_at(time), scene.solids_at(time), Lighting.of_scene(scene.seed)
    return [
        render_camera(spec.calibration(), scene.ground, pose, solids, lighting, rng, source=f"{source}:{spec.name}")
        for spec in rig
    ]


def frame_occupancy(scene: Scene, time: float, grid: VoxelGrid = DEFAULT_OCCUPANCY_GRID) -> np.ndarray:
    """Exact (Z, Y, X) uint8 occupancy (0 free, class id + 1) around the sensor at `time`."""
    pose = scene.ego.pose_at(time)
    return occupancy_grid(grid, scene.ground, pose, in_frame(scene.solids_at(time), pose))


@dataclass
class SimulatedSequence:
    """`frames` sweeps of one seeded scene seen by `sensor` (a `SENSORS` key) at its frame rate, and by the
    cameras of `cameras` (a `CAMERA_RIGS` name or specs; None = LiDAR only).

    Iterating yields `(Sample, FrameTruth)`; `camera_frames(i)` the images taken with sweep i. Poses are
    relative to the first frame (KITTI's poses.txt), and the whole sequence is a pure function of its arguments;
    the cameras draw their noise from their own stream, so the LiDAR frames are the same with or without them.
    """

    sensor: str = "hdl64"
    frames: int = 10
    seed: int = 0
    model: ReturnModel = field(default_factory=ReturnModel)
    horizontal_resolution_deg: float | None = None
    cameras: str | tuple[CameraSpec, ...] | None = None

    def __post_init__(self) -> None:
        self.description = sensor_by_key(self.sensor)
        self.rig = camera_rig(self.cameras) if isinstance(self.cameras, str) else tuple(self.cameras or ())
        if not isinstance(self.frames, int) or self.frames < 1:
            raise SpotInputError(f"frames={self.frames!r}, expected a whole number >= 1")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise SpotInputError(f"seed={self.seed!r}, expected a whole number in [0, 2**63)")
        self.period = 1.0 / float(self.description.extras.get("frame_rate_hz", 10.0))
        self.scene = generate_scene(self.seed, duration=self.frames * self.period)
        self.origin = np.linalg.inv(self.scene.ego.pose_at(0.0))

    def __len__(self) -> int:
        return self.frames

    def time_of(self, index: int) -> float:
        return index * self.period

    def _check(self, index: int) -> None:
        if not 0 <= index < self.frames:
            raise SpotInputError(f"frame {index} out of range, the sequence has {self.frames} frames")

    def frame(self, index: int) -> tuple[Sample, FrameTruth]:
        self._check(index)
        rng = np.random.default_rng([self.seed, index])
        sample, truth = simulate_frame(
            self.scene,
            self.description,
            self.time_of(index),
            rng,
            model=self.model,
            horizontal_resolution_deg=self.horizontal_resolution_deg,
            dataset=f"sim-{self.sensor}",
        )
        return replace(sample, pose=self.origin @ sample.pose), truth

    def camera_frames(self, index: int) -> list[tuple[CameraFrame, CameraTruth]]:
        """The rig's images taken with sweep `index` (empty without cameras), each with its per-pixel truth."""
        self._check(index)
        rng = np.random.default_rng([self.seed, index, CAMERA_STREAM])
        time = self.time_of(index)
        return simulate_cameras(self.scene, self.rig, time, rng, f"sim-{self.sensor}:seed={self.seed}:t={time:.2f}")

    def __iter__(self) -> Iterator[tuple[Sample, FrameTruth]]:
        return (self.frame(i) for i in range(self.frames))

    def samples(self) -> list[Sample]:
        """Every frame's Sample without the extra truth: scans to time or verify on when no recording is given."""
        return [sample for sample, _ in self]

    def occupancy(self, index: int, grid: VoxelGrid = DEFAULT_OCCUPANCY_GRID) -> np.ndarray:
        return frame_occupancy(self.scene, self.time_of(index), grid)
