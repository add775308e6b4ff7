"""Training datasets: the simulator on the fly, SemanticKITTI-layout folders (real or simulated), nuScenes-lidarseg
in its own layout, KITTI object splits, and recordings (rosbag2 / MCAP / ROS 1 bags of PointCloud2, unlabelled:
for pre-training).

A dataset is built for the experiment's `DatasetInfo` (its declared voxelization and classes) and checks its data
against it: a labelled dataset's label map must give exactly the experiment's classes. All yield
`TrainingFrame`s: the (augmented) `Sample`, plus, when `aggregate_frames` > 0, the points of the neighbouring
frames brought into this frame's sensor frame with the poses, and the sensor positions they were seen from;
SPOT aggregates them to densify its occupancy targets. Augmentations draw from the global numpy
generator, which the engine seeds per (seed, epoch, index), so a frame's augmentation is reproducible.

Bad files: a dataset on disk checks every file it will read when it is built, from the files' sizes alone (no
read: a few `stat` calls per frame), and refuses with one line listing every file that cannot be used
(missing, truncated, a label count other than the point count). A file whose size is right but whose content
is not (all points non-finite, a label_2 line that does not parse) is found only when it is read; the engine
then skips that sample (`engine.sampling.SeededSamples`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spot.runtime import IGNORE_INDEX, Sample, SpotInputError
from spot.runtime.io.binary import float32_row_count
from spot.runtime.io.cameras import CameraFrame, image_path, read_camera_frames, read_rig, rig_path_for
from spot.runtime.io.kitti import read_kitti_object
from spot.runtime.io.label_maps import (
    LABEL_MAPS,
    NUSCENES_LIDARSEG_IDS,
    SEMANTICKITTI_IDS,
    LabelMapName,
    check_label_set,
    named_label_map,
    raw_id_space,
)
from spot.runtime.io.nuscenes_lidarseg import NuScenesLidarseg
from spot.runtime.io.rosbag import BagIndex
from spot.runtime.io.semantickitti import (
    LabelMap,
    check_label_file,
    find_label_map,
    label_path_for,
    read_label_file,
    read_semantickitti,
)
from spot.runtime.scan import require_points
from spot.runtime.sensors import SENSORS
from spot.sim import CAMERA_RIGS, SimulatedSequence

from ..augment import BeamResample, BeamResampleConfig, GlobalTransform, GlobalTransformConfig
from ..engine.sampling import balanced_sampling_weights
from ..engine.seeding import sample_seed
from ..engine.task import AUGMENTATION, DatasetInfo, TrainingFrame
from ..registry import existing_path
from ..schema import BOX_LABELS, POINT_LABELS, Invalid, bounded

SUBSET_DATA, SUBSET_LABELS = 0, 1  # streams of `subset_seed`: frames used, frames labelled
BAD_FILES_SHOWN = 3  # in the refusal's one line; the count says how many there are


SensorName = StrEnum("SensorName", {key: key for key in SENSORS})  # the simulator's sensor catalogue
CameraRigName = StrEnum("CameraRigName", {key: key for key in CAMERA_RIGS})  # the simulator's camera rigs


@dataclass
class FrameDataConfig:
    """What every frame dataset shares: label use, subsets, augmentation and sampling. `LABELS`: what its
    labelled frames carry (objectives check it against what they train on)."""

    LABELS: ClassVar[frozenset[str]] = frozenset({POINT_LABELS})

    use_labels: bool = True  # False: pre-train as if unlabeled (SPOT's geometric occupancy, ALSO)
    fraction: float = bounded(1.0, gt=0, le=1)  # share of the frames used, a fixed seeded subset (data scaling)
    label_fraction: float = bounded(1.0, gt=0, le=1)  # share of the frames whose labels fine-tuning may use
    subset_seed: int = bounded(0, ge=0)  # draws both subsets: the same seed gives the same frames in every run
    aggregate_frames: int = bounded(0, ge=0)  # neighbours on each side whose points densify the targets
    beam_resample: BeamResampleConfig = field(default_factory=lambda: BeamResampleConfig(probability=0.0))
    transform: GlobalTransformConfig = field(default_factory=GlobalTransformConfig)  # rotate, flip, scale, tilt
    class_balanced: bool = False  # SPOT's class-balanced frame sampling
    # Keep only what lies within this horizontal angle around +x (points; boxes by their centre): KITTI labels
    # only the front camera's view (about 81 degrees: 2 atan(1242 / 2 / 721.5)), so both the real evaluation and
    # the training it is compared with see that view alone. None: all around.
    front_fov_deg: float | None = bounded(None, gt=0, le=360)

    def check(self) -> None:
        if self.label_fraction < 1 and not self.use_labels:
            raise Invalid("label_fraction", "needs use_labels: true (it picks the frames whose labels are used)",
                          self.label_fraction)  # fmt: skip
        if self.class_balanced and not self.use_labels:
            raise Invalid("class_balanced", "needs labels: set use_labels: true or class_balanced: false", True)
        if self.transform.active and getattr(self, "cameras", None):
            raise Invalid("transform", "moves the LiDAR frame against the cameras' calibration: leave it out of "
                                       "camera-aware configs", "active")  # fmt: skip

    def check_experiment(self, experiment, key: str) -> None:
        if self.class_balanced and experiment.classes is None:
            raise Invalid(f"{key}.class_balanced", "weights frames by their classes: declare the experiment's "
                                                   "`classes`", True)  # fmt: skip


@dataclass
class SimDataConfig(FrameDataConfig):
    LABELS: ClassVar[frozenset[str]] = frozenset({POINT_LABELS, BOX_LABELS})

    sensor: SensorName = SensorName.hdl64
    seeds: list[int] = bounded(default_factory=lambda: [0], ge=0, lt=2**63, min_length=1)  # a sequence per seed
    frames: int = bounded(8, ge=1)  # per sequence
    horizontal_resolution_deg: float | None = bounded(None, gt=0)  # coarser than the sensor's for faster CPU runs
    label_map: LabelMapName = LabelMapName.semantickitti  # how the simulator's raw ids become classes
    cameras: CameraRigName | None = None  # also render this camera rig at each sweep (camera-aware pre-training)

    def check(self) -> None:
        super().check()
        require_id_space(str(self.label_map), SEMANTICKITTI_IDS, "the simulator labels with SemanticKITTI raw ids")


def require_id_space(label_map: str, space: str, labelled: str) -> None:
    """The shipped label map must read the raw ids the dataset's files carry (`labelled` says which)."""
    if raw_id_space(label_map) != space:
        usable = ", ".join(name for name in LABEL_MAPS if raw_id_space(name) == space)
        raise Invalid("label_map", f"reads {raw_id_space(label_map)} ids, but {labelled}: choose one of {usable}",
                      label_map)  # fmt: skip


@dataclass
class FolderDataConfig(FrameDataConfig):
    root: str = existing_path()  # a folder with sequences/SS/velodyne/*.bin (+ labels/, poses.txt)
    sequences: list[str] = bounded(default_factory=lambda: ["00"], min_length=1)
    # a shipped label map's name, or a label-map YAML; default: the dataset's own (semantic-kitti.yaml at its root)
    label_map: str | None = None
    # only these frames (indices into each sequence's sorted scans): e.g. fine-tune on one scan, score another
    frame_indices: list[int] | None = bounded(None, ge=0, min_length=1)
    cameras: bool = False  # read each scan's images (cameras.json + cameras/<name>/NNNNNN.png, runtime.io.cameras)

    def check(self) -> None:
        super().check()
        if self.label_map is not None and self.label_map not in LABEL_MAPS and not Path(self.label_map).is_file():
            raise Invalid("label_map", f"is neither a shipped label map ({', '.join(LABEL_MAPS)}) nor a YAML file",
                          self.label_map)  # fmt: skip


@dataclass
class NuScenesDataConfig(FrameDataConfig):
    root: str = existing_path()  # a nuScenes root: v1.0-*/ tables, samples/LIDAR_TOP/, lidarseg/
    version: str = "v1.0-trainval"  # the tables' folder
    scenes: list[str] | None = None  # scene names to use; None: every labelled one (or those of scenes_file)
    scenes_file: str | None = existing_path(None)  # a text file, one scene name a line (the devkit's train / val)
    label_map: LabelMapName = LabelMapName.nuscenes16  # lidarseg categories -> classes

    def check(self) -> None:
        super().check()
        require_id_space(str(self.label_map), NUSCENES_LIDARSEG_IDS, "nuScenes-lidarseg labels with its categories")
        if self.scenes is not None and not self.scenes:
            raise Invalid("scenes", "expected at least one scene name, or null for every scene", [])
        if self.scenes is not None and self.scenes_file is not None:
            raise Invalid("scenes_file", "give the scenes in one place: scenes or scenes_file", self.scenes_file)

    def scene_names(self) -> list[str] | None:
        if self.scenes_file is None:
            return self.scenes
        return [line.strip() for line in Path(self.scenes_file).read_text().splitlines() if line.strip()]


@dataclass
class KittiObjectDataConfig(FrameDataConfig):
    LABELS: ClassVar[frozenset[str]] = frozenset({BOX_LABELS})

    root: str = existing_path()  # a KITTI object split: velodyne/*.bin, label_2/*.txt, calib/*.txt


@dataclass
class RosbagDataConfig(FrameDataConfig):
    LABELS: ClassVar[frozenset[str]] = frozenset()  # a recording has no labels

    path: str = existing_path()  # a rosbag2 folder, a bare .db3 / .mcap file or a ROS 1 .bag
    topic: str | None = None  # its PointCloud2 topic, where it records several
    use_labels: bool = False  # a recording has no per-point labels

    def check(self) -> None:
        super().check()
        if self.use_labels:
            raise Invalid("use_labels", "a recording has no per-point labels: set it false", True)
        if self.aggregate_frames:
            raise Invalid("aggregate_frames", "needs poses, which a recording lacks: set 0", self.aggregate_frames)


class FrameDataset:
    """Index -> TrainingFrame over a list of (sequence, frame) pairs; subclasses say how to read a frame."""

    frame_cache_bytes: ClassVar[int] = 0  # how much of `read`'s output each process keeps (0: nothing)

    def __init__(
        self,
        config: FrameDataConfig,
        info: DatasetInfo,
        frames: Sequence[tuple[int, int]],
        sequence_lengths: Sequence[int],
    ):
        self.config, self.info = config, info
        self.sequence_lengths = list(sequence_lengths)
        frames = _seeded_subset(frames, config.fraction, [config.subset_seed, SUBSET_DATA])
        # Supervised fine-tuning learns from labelled frames only, so the unlabelled rest is left out.
        self.frames = _seeded_subset(frames, config.label_fraction, [config.subset_seed, SUBSET_LABELS])
        self.augment = BeamResample(config.beam_resample)
        self.transform = GlobalTransform(config.transform)
        self._frame_cache: dict[tuple, Any] = {}
        self._frame_cache_used = 0
        self._refuse_bad_files()

    def check_labels(self, label_map: LabelMap, source: str | Path) -> None:
        """Labelled frames must be labelled in the experiment's classes (unlabelled use, or an experiment that
        declares none, has nothing to check)."""
        if self.config.use_labels and self.info.class_names:
            check_label_set(label_map.class_names, self.info.class_names, source)

    def read(self, sequence: int, frame: int) -> Sample:
        raise NotImplementedError

    def read_frame(self, sequence: int, frame: int) -> Sample:
        """`read`, kept in memory while `frame_cache_bytes` allows (see `_kept`)."""
        return self._kept(("scan", sequence, frame), lambda: self.read(sequence, frame), _sample_bytes)

    def read_frame_cameras(self, sequence: int, frame: int) -> tuple[CameraFrame, ...]:
        """`read_cameras`, kept in memory like the scans."""
        return self._kept(("cameras", sequence, frame), lambda: self.read_cameras(sequence, frame),
                          lambda cameras: sum(camera.image.nbytes for camera in cameras))  # fmt: skip

    def _kept(self, key: tuple, make: Callable[[], Any], size_of: Callable[[Any], int]) -> Any:
        """What `make` returns for `key`, made once while `frame_cache_bytes` has room; the caller always gets
        its own copy, so augmentations may change it in place."""
        value = self._frame_cache.get(key)
        if value is None:
            value = make()
            size = size_of(value)
            if self._frame_cache_used + size > self.frame_cache_bytes:
                return value
            self._frame_cache[key] = value
            self._frame_cache_used += size
        return copy.deepcopy(value)

    def read_cameras(self, sequence: int, frame: int) -> tuple[CameraFrame, ...]:
        """The images taken with the frame's scan (default: none; datasets with cameras read them when asked)."""
        return ()

    def check_frame(self, sequence: int, frame: int) -> None:
        """Raise `SpotInputError` if the frame's files cannot be read, judging by what is cheap (sizes); the
        default (frames not read from files) checks nothing."""

    def frames_read(self) -> list[tuple[int, int]]:
        """Every frame some sample reads: the frames used and, when aggregating, their neighbours."""
        k = self.config.aggregate_frames
        return sorted(
            {(s, i) for s, f in self.frames for i in range(max(0, f - k), min(self.sequence_lengths[s], f + k + 1))}
        )

    def _refuse_bad_files(self) -> None:
        frames = self.frames_read()
        problems = []
        for sequence, frame in frames:
            try:
                self.check_frame(sequence, frame)
            except SpotInputError as problem:
                problems.append(str(problem))
        if problems:
            more = f"; and {len(problems) - BAD_FILES_SHOWN} more" if len(problems) > BAD_FILES_SHOWN else ""
            raise SpotInputError(
                f"{len(problems)} of the {len(frames)} frames to read cannot be used: "
                f"{'; '.join(problems[:BAD_FILES_SHOWN])}{more}. Restore or remove them (every file is checked "
                "before training starts)"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> TrainingFrame:
        sequence, frame = self.frames[index]
        sample = self.read_frame(sequence, frame)
        context_xyz, context_origins, context_labels = self._context(sequence, frame, sample)
        if not self.config.use_labels:
            sample = replace(sample, labels=None, instances=None, boxes=None)
            context_labels = np.full(len(context_xyz), IGNORE_INDEX, np.int32)
        cameras = self.read_frame_cameras(sequence, frame)
        unaugmented = TrainingFrame(
            sample, context_xyz, context_origins, context_labels, sample_seed(), cameras=cameras
        )
        rng = unaugmented.rng(AUGMENTATION)
        sample, matrix = self.transform(self.augment(sample, rng), rng)
        if self.config.front_fov_deg is not None:  # after the transform: the view stays ahead, as in evaluation
            sample = front_view(sample, self.config.front_fov_deg)
        if matrix is None:
            return replace(unaugmented, sample=sample)
        moved = [(points @ matrix.T).astype(np.float32) for points in (context_xyz, context_origins)]
        return replace(unaugmented, sample=sample, context_xyz=moved[0], context_origins=moved[1])

    def _context(self, sequence: int, frame: int, sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, last = self.config.aggregate_frames, self.sequence_lengths[sequence] - 1
        neighbours = [i for i in range(frame - k, frame + k + 1) if i != frame and 0 <= i <= last]
        if not neighbours or sample.pose is None:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros(0, np.int32)
        world_to_here = np.linalg.inv(sample.pose)
        xyz, origins, labels = [], [], []
        for i in neighbours:
            other = self.read_frame(sequence, i)
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
        groups = [self.frame_classes(s, f) for s, f in self.frames]
        return balanced_sampling_weights(groups, len(self.info.class_names))

    def frame_classes(self, sequence: int, frame: int) -> np.ndarray:
        """Class ids present in a frame (for class balancing); subclasses may read less than the whole frame."""
        return np.unique(self.read_frame(sequence, frame).labels)


def front_view(sample: Sample, fov_deg: float) -> Sample:
    """The points (with their labels) and the boxes (by centre) within `fov_deg` around the sensor's +x axis."""

    def inside(xy: np.ndarray) -> np.ndarray:
        return np.abs(np.degrees(np.arctan2(xy[:, 1], xy[:, 0]))) <= fov_deg / 2

    keep = inside(sample.scan.xyz)
    return replace(
        sample,
        scan=sample.scan.select(keep),
        labels=None if sample.labels is None else sample.labels[keep],
        instances=None if sample.instances is None else sample.instances[keep],
        boxes=None if sample.boxes is None else sample.boxes.select(inside(sample.boxes.data)),
    )


def _seeded_subset(frames: Sequence[tuple[int, int]], share: float, seed: list[int]) -> list[tuple[int, int]]:
    """round(share * len(frames)) frames (at least one) drawn by `seed`, in their original order."""
    if share == 1:
        return list(frames)
    keep = max(1, round(share * len(frames)))
    chosen = np.sort(np.random.default_rng(seed).permutation(len(frames))[:keep])
    return [frames[i] for i in chosen]


class SimulatedDataset(FrameDataset):
    """Frames simulated on demand: nothing to download, and every frame is a pure function of the config.

    A frame costs 40-90 ms to simulate (VLP-16 / HDL-64E on one core) and 1-4 MB to keep, and a few-label run
    draws the same frames thousands of times, so each process keeps what it simulated, scans and camera
    images (up to 1 GiB per dataset). Loader workers start anew every epoch and take the main process's
    frames with them (those class balancing read); with `train.num_workers: 0` every frame is simulated once
    per run.
    """

    frame_cache_bytes: ClassVar[int] = 1 << 30

    def __init__(self, config: SimDataConfig, info: DatasetInfo):
        self.sequences = [
            SimulatedSequence(
                str(config.sensor),
                config.frames,
                seed,
                horizontal_resolution_deg=config.horizontal_resolution_deg,
                cameras=None if config.cameras is None else str(config.cameras),
            )
            for seed in config.seeds
        ]
        pairs = [(s, f) for s, seq in enumerate(self.sequences) for f in range(len(seq))]
        super().__init__(config, info, pairs, [len(seq) for seq in self.sequences])
        # The simulator labels with SemanticKITTI raw ids (`FrameTruth.raw_labels`); the label map makes them classes.
        self.label_map = named_label_map(str(config.label_map))
        self.check_labels(self.label_map, f"label map {str(config.label_map)!r}")

    def read(self, sequence: int, frame: int) -> Sample:
        sample, truth = self.sequences[sequence].frame(frame)
        if self.config.label_map == LabelMapName.semantickitti:
            return sample  # the simulator's own labelling
        boxes = None if sample.boxes is None else replace(sample.boxes, class_ids=self.label_map(truth.box_raw_labels))
        names = self.label_map.class_names
        return replace(sample, labels=self.label_map(truth.raw_labels), boxes=boxes, class_names=names,
                       box_class_names=names)  # fmt: skip

    def read_cameras(self, sequence: int, frame: int) -> tuple[CameraFrame, ...]:
        return tuple(image for image, _ in self.sequences[sequence].camera_frames(frame))


class NuScenesDataset(FrameDataset):
    """nuScenes-lidarseg keyframes in the dataset's own layout (`spot.runtime.io.nuscenes_lidarseg`), a sequence
    per scene."""

    def __init__(self, config: NuScenesDataConfig, info: DatasetInfo):
        self.tables = NuScenesLidarseg(config.root, config.version, config.scene_names())
        pairs = [(s, f) for s, frames in enumerate(self.tables.scenes) for f in range(len(frames))]
        super().__init__(config, info, pairs, [len(frames) for frames in self.tables.scenes])
        self.label_map = named_label_map(str(config.label_map))
        self.check_labels(self.label_map, f"label map {str(config.label_map)!r}")

    def read(self, sequence: int, frame: int) -> Sample:
        return self.tables.read(self.tables.scenes[sequence][frame], self.label_map)

    def check_frame(self, sequence: int, frame: int) -> None:
        self.tables.check_frame(self.tables.scenes[sequence][frame])

    def frame_classes(self, sequence: int, frame: int) -> np.ndarray:
        """From the label file alone (class balancing reads every frame's labels once, never its points)."""
        scan = self.tables.scenes[sequence][frame]
        return np.unique(self.label_map(self.tables.raw_labels(scan, scan.label_path.stat().st_size)))


class FolderDataset(FrameDataset):
    """SemanticKITTI layout: `root/sequences/SS/velodyne/NNNNNN.bin`, `labels/`, `poses.txt`, `calib.txt`."""

    def __init__(self, config: FolderDataConfig, info: DatasetInfo):
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
        # Each sequence's camera rig (none unless `cameras`), read once: the file check looks for every image.
        self.rigs = [read_rig(rig_path_for(scans[0])) if config.cameras else () for scans in self.scans]
        pairs = [(s, f) for s, scans in enumerate(self.scans) for f in range(len(scans))]
        if config.frame_indices is not None:
            missing = [i for i in config.frame_indices if all(i >= len(scans) for scans in self.scans)]
            if missing:
                raise SpotInputError(f"`frame_indices` {missing} are beyond every sequence's scans "
                                     f"({max(len(scans) for scans in self.scans)} at most)", source=root)  # fmt: skip
            pairs = [(s, f) for s, f in pairs if f in config.frame_indices]
        super().__init__(config, info, pairs, [len(scans) for scans in self.scans])
        self.label_map = None
        if config.use_labels:
            source = config.label_map if config.label_map is not None else find_label_map(self.scans[0][0])
            self.label_map = named_label_map(source) if source in LABEL_MAPS else LabelMap.from_yaml(source)
            self.check_labels(self.label_map, source)

    def frame_classes(self, sequence: int, frame: int) -> np.ndarray:
        """From the label file alone: class balancing reads every frame's labels once, never its points."""
        path = self.scans[sequence][frame]
        semantic, _ = read_label_file(label_path_for(path), path.stat().st_size // 16)
        return np.unique(self.label_map(semantic))

    def check_frame(self, sequence: int, frame: int) -> None:
        """Whole float32 x 4 rows, at least one, and one label per row (`read_semantickitti` reads the labels
        whether or not training uses them)."""
        path = self.scans[sequence][frame]
        points = float32_row_count(path, 4)
        require_points(points, path)
        check_label_file(label_path_for(path), points)
        for camera in self.rigs[sequence]:
            image = image_path(path.parent.parent, camera.name, path.stem)
            if not image.is_file():
                raise SpotInputError(f"no image of camera {camera.name!r}", source=image)

    def read_cameras(self, sequence: int, frame: int) -> tuple[CameraFrame, ...]:
        return read_camera_frames(self.scans[sequence][frame]) if self.config.cameras else ()

    def read(self, sequence: int, frame: int) -> Sample:
        sample = read_semantickitti(self.scans[sequence][frame], self.label_map)
        poses = self.poses[sequence]
        return sample if poses is None else replace(sample, pose=poses[frame])


class KittiObjectDataset(FrameDataset):
    """KITTI 3D object layout: `root/velodyne/ID.bin` with `label_2/ID.txt` + `calib/ID.txt`, boxes in the
    LiDAR frame (`spot.runtime.io.kitti`); single frames, no poses. Boxes exist only in the front camera's view."""

    def __init__(self, config: KittiObjectDataConfig, info: DatasetInfo):
        self.scans = sorted((Path(config.root) / "velodyne").glob("*.bin"))
        if not self.scans:
            raise SpotInputError("no velodyne/*.bin scans (expected the KITTI object layout)", source=config.root)
        super().__init__(config, info, [(0, i) for i in range(len(self.scans))], [len(self.scans)])

    def check_frame(self, sequence: int, frame: int) -> None:
        """Whole float32 x 4 rows, at least one, and the frame's label_2 and calib files present."""
        path = self.scans[frame]
        require_points(float32_row_count(path, 4), path)
        for kind in ("label_2", "calib"):
            if not (path.parent.parent / kind / f"{path.stem}.txt").is_file():
                raise SpotInputError(f"no such {kind} file", source=path.parent.parent / kind / f"{path.stem}.txt")

    def read(self, sequence: int, frame: int) -> Sample:
        return read_kitti_object(self.scans[frame])


class RosbagDataset(FrameDataset):
    """Every PointCloud2 of a recording, read by index (`spot.runtime.io.rosbag.BagIndex`): unlabelled frames
    for the label-free objectives (SPOT's geometric occupancy, ALSO). A bag records no poses the frames could be
    aggregated with, so `aggregate_frames` is refused at load rather than silently ignored."""

    def __init__(self, config: RosbagDataConfig, info: DatasetInfo):
        self.bag = BagIndex(config.path, config.topic)
        super().__init__(config, info, [(0, i) for i in range(len(self.bag))], [len(self.bag)])

    def read(self, sequence: int, frame: int) -> Sample:
        return self.bag[frame]


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


def _sample_bytes(sample: Sample) -> int:
    """Memory a Sample's per-point arrays hold (the rest is small)."""
    return sum(a.nbytes for a in (sample.scan.points, sample.labels, sample.instances) if a is not None)
