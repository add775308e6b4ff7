import numpy as np
import pytest

from spot.runtime import Boxes, Sample, Scan
from spot.trainer.augment import GlobalTransform, GlobalTransformConfig, draw_transform, transform_boxes
from spot.trainer.config import SpotConfigError, validate_section

EVERYTHING = GlobalTransformConfig(rotate_deg=180, flip=True, scale=[0.9, 1.1], tilt_deg=3)


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, z, length, width, height, yaw = box
    dx, dy = points[:, 0] - x, points[:, 1] - y
    along, across = dx * np.cos(yaw) + dy * np.sin(yaw), -dx * np.sin(yaw) + dy * np.cos(yaw)
    return (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2) & (np.abs(points[:, 2] - z) <= height / 2)


def test_the_default_changes_nothing_and_draws_nothing():
    sample = Sample(Scan(np.ones((4, 4), np.float32)))
    rng = np.random.default_rng(0)
    same, matrix = GlobalTransform(GlobalTransformConfig())(sample, rng)
    assert same is sample and matrix is None
    assert rng.random() == np.random.default_rng(0).random()


def test_the_map_is_a_scaled_rotation_mirrored_half_the_time_and_tilted_within_bounds():
    rng = np.random.default_rng(1)
    matrices = [draw_transform(EVERYTHING, rng) for _ in range(400)]
    scales = np.array([np.cbrt(abs(np.linalg.det(m))) for m in matrices])
    assert scales.min() >= 0.9 and scales.max() <= 1.1
    for m, s in zip(matrices, scales, strict=True):
        np.testing.assert_allclose(m.T @ m, s * s * np.eye(3), atol=1e-9)
    mirrored = np.mean([np.linalg.det(m) < 0 for m in matrices])
    assert 0.4 < mirrored < 0.6
    up = np.array([m[:, 2] / s for m, s in zip(matrices, scales, strict=True)])
    tilt = np.rad2deg(np.arccos(up[:, 2]))
    assert tilt.max() <= 3 * np.sqrt(2) + 1e-6 and tilt.max() > 2.0
    yaw = np.rad2deg(np.arctan2(np.array([m[1, 0] for m in matrices]), np.array([m[0, 0] for m in matrices])))
    assert yaw.min() < -150 and yaw.max() > 150


@pytest.mark.parametrize("flip", [False, True])
def test_points_inside_a_box_stay_inside_the_moved_box(flip):
    rng = np.random.default_rng(2)
    box = np.array([12.0, -4.0, -0.8, 4.2, 1.8, 1.5, 0.6])
    points = rng.uniform(-1, 1, (500, 3)) * [3, 3, 1] + box[:3]
    inside = _inside(points, box)
    assert 50 < inside.sum() < 450
    config = GlobalTransformConfig(rotate_deg=180, flip=flip, scale=[0.8, 1.2])
    for _ in range(20):
        matrix = draw_transform(config, rng)
        moved = transform_boxes(Boxes(box[None], np.zeros(1)), matrix).data[0].astype(np.float64)
        shrunk, grown = moved.copy(), moved.copy()
        shrunk[3:6] -= 1e-3
        grown[3:6] += 1e-3
        new_points = points @ matrix.T
        assert not (_inside(new_points, shrunk) & ~inside).any()
        assert (_inside(new_points, grown) | ~inside).all()


def test_the_sample_its_pose_and_boxes_move_together():
    pose = np.eye(4)
    pose[:3, 3] = [100.0, 5.0, 0.0]
    points = np.array([[10.0, 2.0, -1.0, 0.3], [-3.0, 7.0, 0.5, 0.9]], np.float32)
    sample = Sample(Scan(points), boxes=Boxes(np.array([[10.0, 2.0, -1.0, 4, 2, 1.5, 0.0]]), [0]), pose=pose)
    moved, matrix = GlobalTransform(EVERYTHING)(sample, np.random.default_rng(3))
    np.testing.assert_allclose(moved.scan.xyz, points[:, :3] @ matrix.T, rtol=1e-6)
    np.testing.assert_array_equal(moved.scan.intensity, points[:, 3])
    np.testing.assert_allclose(moved.boxes.data[0, :3], moved.scan.xyz[0], rtol=1e-5)
    world_before = sample.scan.xyz @ sample.pose[:3, :3].T + sample.pose[:3, 3]
    world_after = moved.scan.xyz @ moved.pose[:3, :3].T + moved.pose[:3, 3]
    np.testing.assert_allclose(world_after, world_before, atol=1e-4)  # the world stays where it was


def test_config_mistakes_name_the_key():
    with pytest.raises(SpotConfigError, match=r"`data.train.transform.scale` = \[1.1, 0.9\]: is a range"):
        validate_section({"scale": [1.1, 0.9]}, GlobalTransformConfig, "data.train.transform")
    with pytest.raises(SpotConfigError, match=r"`data.train.transform.tilt_deg` = 20.0: expected a number >= 0"):
        validate_section({"tilt_deg": 20}, GlobalTransformConfig, "data.train.transform")
