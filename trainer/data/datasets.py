"""Training datasets: the simulator on the fly, and SemanticKITTI-layout folders (real or simulated).

Both yield `TrainingFrame`s: the (augmented) `Sample`, plus, when `aggregate_frames` > 0, the points of the
neighbouring frames brought into this frame's sensor frame with the poses, and the sensor positions they were
seen from; SPOT aggregates them to densify its occupancy targets. Augmentations draw from the global numpy
generator, which the engine seeds per (seed, epoch, index), so a frame's augmentation is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from spot.runtime import IGNORE_INDEX, Sample, SpotInputError, VoxelGrid
from spot.runtime.io.kitti import read_kitti_object
from spot.runtime.io.semantickitti import (
    LabelMap,
    find_label_map,
    label_path_for,
    read_label_file,
    read_semantickitti,
)
from spot.sim import SimulatedSequence, label_map

from ..augment import BeamResample, BeamResampleConfig
from ..config import existing_path
from ..engine.sampling import balanced_sampling_weights
from ..engine.seeding import sample_seed
from ..engine.task import DatasetInfo

AUGMENTATION, TASK_TARGETS = 0, 1  # purposes of `TrainingFrame.rng`
SUBSET_DATA, SUBSET_LABELS = 0, 1  # streams of `subset_seed`: frames used, frames labelled
THING_CLASSES = ("car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist", "motorcyclist")


@dataclass(frozen=True)
class TrainingFrame:
    """sample: the frame; context_*: the neighbouring frames' points (M, 3), the sensor positions they were
    seen from (M, 3) and their labels (M,) (`IGNORE_INDEX` when unlabeled), all in this frame's sensor frame
    (M = 0 when not aggregating); seed: this sample's seed for every later random choice about it
    (augmentation here, queries or ray subsets in a task's collate)."""

    sample: Sample
    context_xyz: np.ndarray
    context_origins: np.ndarray
    context_labels: np.ndarray
    seed: int

    def rng(self, purpose: int) -> np.random.Generator:
        """An independent generator per purpose (0 = augmentation, 1 = the task's targets)."""
        return np.random.default_rng([self.seed, purpose])


@dataclass
class FrameDataConfig:
    """What every frame dataset shares: voxelization, label use, augmentation and sampling."""

    point_cloud_range: list[float] = field(default_factory=lambda: [-25.6, -25.6, -3.0, 25.6, 25.6, 1.8])
    voxel_size: list[float] = field(default_factory=lambda: [0.2, 0.2, 0.2])
    use_labels: bool = True  # False: pre-train as if unlabeled (SPOT's geometric occupancy, ALSO)
    fraction: float = 1.0  # share of the frames used, a fixed seed-determined subset (data-scaling studies)
    label_fraction: float = 1.0  # share of the frames whose labels fine-tuning may use (label-efficiency studies)
    subset_seed: int = 0  # draws both subsets: the same seed gives the same frames in every run
    aggregate_frames: int = 0  # neighbours on each side whose points densify the targets
    beam_resample: BeamResampleConfig = field(default_factory=lambda: BeamResampleConfig(probability=0.0))
    class_balanced: bool = False  # SPOT's class-balanced frame sampling


@dataclass
class SimDataConfig(FrameDataConfig):
    sensor: str = "hdl64"
    seeds: list[int] = field(default_factory=lambda: [0])  # one simulated sequence per seed
    frames: int = 8  # per sequence
    horizontal_resolution_deg: float | None = None  # coarser than the sensor's for faster CPU runs


@dataclass
class FolderDataConfig(FrameDataConfig):
    root: str = existing_path()  # a folder with sequences/SS/velodyne/*.bin (+ labels/, poses.txt)
    sequences: list[str] = field(default_factory=lambda: ["00"])


@dataclass
class KittiObjectDataConfig(FrameDataConfig):
    root: str = existing_path()  # a KITTI object split: velodyne/*.bin, label_2/*.txt, calib/*.txt


class FrameDataset:
    """Index -> TrainingFrame over a list of (sequence, frame) pairs; subclasses say how to read a frame."""

    def __init__(self, config: FrameDataConfig, frames: Sequence[tuple[int, int]], sequence_lengths: Sequence[int]):
        for key in ("fraction", "label_fraction"):
            if not 0 < getattr(config, key) <= 1:
                raise SpotInputError(f"data {key}={getattr(config, key)}, expected a share in (0, 1]")
        if config.label_fraction < 1 and not config.use_labels:
            raise SpotInputError(f"data label_fraction={config.label_fraction} needs use_labels: true")
        self.config = config
        self.sequence_lengths = list(sequence_lengths)
        frames = _seeded_subset(frames, config.fraction, [config.subset_seed, SUBSET_DATA])
        # Supervised fine-tuning learns from labelled frames only, so the unlabelled rest is left out.
        self.frames = _seeded_subset(frames, config.label_fraction, [config.subset_seed, SUBSET_LABELS])
        self.grid = VoxelGrid(tuple(config.point_cloud_range), tuple(config.voxel_size))
        self.info = DatasetInfo(class_names=label_map().class_names, grid=self.grid)
        self.augment = BeamResample(config.beam_resample)

    def read(self, sequence: int, frame: int) -> Sample:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> TrainingFrame:
        sequence, frame = self.frames[index]
        sample = self.read(sequence, frame)
        context_xyz, context_origins, context_labels = self._context(sequence, frame, sample)
        if not self.config.use_labels:
            sample = replace(sample, labels=None, instances=None, boxes=None)
            context_labels = np.full(len(context_xyz), IGNORE_INDEX, np.int32)
        unaugmented = TrainingFrame(sample, context_xyz, context_origins, context_labels, sample_seed())
        return replace(unaugmented, sample=self.augment(sample, unaugmented.rng(AUGMENTATION)))

    def _context(self, sequence: int, frame: int, sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, last = self.config.aggregate_frames, self.sequence_lengths[sequence] - 1
        neighbours = [i for i in range(frame - k, frame + k + 1) if i != frame and 0 <= i <= last]
        if not neighbours or sample.pose is None:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros(0, np.int32)
        world_to_here = np.linalg.inv(sample.pose)
        xyz, origins, labels = [], [], []
        for i in neighbours:
            other = self.read(sequence, i)
            transform = world_to_here @ other.pose
            xyz.append(other.scan.xyz @ transform[:3, :3].T + transform[:3, 3])
            origins.append(np.broadcast_to(transform[:3, 3], (len(other.scan), 3)))
            labels.append(other.labels if other.labels is not None else np.full(len(other.scan), IGNORE_INDEX))
        return (
            np.concatenate(xyz).astype(np.float32),
            np.concatenate(origins).astype(np.float32),
            np.concatenate(labels).astype(np.int32),
        )

    def sampling_weights(self) -> np.ndarray | None:
        """SPOT's class-balanced weights over the frames' labelled classes (None: uniform permutation)."""
        if not self.config.class_balanced:
            return None
        if not self.config.use_labels:
            raise SpotInputError("class_balanced sampling needs labels: set use_labels: true or class_balanced: false")
        groups = [self.frame_classes(s, f) for s, f in self.frames]
        return balanced_sampling_weights(groups, len(self.info.class_names))

    def frame_classes(self, sequence: int, frame: int) -> np.ndarray:
        """Class ids present in a frame (for class balancing); subclasses may read less than the whole frame."""
        return np.unique(self.read(sequence, frame).labels)


def _seeded_subset(frames: Sequence[tuple[int, int]], share: float, seed: list[int]) -> list[tuple[int, int]]:
    """round(share * len(frames)) frames (at least one) drawn by `seed`, in their original order."""
    if share == 1:
        return list(frames)
    keep = max(1, round(share * len(frames)))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(frames))[:keep])
    return [frames[i] for i in chosen]


class SimulatedDataset(FrameDataset):
    """Frames simulated on demand: nothing to download, and every frame is a pure function of the config."""

    def __init__(self, config: SimDataConfig):
        self.sequences = [
            SimulatedSequence(
                config.sensor, config.frames, seed, horizontal_resolution_deg=config.horizontal_resolution_deg
            )
            for seed in config.seeds
        ]
        pairs = [(s, f) for s, seq in enumerate(self.sequences) for f in range(len(seq))]
        super().__init__(config, pairs, [len(seq) for seq in self.sequences])

    def read(self, sequence: int, frame: int) -> Sample:
        return self.sequences[sequence].frame(frame)[0]


class FolderDataset(FrameDataset):
    """SemanticKITTI layout: `root/sequences/SS/velodyne/NNNNNN.bin`, `labels/`, `poses.txt`, `calib.txt`."""

    def __init__(self, config: FolderDataConfig):
        root = Path(config.root)
        self.scans: list[list[Path]] = []
        self.poses: list[np.ndarray | None] = []
        for name in config.sequences:
            folder = root / "sequences" / name
            scans = sorted((folder / "velodyne").glob("*.bin"))
            if not scans:
                raise SpotInputError(f"no velodyne/*.bin scans in sequence {name!r}", source=folder)
            self.scans.append(scans)
            self.poses.append(read_lidar_poses(folder, len(scans)))
        pairs = [(s, f) for s, scans in enumerate(self.scans) for f in range(len(scans))]
        super().__init__(config, pairs, [len(scans) for scans in self.scans])
        self.label_map = LabelMap.from_yaml(find_label_map(self.scans[0][0])) if config.use_labels else None

    def frame_classes(self, sequence: int, frame: int) -> np.ndarray:
        """From the label file alone: class balancing reads every frame's labels once, never its points."""
        path = self.scans[sequence][frame]
        semantic, _ = read_label_file(label_path_for(path), path.stat().st_size // 16)
        return np.unique(self.label_map(semantic))

    def read(self, sequence: int, frame: int) -> Sample:
        sample = read_semantickitti(self.scans[sequence][frame])
        poses = self.poses[sequence]
        return sample if poses is None else replace(sample, pose=poses[frame])


class KittiObjectDataset(FrameDataset):
    """KITTI 3D object layout: `root/velodyne/ID.bin` with `label_2/ID.txt` + `calib/ID.txt`, boxes in the
    LiDAR frame (`spot.runtime.io.kitti`); single frames, no poses. Boxes exist only in the front camera's view."""

    def __init__(self, config: KittiObjectDataConfig):
        self.scans = sorted((Path(config.root) / "velodyne").glob("*.bin"))
        if not self.scans:
            raise SpotInputError("no velodyne/*.bin scans (expected the KITTI object layout)", source=config.root)
        super().__init__(config, [(0, i) for i in range(len(self.scans))], [len(self.scans)])

    def read(self, sequence: int, frame: int) -> Sample:
        return read_kitti_object(self.scans[frame])


def read_lidar_poses(folder: Path, num_frames: int) -> np.ndarray | None:
    """LiDAR poses (F, 4, 4) from KITTI's poses.txt (camera frame) and calib.txt's `Tr` (LiDAR -> camera).

    pose_lidar = Tr^-1 @ pose_camera @ Tr. None when the sequence has no poses.txt.
    """
    poses_file = folder / "poses.txt"
    if not poses_file.is_file():
        return None
    rows = np.loadtxt(poses_file, dtype=np.float64, ndmin=2)
    if rows.shape != (num_frames, 12):
        raise SpotInputError(
            f"has {rows.shape} values, expected {num_frames} lines of 12 (3x4 row-major)", source=poses_file
        )
    poses = np.tile(np.eye(4), (num_frames, 1, 1))
    poses[:, :3, :] = rows.reshape(-1, 3, 4)
    tr = np.eye(4)
    calib = folder / "calib.txt"
    if calib.is_file():
        for line in calib.read_text().splitlines():
            if line.startswith("Tr:"):
                tr[:3, :] = np.array(line.split()[1:], dtype=np.float64).reshape(3, 4)
    return np.linalg.inv(tr) @ poses @ tr
