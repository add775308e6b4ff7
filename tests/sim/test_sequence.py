"""The simulator's ground truth agrees with its points, and the same seed gives the same frames."""

import numpy as np
import pytest

from spot.runtime import SpotInputError, points_in_boxes
from spot.runtime.io.semantickitti import LabelMap
from spot.sim import DEFAULT_OCCUPANCY_GRID, ReturnModel, SimulatedSequence, label_map


@pytest.fixture(scope="module")
def hdl64_frame():
    sequence = SimulatedSequence("hdl64", frames=2, seed=3)
    return sequence, *sequence.frame(1)


def test_hdl64_frame_looks_like_a_kitti_scan(hdl64_frame):
    _, sample, _ = hdl64_frame
    points = sample.scan.points
    assert 90_000 <= len(points) <= 140_000
    assert len(np.unique(sample.scan.column("ring"))) == 64
    assert np.mean(np.abs(points[:, 2]) < 3.0) > 0.99
    assert points[:, 3].min() >= 0.0 and points[:, 3].max() <= 1.0
    names = label_map().class_names
    present = {names[c] for c in np.unique(sample.labels) if c >= 0}
    assert {"road", "sidewalk", "building", "vegetation", "car"} <= present
    assert sample.dataset == "sim-hdl64" and sample.sensor.beams == 64


def test_labels_instances_and_raw_ids_are_aligned_with_points(hdl64_frame):
    _, sample, truth = hdl64_frame
    n = len(sample.scan)
    assert sample.labels.shape == sample.instances.shape == truth.raw_labels.shape == (n,)
    np.testing.assert_array_equal(sample.labels, label_map()(truth.raw_labels))
    things = sample.instances > 0
    assert things.any() and set(np.unique(sample.labels[things])) <= set(range(8))  # thing classes only
    assert (sample.labels[~things] >= 8).all()  # stuff never carries an instance


def test_every_box_contains_its_instances_points(hdl64_frame):
    _, sample, truth = hdl64_frame
    assert len(sample.boxes) == len(truth.box_instances) > 0
    grown = sample.boxes.data.copy()
    grown[:, 3:6] += 0.2  # range noise (2 cm) may push surface returns a little outside
    for box, instance, count in zip(grown, truth.box_instances, truth.box_points, strict=True):
        own = sample.scan.xyz[sample.instances == instance]
        assert len(own) == count > 0
        assert (points_in_boxes(own, box[None]) == 0).all(), f"instance {instance} has points outside its box"


def test_every_return_lies_in_an_occupied_voxel():
    sequence = SimulatedSequence("vlp16", frames=1, seed=5, model=ReturnModel(range_noise_std=0.0))
    sample, _ = sequence.frame(0)
    occupancy = sequence.occupancy(0)
    assert occupancy.shape == DEFAULT_OCCUPANCY_GRID.grid_shape
    zyx, inside = DEFAULT_OCCUPANCY_GRID.voxel_indices(sample.scan.xyz)
    assert inside.sum() > 10_000
    values = occupancy[tuple(zyx[inside].T)]
    assert (values > 0).all()
    same_class = values.astype(np.int64) - 1 == sample.labels[inside]
    assert same_class.mean() > 0.8  # mixed voxels hold one class; most returns agree with it
    assert 0.01 < (occupancy > 0).mean() < 0.6


def test_same_seed_same_frames_and_different_seed_differs():
    first = SimulatedSequence("vlp16", frames=2, seed=11, horizontal_resolution_deg=0.8)
    again = SimulatedSequence("vlp16", frames=2, seed=11, horizontal_resolution_deg=0.8)
    other = SimulatedSequence("vlp16", frames=2, seed=12, horizontal_resolution_deg=0.8)
    (a, ta), (b, tb) = first.frame(1), again.frame(1)
    np.testing.assert_array_equal(a.scan.points, b.scan.points)
    np.testing.assert_array_equal(ta.raw_labels, tb.raw_labels)
    np.testing.assert_array_equal(a.boxes.data, b.boxes.data)
    assert len(other.frame(1)[0].scan) != len(a.scan) or not np.array_equal(
        other.frame(1)[0].scan.points, a.scan.points
    )


def test_sequence_moves_the_ego_and_keeps_instance_ids():
    sequence = SimulatedSequence("vlp16", frames=3, seed=2, horizontal_resolution_deg=0.8)
    frames = list(sequence)
    np.testing.assert_allclose(frames[0][0].pose, np.eye(4), atol=1e-12)
    travelled = np.hypot(*frames[2][0].pose[:2, 3])
    assert travelled == pytest.approx(2 * 0.1 * sequence.scene.ego.speed, rel=0.01)
    ids = [set(t.box_instances) for _, t in frames]
    assert ids[0] & ids[1] & ids[2]  # the same actors keep their ids
    by_instance = [{int(i): box for i, box in zip(t.box_instances, s.boxes.data, strict=True)} for s, t in frames]
    shared = sorted(set(by_instance[0]) & set(by_instance[1]))
    actor = {a.instance: a for a in sequence.scene.actors}
    for instance in shared:  # a static actor stays put in the world: its box moves by the ego motion only
        if actor[instance].speed == 0:
            world = [
                frames[k][0].pose[:3, :3] @ by_instance[k][instance][:3] + frames[k][0].pose[:3, 3] for k in (0, 1)
            ]
            np.testing.assert_allclose(world[0], world[1], atol=1e-4)


def test_label_map_matches_the_semantic_kitti_yaml_it_writes(tmp_path):
    import yaml

    from spot.sim import LABEL_MAP_CONFIG

    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(LABEL_MAP_CONFIG))
    loaded, built = LabelMap.from_yaml(path), label_map()
    assert loaded.class_names == built.class_names and len(built.class_names) == 19
    np.testing.assert_array_equal(loaded.lookup, built.lookup)


@pytest.mark.realdata
def test_label_map_is_the_real_semantic_kitti_one(lidar_data):
    real = LabelMap.from_yaml(lidar_data / "semantickitti" / "semantic-kitti.yaml")
    assert real.class_names == label_map().class_names
    np.testing.assert_array_equal(real.lookup, label_map().lookup)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"sensor": "hdl128"}, "unknown sensor 'hdl128'"), ({"frames": 0}, "frames=0, expected"),
     ({"seed": -1}, "seed=-1"), ({"model": "x"}, None)],
)  # fmt: skip
def test_bad_arguments_say_what_was_expected(kwargs, message):
    if message is None:
        with pytest.raises(SpotInputError, match="dropout"):
            ReturnModel(dropout=1.5)
        return
    with pytest.raises(SpotInputError, match=message):
        SimulatedSequence(**kwargs)
    with pytest.raises(SpotInputError, match="out of range"):
        SimulatedSequence("vlp16", frames=1).frame(1)
