import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from spot.runtime import IGNORE_INDEX, Sample, Scan, SpotInputError, VoxelGrid
from spot.runtime.io.label_maps import named_label_map
from spot.sim import SimulatedSequence
from spot.sim.writer import write_sequence
from spot.trainer.augment import BeamResampleConfig, GlobalTransformConfig
from spot.trainer.cli.train import main as spot_train
from spot.trainer.config import SpotConfigError, validate_section
from spot.trainer.data.datasets import (
    FolderDataConfig,
    FolderDataset,
    FrameDataConfig,
    FrameDataset,
    KittiObjectDataConfig,
    KittiObjectDataset,
    RosbagDataConfig,
    RosbagDataset,
    SimDataConfig,
    SimulatedDataset,
)
from spot.trainer.engine.seeding import isolated_rng
from spot.trainer.engine.task import DatasetInfo

SMALL = dict(sensor="vlp16", horizontal_resolution_deg=0.8)
CLASSES = named_label_map("semantickitti").class_names
INFO = DatasetInfo(CLASSES, VoxelGrid((-20.0, -20.0, -3.0, 20.0, 20.0, 2.0), (0.25, 0.25, 0.25)))


def sim(**config) -> SimulatedDataset:
    return SimulatedDataset(SimDataConfig(**config), INFO)


def test_sim_dataset_frames_fraction_and_info():
    dataset = sim(seeds=[0, 1], frames=4, **SMALL)
    assert len(dataset) == 8 and dataset.info is INFO
    frame = dataset[3]
    assert frame.sample.labels is not None and len(frame.context_xyz) == 0
    assert frame.sample.class_names == CLASSES  # the frame's labels are ids into the experiment's classes
    half = sim(seeds=[0, 1], frames=4, fraction=0.5, **SMALL)
    again = sim(seeds=[0, 1], frames=4, fraction=0.5, **SMALL)
    assert len(half) == 4 and half.frames == again.frames and set(half.frames) < set(dataset.frames)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fraction": 0.0}, r"`data.train.fraction` = 0.0: expected a number > 0 and <= 1"),
        ({"label_fraction": 1.5}, r"`data.train.label_fraction` = 1.5: expected a number > 0 and <= 1"),
        ({"label_fraction": 0.1, "use_labels": False}, r"`data.train.label_fraction` = 0.1: needs use_labels: true"),
        ({"class_balanced": True, "use_labels": False}, r"`data.train.class_balanced` = true: needs labels"),
        ({"frames": 0}, r"`data.train.frames` = 0: expected an integer >= 1"),
        ({"seeds": [0, -1]}, r"`data.train.seeds\[1\]` = -1: expected an integer >= 0"),
        ({"seeds": []}, r"`data.train.seeds` = \[\]: expected at least 1 values"),
        ({"horizontal_resolution_deg": 0}, r"`data.train.horizontal_resolution_deg` = 0.0: expected a number > 0"),
        ({"beam_resample": {"probability": 2}}, r"`data.train.beam_resample.probability` = 2.0: expected a number"),
        ({"beam_resample": {"downsample_factors": [2, 0]}}, r"`data.train.beam_resample.downsample_factors\[1\]`"),
        ({"sensor": "hdl65"}, r"`data.train.sensor`: Invalid value 'hdl65', expected one of \[hdl64, hdl32,"),
        ({"label_map": "waymo99"}, r"`data.train.label_map`: Invalid value 'waymo99', expected one of"),
        ({"label_map": "nuscenes16"}, r"`data.train.label_map` = 'nuscenes16': reads nuscenes-lidarseg ids, but the "),
    ],
)
def test_sim_config_mistakes_name_the_key(values, message):
    with pytest.raises(SpotConfigError, match=message):
        validate_section(values, SimDataConfig, "data.train")


def test_a_dataset_whose_label_map_differs_from_the_experiments_classes_is_refused(tmp_path):
    info = DatasetInfo(("road", "car"), INFO.grid)
    expected = (
        r"label map 'semantickitti': the label map gives 19 classes but the experiment's `classes` has 2 "
        r"\(class 0 is 'car' here but 'road' there\)"
    )
    with pytest.raises(SpotInputError, match=expected):
        SimulatedDataset(SimDataConfig(seeds=[0], frames=1, **SMALL), info)
    SimulatedDataset(SimDataConfig(seeds=[0], frames=1, use_labels=False, **SMALL), info)  # no labels: no check
    write_sequence(SimulatedSequence("vlp16", frames=1, seed=2, horizontal_resolution_deg=2.0), tmp_path, 0)
    label_map = yaml.safe_load((tmp_path / "dataset.yaml").read_text())
    label_map["learning_map_inv"] = {0: 0, 1: 40, 2: 10}  # road, car: the experiment's two classes
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(label_map))
    folder = FolderDataset(FolderDataConfig(root=str(tmp_path), label_map=str(tmp_path / "two.yaml")), info)
    assert folder.label_map.class_names == ("road", "car")
    with pytest.raises(SpotInputError, match=r"dataset.yaml: the label map gives 19 classes"):
        FolderDataset(FolderDataConfig(root=str(tmp_path)), info)  # the dataset's own description
    named = FolderDataset(FolderDataConfig(root=str(tmp_path), label_map="semantickitti"), INFO)
    assert named.label_map is named_label_map("semantickitti")
    with pytest.raises(SpotConfigError, match=r"`data.val.label_map` = 'waymo99': is neither a shipped label"):
        validate_section({"root": str(tmp_path), "label_map": "waymo99"}, FolderDataConfig, "data.val")


def test_label_fraction_keeps_a_fixed_seeded_subset_of_labelled_frames():
    config = dict(seeds=list(range(10)), frames=10, **SMALL)
    one_percent = sim(label_fraction=0.01, **config)
    ten_percent = sim(label_fraction=0.1, **config)
    assert len(one_percent) == 1 and len(ten_percent) == 10
    assert one_percent.frames == sim(label_fraction=0.01, **config).frames
    other_seeds = {tuple(sim(label_fraction=0.1, subset_seed=s, **config).frames) for s in range(4)}
    assert len(other_seeds) == 4  # the subset is the seed's, not a fixed prefix
    assert len({sequence for sequence, _ in ten_percent.frames}) > 3  # drawn across sequences
    # The data-scaling subset and the label subset are drawn independently.
    half = sim(fraction=0.5, label_fraction=0.1, **config)
    assert len(half) == 5 and set(half.frames) <= set(sim(fraction=0.5, **config).frames)


def test_simulated_frames_are_made_once_per_process_and_handed_out_as_copies(monkeypatch):
    made = []
    frame = SimulatedSequence.frame
    monkeypatch.setattr(SimulatedSequence, "frame", lambda self, i: made.append(i) or frame(self, i))
    dataset = sim(seeds=[0], frames=3, aggregate_frames=1, **SMALL)
    first = dataset[1]  # reads frames 0, 1 and 2 (its neighbours)
    first.sample.scan.points[:] = 0.0  # an in-place augmentation of the caller's copy
    again = dataset[1]
    assert sorted(made) == [0, 1, 2]  # nothing simulated twice
    assert np.abs(again.sample.scan.points).sum() > 0
    np.testing.assert_array_equal(again.sample.labels, frame(dataset.sequences[0], 1)[0].labels)

    rendered = []
    cameras = SimulatedSequence.camera_frames
    monkeypatch.setattr(SimulatedSequence, "camera_frames", lambda self, i: rendered.append(i) or cameras(self, i))
    with_cameras = sim(seeds=[0], frames=1, cameras="nusc6", **SMALL)
    image = with_cameras[0].cameras[0].image
    image[:] = 0
    assert with_cameras[0].cameras[0].image.any() and rendered == [0]  # rendered once, handed out as copies

    monkeypatch.setattr(SimulatedDataset, "frame_cache_bytes", 1)  # no room: every read simulates
    made.clear()
    small = sim(seeds=[0], frames=2, **SMALL)
    small[0], small[0]
    assert made == [0, 0]


def test_unlabeled_mode_drops_labels_and_augmentation_is_seeded_by_global_rng():
    config = SimDataConfig(seeds=[0], frames=2, use_labels=False, beam_resample=BeamResampleConfig(probability=1.0))
    dataset = SimulatedDataset(config, INFO)
    with isolated_rng(5):  # what the engine does around every sample
        first = dataset[0]
    with isolated_rng(5):
        second = dataset[0]
    assert first.sample.labels is None and first.sample.instances is None
    np.testing.assert_array_equal(first.sample.scan.points, second.sample.scan.points)
    plain = SimulatedSequence("hdl64", 2, 0).frame(0)[0]
    assert len(first.sample.scan) != len(plain.scan)  # re-sampled to fewer or more beams


def test_aggregated_neighbours_land_on_this_frames_static_scene():
    dataset = sim(seeds=[0], frames=3, aggregate_frames=1, **SMALL)
    frame = dataset[1]
    assert len(frame.context_xyz) > 0 and frame.context_labels.shape == (len(frame.context_xyz),)
    # The sensor moved between frames: the neighbours were seen from elsewhere.
    assert np.abs(frame.context_origins).max() > 0.1
    # Static structure seen from the neighbours falls into voxels this frame also sees (poses are right).
    grid = VoxelGrid((-20, -20, -3, 20, 20, 2), (0.5, 0.5, 0.5))
    building = dataset.info.class_names.index("building")
    here, inside_here = grid.voxel_indices(frame.sample.scan.xyz[frame.sample.labels == building])
    there, inside_there = grid.voxel_indices(frame.context_xyz[frame.context_labels == building])
    here_keys = {tuple(v) for v in here[inside_here]}
    overlap = np.mean([tuple(v) in here_keys for v in there[inside_there]])
    assert overlap > 0.5


def test_the_global_transform_moves_the_frame_and_its_neighbours_alike():
    transform = GlobalTransformConfig(rotate_deg=180, flip=True, scale=[0.9, 1.1], tilt_deg=3)
    with isolated_rng(7):
        plain = sim(seeds=[0], frames=3, aggregate_frames=1, **SMALL)[1]
    with isolated_rng(7):
        moved = sim(seeds=[0], frames=3, aggregate_frames=1, transform=transform, **SMALL)[1]
    matrix = np.linalg.lstsq(plain.sample.scan.xyz, moved.sample.scan.xyz, rcond=None)[0].T
    scale = np.cbrt(abs(np.linalg.det(matrix)))
    np.testing.assert_allclose(matrix.T @ matrix, scale**2 * np.eye(3), atol=1e-4)  # a scaled rotation
    assert not np.allclose(matrix, np.eye(3), atol=1e-2)
    np.testing.assert_allclose(moved.sample.scan.xyz, plain.sample.scan.xyz @ matrix.T, atol=1e-4)
    np.testing.assert_allclose(moved.context_xyz, plain.context_xyz @ matrix.T, atol=1e-4)
    np.testing.assert_allclose(moved.context_origins, plain.context_origins @ matrix.T, atol=1e-4)
    np.testing.assert_array_equal(moved.sample.labels, plain.sample.labels)
    np.testing.assert_allclose(moved.sample.boxes.data[:, :3], plain.sample.boxes.data[:, :3] @ matrix.T, atol=1e-3)


def test_the_global_transform_is_refused_with_cameras():
    with pytest.raises(SpotConfigError, match=r"`data.train.transform` = 'active': moves the LiDAR frame against"):
        validate_section({"cameras": "nusc6", "transform": {"rotate_deg": 10}}, SimDataConfig, "data.train")


class TwoPoses(FrameDataset):
    """One still world point (5, 1, 0) seen from two poses: the origin, then 2 m further along x, turned 90 degrees
    to the left."""

    POSES = (np.eye(4), np.array([[0.0, -1, 0, 2], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    WORLD_POINT = np.array([5.0, 1.0, 0.0, 1.0])

    def __init__(self):
        super().__init__(FrameDataConfig(aggregate_frames=1), INFO, [(0, 0), (0, 1)], [2])

    def read(self, sequence: int, frame: int) -> Sample:
        seen = (np.linalg.inv(self.POSES[frame]) @ self.WORLD_POINT)[:3]
        return Sample(Scan(np.array([[*seen, 0.5]], np.float32)), pose=self.POSES[frame])


def test_neighbours_are_brought_into_this_frames_sensor_frame():
    frame = TwoPoses()[1]
    np.testing.assert_allclose(frame.sample.scan.xyz, [[1.0, -3.0, 0.0]], atol=1e-6)  # seen from here
    np.testing.assert_allclose(frame.context_xyz, frame.sample.scan.xyz, atol=1e-6)  # the neighbour saw it there too
    np.testing.assert_allclose(frame.context_origins, [[0.0, 2.0, 0.0]], atol=1e-6)  # 2 m behind = to the left now
    np.testing.assert_array_equal(frame.context_labels, [IGNORE_INDEX])


def test_folder_dataset_reads_the_simulators_layout_with_poses(tmp_path):
    sequence = SimulatedSequence("vlp16", frames=3, seed=2, horizontal_resolution_deg=0.8)
    write_sequence(sequence, tmp_path, 0)
    dataset = FolderDataset(FolderDataConfig(root=str(tmp_path), sequences=["00"]), INFO)
    assert len(dataset) == 3
    frame = dataset[2]
    simulated = sequence.frame(2)[0]
    np.testing.assert_allclose(frame.sample.pose, simulated.pose, atol=1e-5)
    np.testing.assert_array_equal(frame.sample.labels, simulated.labels)
    # Class balancing reads the label files alone and sees the same classes as the full frames.
    np.testing.assert_array_equal(dataset.frame_classes(0, 2), np.unique(simulated.labels))
    assert (frame.sample.labels != IGNORE_INDEX).mean() > 0.9
    with pytest.raises(SpotInputError, match="no velodyne"):
        FolderDataset(FolderDataConfig(root=str(tmp_path), sequences=["07"]), INFO)


def test_frame_indices_pick_scans_of_a_folder(tmp_path):
    write_sequence(SimulatedSequence("vlp16", frames=3, seed=2, horizontal_resolution_deg=2.0), tmp_path, 0)
    dataset = FolderDataset(FolderDataConfig(root=str(tmp_path), frame_indices=[2, 0]), INFO)
    assert dataset.frames == [(0, 0), (0, 2)]
    with pytest.raises(SpotInputError, match=r"`frame_indices` \[5\] are beyond every sequence's scans \(3 at most\)"):
        FolderDataset(FolderDataConfig(root=str(tmp_path), frame_indices=[0, 5]), INFO)


def test_front_fov_keeps_the_points_labels_and_boxes_ahead():
    full, front = sim(seeds=[3], frames=1, **SMALL)[0].sample, sim(seeds=[3], frames=1, front_fov_deg=90, **SMALL)[0]
    azimuth = np.degrees(np.arctan2(full.scan.xyz[:, 1], full.scan.xyz[:, 0]))
    ahead = np.abs(azimuth) <= 45
    np.testing.assert_array_equal(front.sample.scan.points, full.scan.points[ahead])
    np.testing.assert_array_equal(front.sample.labels, full.labels[ahead])
    box_azimuth = np.degrees(np.arctan2(full.boxes.data[:, 1], full.boxes.data[:, 0]))
    np.testing.assert_array_equal(front.sample.boxes.data, full.boxes.data[np.abs(box_azimuth) <= 45])
    assert 0 < len(front.sample.boxes) < len(full.boxes) and 0.1 < ahead.mean() < 0.5


def test_front_fov_is_cut_after_the_global_transform():
    # rotated first, then cut: the model always sees the wedge ahead of the sensor, as evaluation does
    transform = GlobalTransformConfig(rotate_deg=180, flip=True)
    frames = sim(seeds=[3], frames=2, front_fov_deg=90, transform=transform, **SMALL)
    for frame in (frames[0], frames[1]):
        azimuth = np.degrees(np.arctan2(frame.sample.scan.xyz[:, 1], frame.sample.scan.xyz[:, 0]))
        box_azimuth = np.degrees(np.arctan2(frame.sample.boxes.data[:, 1], frame.sample.boxes.data[:, 0]))
        assert np.abs(azimuth).max() <= 45 + 1e-3 and np.abs(box_azimuth).max(initial=0) <= 45 + 1e-3
        assert len(frame.sample.scan) == len(frame.sample.labels) > 1000


def test_class_balancing_up_weights_rare_frames():
    weights = sim(seeds=[0, 1], frames=2, class_balanced=True, **SMALL).sampling_weights()
    assert weights.shape == (4,) and np.isclose(weights.sum(), 4) and (weights >= 1 - 1e-9).any()


@pytest.mark.realdata
def test_kitti_object_dataset_reads_real_scans_with_lidar_frame_boxes(lidar_data):
    dataset = KittiObjectDataset(KittiObjectDataConfig(root=str(lidar_data / "kitti_object" / "training")), INFO)
    assert len(dataset) == 3
    sample = dataset[1].sample
    assert sample.box_class_names[0] == "Car" and len(sample.boxes) > 0 and len(sample.scan) > 100_000
    assert (sample.boxes.data[:, 0] > 0).all()  # KITTI labels the front camera's view: +x in the LiDAR frame


def test_kitti_object_dataset_needs_scans(tmp_path):
    with pytest.raises(SpotInputError, match="velodyne"):
        KittiObjectDataset(KittiObjectDataConfig(root=str(tmp_path)), INFO)


def simulated_folder(root, frames=6):
    write_sequence(SimulatedSequence("vlp16", frames=frames, seed=2, horizontal_resolution_deg=2.0), root, 0)
    return root / "sequences" / "00"


def folder(root, **values) -> FolderDataset:
    return FolderDataset(FolderDataConfig(root=str(root), sequences=["00"], **values), INFO)


def test_every_bad_file_is_refused_in_one_line_before_training(tmp_path):
    """Issue 14 #1: truncated scans and a label file of another length are all named, from file sizes alone."""
    sequence = simulated_folder(tmp_path)
    for frame in ("000001", "000004"):
        scan = sequence / "velodyne" / f"{frame}.bin"
        scan.write_bytes(scan.read_bytes()[:-5])
    label = sequence / "labels" / "000002.label"
    label.write_bytes(label.read_bytes()[:-8])
    with pytest.raises(SpotInputError) as refused:
        folder(tmp_path)
    message = str(refused.value)
    assert message.startswith("3 of the 6 frames to read cannot be used: ")
    assert f"{sequence}/velodyne/000001.bin: size " in message and "is not a multiple of 16" in message
    assert f"{label}: has " in message and f"{sequence}/velodyne/000004.bin: size " in message
    assert message.endswith("Restore or remove them (every file is checked before training starts)")
    assert "\n" not in message


def test_the_check_covers_the_frames_used_and_their_neighbours_only(tmp_path):
    sequence = simulated_folder(tmp_path)
    one_frame = {"fraction": 1 / 6, "subset_seed": 0}
    [(_, used)] = folder(tmp_path, **one_frame).frames
    neighbour = used + 1 if used < 5 else used - 1
    (sequence / "velodyne" / f"{neighbour:06d}.bin").write_bytes(b"")  # no points
    folder(tmp_path, **one_frame)  # never read, so not checked
    with pytest.raises(SpotInputError, match=rf"^1 of the [23] frames to read cannot be used: .*{neighbour:06d}.bin: "):
        folder(tmp_path, aggregate_frames=1, **one_frame)


def test_a_kitti_object_frame_without_its_label_file_is_refused(tmp_path):
    for kind in ("velodyne", "label_2", "calib"):
        (tmp_path / kind).mkdir()
    (tmp_path / "velodyne" / "000000.bin").write_bytes(np.zeros((4, 4), "<f4").tobytes())
    (tmp_path / "calib" / "000000.txt").write_text("R0_rect: 1 0 0 0 1 0 0 0 1\n")
    label = tmp_path / "label_2" / "000000.txt"
    with pytest.raises(
        SpotInputError, match=f"^1 of the 1 frames to read cannot be used: {label}: no such label_2 file"
    ):
        KittiObjectDataset(KittiObjectDataConfig(root=str(tmp_path)), INFO)


def simulated_recording(write_cloud_bag, path, frames: int = 4):
    """A bag of `frames` simulated VLP-16 scans (what a recorded drive looks like) and those scans."""
    sequence = SimulatedSequence("vlp16", frames=frames, seed=3, horizontal_resolution_deg=0.8)
    scans = [sequence.frame(i)[0].scan for i in range(frames)]
    return write_cloud_bag(path, "mcap", {"/points": scans}), scans


def test_rosbag_dataset_reads_a_recordings_clouds_unlabelled(tmp_path, write_cloud_bag):
    bag, scans = simulated_recording(write_cloud_bag, tmp_path / "drive")
    dataset = RosbagDataset(RosbagDataConfig(path=str(bag)), INFO)
    assert len(dataset) == 4
    for index in (3, 0):
        frame = dataset[index]
        assert frame.sample.labels is None and len(frame.context_xyz) == 0
        np.testing.assert_array_equal(frame.sample.scan.xyz, scans[index].xyz)
    with pytest.raises(SpotConfigError, match=r"`data.train.use_labels` = true: a recording has no per-point labels"):
        validate_section({"path": str(bag), "use_labels": True}, RosbagDataConfig, "data.train")
    with pytest.raises(SpotConfigError, match=r"`data.train.aggregate_frames` = 1: needs poses"):
        validate_section({"path": str(bag), "aggregate_frames": 1}, RosbagDataConfig, "data.train")


def test_also_pretrains_on_a_bag(tmp_path, write_cloud_bag):
    bag, _ = simulated_recording(write_cloud_bag, tmp_path / "drive")
    configs = Path(__file__).resolve().parents[3] / "configs"
    config = {
        "_base_": [str(configs / "model/unet_small.yaml"), str(configs / "optim/adamw.yaml")],
        "name": "also-on-a-bag",
        "data": {
            "train": {"name": "rosbag", "path": str(bag)},
        },
        "voxelization": {"point_cloud_range": list(INFO.grid.point_cloud_range), "voxel_size": [0.25] * 3},
        "objective": {"name": "also_surface", "radius": 0.4, "queries": {"queries_per_scan": 500}},
        "train": {
            "max_steps": 2,
            "batch_size": 2,
            "num_workers": 0,
            "log_every": 1,
            "output_dir": str(tmp_path / "run"),
        },
    }
    (tmp_path / "also.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(spot_train, ["pretrain", "-c", str(tmp_path / "also.yaml")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_sim_dataset_relabels_with_its_label_map():
    """The same simulated frame under a coarser label set: raw ids relabelled, class names of that set."""
    coarse = named_label_map("semantickitti_nuscenes16")
    info = DatasetInfo(coarse.class_names, INFO.grid)
    dataset = SimulatedDataset(SimDataConfig(seeds=[2], frames=1, label_map="semantickitti_nuscenes16", **SMALL), info)
    sample = dataset.read(0, 0)
    _, truth = dataset.sequences[0].frame(0)
    assert sample.class_names == coarse.class_names and np.array_equal(sample.labels, coarse(truth.raw_labels))
    assert np.array_equal(sample.boxes.class_ids, coarse(truth.box_raw_labels))
    with pytest.raises(SpotInputError, match="the label map gives 16 classes but the experiment's `classes` has 19"):
        SimulatedDataset(SimDataConfig(frames=1, label_map="semantickitti_nuscenes16", **SMALL), INFO)
