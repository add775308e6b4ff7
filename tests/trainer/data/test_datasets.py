import numpy as np
import pytest

from spot.runtime import IGNORE_INDEX, SpotInputError, VoxelGrid
from spot.sim import SimulatedSequence
from spot.sim.writer import write_sequence
from spot.trainer.augment import BeamResampleConfig
from spot.trainer.data.datasets import (
    FolderDataConfig,
    FolderDataset,
    KittiObjectDataConfig,
    KittiObjectDataset,
    SimDataConfig,
    SimulatedDataset,
)
from spot.trainer.engine.seeding import isolated_rng

SMALL = dict(
    sensor="vlp16",
    horizontal_resolution_deg=0.8,
    point_cloud_range=[-20.0, -20.0, -3.0, 20.0, 20.0, 2.0],
    voxel_size=[0.25, 0.25, 0.25],
)


def test_sim_dataset_frames_fraction_and_info():
    dataset = SimulatedDataset(SimDataConfig(seeds=[0, 1], frames=4, **SMALL))
    assert len(dataset) == 8
    assert dataset.info.class_names[0] == "car" and len(dataset.info.class_names) == 19
    frame = dataset[3]
    assert frame.sample.labels is not None and len(frame.context_xyz) == 0
    half = SimulatedDataset(SimDataConfig(seeds=[0, 1], frames=4, fraction=0.5, **SMALL))
    again = SimulatedDataset(SimDataConfig(seeds=[0, 1], frames=4, fraction=0.5, **SMALL))
    assert len(half) == 4 and half.frames == again.frames and set(half.frames) < set(dataset.frames)
    with pytest.raises(SpotInputError, match="fraction"):
        SimulatedDataset(SimDataConfig(fraction=0.0, **SMALL))


def test_label_fraction_keeps_a_fixed_seeded_subset_of_labelled_frames():
    config = dict(seeds=list(range(10)), frames=10, **SMALL)
    one_percent = SimulatedDataset(SimDataConfig(label_fraction=0.01, **config))
    ten_percent = SimulatedDataset(SimDataConfig(label_fraction=0.1, **config))
    assert len(one_percent) == 1 and len(ten_percent) == 10
    assert one_percent.frames == SimulatedDataset(SimDataConfig(label_fraction=0.01, **config)).frames
    other_seeds = {tuple(SimulatedDataset(SimDataConfig(label_fraction=0.1, subset_seed=s, **config)).frames)
                   for s in range(4)}  # fmt: skip
    assert len(other_seeds) == 4  # the subset is the seed's, not a fixed prefix
    assert len({sequence for sequence, _ in ten_percent.frames}) > 3  # drawn across sequences
    # The data-scaling subset and the label subset are drawn independently.
    half = SimulatedDataset(SimDataConfig(fraction=0.5, label_fraction=0.1, **config))
    assert len(half) == 5 and set(half.frames) <= set(SimulatedDataset(SimDataConfig(fraction=0.5, **config)).frames)
    with pytest.raises(SpotInputError, match=r"label_fraction=0\.1 needs use_labels"):
        SimulatedDataset(SimDataConfig(label_fraction=0.1, use_labels=False, **config))
    with pytest.raises(SpotInputError, match=r"label_fraction=1\.5"):
        SimulatedDataset(SimDataConfig(label_fraction=1.5, **config))


def test_unlabeled_mode_drops_labels_and_augmentation_is_seeded_by_global_rng():
    config = SimDataConfig(seeds=[0], frames=2, use_labels=False, beam_resample=BeamResampleConfig(probability=1.0))
    dataset = SimulatedDataset(config)
    with isolated_rng(5):  # what the engine does around every sample
        first = dataset[0]
    with isolated_rng(5):
        second = dataset[0]
    assert first.sample.labels is None and first.sample.instances is None
    np.testing.assert_array_equal(first.sample.scan.points, second.sample.scan.points)
    plain = SimulatedSequence("hdl64", 2, 0).frame(0)[0]
    assert len(first.sample.scan) != len(plain.scan)  # re-sampled to fewer or more beams


def test_aggregated_neighbours_land_on_this_frames_static_scene():
    dataset = SimulatedDataset(SimDataConfig(seeds=[0], frames=3, aggregate_frames=1, **SMALL))
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


def test_folder_dataset_reads_the_simulators_layout_with_poses(tmp_path):
    sequence = SimulatedSequence("vlp16", frames=3, seed=2, horizontal_resolution_deg=0.8)
    write_sequence(sequence, tmp_path, 0)
    dataset = FolderDataset(
        FolderDataConfig(
            root=str(tmp_path),
            sequences=["00"],
            **{k: v for k, v in SMALL.items() if k not in ("sensor", "horizontal_resolution_deg")},
        )
    )
    assert len(dataset) == 3
    frame = dataset[2]
    simulated = sequence.frame(2)[0]
    np.testing.assert_allclose(frame.sample.pose, simulated.pose, atol=1e-5)
    np.testing.assert_array_equal(frame.sample.labels, simulated.labels)
    # Class balancing reads the label files alone and sees the same classes as the full frames.
    np.testing.assert_array_equal(dataset.frame_classes(0, 2), np.unique(simulated.labels))
    assert (frame.sample.labels != IGNORE_INDEX).mean() > 0.9
    with pytest.raises(SpotInputError, match="no velodyne"):
        FolderDataset(FolderDataConfig(root=str(tmp_path), sequences=["07"]))


def test_class_balancing_needs_labels_and_up_weights_rare_frames():
    with pytest.raises(SpotInputError, match="class_balanced sampling needs labels"):
        SimulatedDataset(SimDataConfig(seeds=[0], frames=2, use_labels=False, class_balanced=True)).sampling_weights()
    weights = SimulatedDataset(SimDataConfig(seeds=[0, 1], frames=2, class_balanced=True, **SMALL)).sampling_weights()
    assert weights.shape == (4,) and np.isclose(weights.sum(), 4) and (weights >= 1 - 1e-9).any()


@pytest.mark.realdata
def test_kitti_object_dataset_reads_real_scans_with_lidar_frame_boxes(lidar_data):
    dataset = KittiObjectDataset(KittiObjectDataConfig(root=str(lidar_data / "kitti_object" / "training")))
    assert len(dataset) == 3
    sample = dataset[1].sample
    assert sample.box_class_names[0] == "Car" and len(sample.boxes) > 0 and len(sample.scan) > 100_000
    assert (sample.boxes.data[:, 0] > 0).all()  # KITTI labels the front camera's view: +x in the LiDAR frame


def test_kitti_object_dataset_needs_scans(tmp_path):
    with pytest.raises(SpotInputError, match="velodyne"):
        KittiObjectDataset(KittiObjectDataConfig(root=str(tmp_path)))
