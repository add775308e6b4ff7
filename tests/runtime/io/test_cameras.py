"""Camera calibration and images beside a LiDAR sequence: projection numbers, the layout, and bad input."""

import json

import numpy as np
import pytest

from spot.runtime import SpotInputError
from spot.runtime.io.cameras import (
    CameraCalibration,
    CameraFrame,
    read_camera_frames,
    read_rig,
    write_image,
    write_rig,
)

# A camera 1 m left of the LiDAR looking forward: camera x = -lidar y, y = -lidar z, z = lidar x.
T_LEFT = np.array([[0.0, -1.0, 0.0, 1.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
K = np.array([[200.0, 0.0, 99.5], [0.0, 200.0, 49.5], [0.0, 0.0, 1.0]])


def test_projection_of_known_points():
    camera = CameraCalibration("CAM_LEFT", K, T_LEFT, 200, 100)
    np.testing.assert_allclose(camera.centre_in_lidar, [0.0, 1.0, 0.0])
    points = np.array([[10.0, 1.0, 0.0], [10.0, 0.0, -0.5], [-5.0, 1.0, 0.0], [10.0, -10.0, 0.0]])
    uv, depth = camera.project(points)
    np.testing.assert_allclose(uv[0], [99.5, 49.5])  # on the optical axis: the image centre
    np.testing.assert_allclose(uv[1], [99.5 + 20.0, 49.5 + 10.0])  # 1 m right and 0.5 m down at 10 m
    assert np.isnan(uv[2]).all() and depth[2] == -5.0
    col, row, seen = camera.pixels(points)
    assert seen.tolist() == [True, True, False, False]  # behind; outside the image
    assert (col[:2].tolist(), row[:2].tolist()) == ([100, 120], [50, 60])  # x.5 rounds to the pixel right/below


def test_rig_and_images_round_trip(tmp_path):
    folder = tmp_path / "sequences" / "00"
    (folder / "velodyne").mkdir(parents=True)
    rig = [CameraCalibration("CAM_LEFT", K, T_LEFT, 200, 100), CameraCalibration("CAM_B", K, np.eye(4), 200, 100)]
    write_rig(folder / "cameras.json", rig)
    images = np.random.default_rng(0).integers(0, 256, (2, 100, 200, 3), dtype=np.uint8)
    for camera, image in zip(rig, images, strict=True):
        (folder / "cameras" / camera.name).mkdir(parents=True)
        write_image(folder / "cameras" / camera.name / "000003.png", image)
    frames = read_camera_frames(folder / "velodyne" / "000003.bin")
    assert [f.name for f in frames] == ["CAM_LEFT", "CAM_B"]
    for frame, camera, image in zip(frames, rig, images, strict=True):
        assert isinstance(frame, CameraFrame) and frame.size == (200, 100)
        np.testing.assert_array_equal(frame.image, image)
        np.testing.assert_array_equal(frame.T_cam_from_lidar, camera.T_cam_from_lidar)
    for read, camera in zip(read_rig(folder / "cameras.json"), rig, strict=True):
        assert read.to_dict() == camera.to_dict()  # every float bit survives JSON


def _entry(**change):
    return {"name": "CAM", "width": 200, "height": 100, "K": K.tolist(), "T_cam_from_lidar": T_LEFT.tolist()} | change


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "is not JSON"),
        ({"cameras": []}, "expected {'cameras'"),
        ({"cameras": [{"name": "CAM"}]}, "camera 'CAM' lacks"),
        ({"cameras": [_entry(name="../up")]}, "camera name '../up'"),
        ({"cameras": [_entry(width=0)]}, "width=0, expected a whole number"),
        ({"cameras": [_entry(K=[[1, 0], [0, 1]])]}, "K has shape"),
        ({"cameras": [_entry(K=[[-5, 0, 1], [0, 5, 1], [0, 0, 1]])]}, "fx, fy > 0"),
        ({"cameras": [_entry(T_cam_from_lidar=(2 * np.eye(4)).tolist())]}, "not a rigid transform"),
        ({"cameras": [_entry(T_cam_from_lidar=np.diag([1.0, 1.0, -1.0, 1.0]).tolist())]}, "mirrors"),
        ({"cameras": [_entry(), _entry()]}, "repeat"),
        ({"format_version": 9, "cameras": [_entry()]}, "format_version 9"),
    ],
)
def test_bad_calibration_names_the_file_and_the_field(tmp_path, document, message):
    path = tmp_path / "cameras.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(SpotInputError, match=message) as caught:
        read_rig(path)
    assert caught.value.source == str(path)


def test_missing_or_wrong_size_images_name_the_image(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    write_rig(folder / "cameras.json", [CameraCalibration("CAM", K, T_LEFT, 200, 100)])
    scan = folder / "velodyne" / "000000.bin"
    with pytest.raises(SpotInputError, match="no such camera image") as caught:
        read_camera_frames(scan)
    assert caught.value.source.endswith("cameras/CAM/000000.png")
    (folder / "cameras" / "CAM").mkdir(parents=True)
    write_image(folder / "cameras" / "CAM" / "000000.png", np.zeros((90, 200, 3), np.uint8))
    with pytest.raises(SpotInputError, match=r"image \(90, 200, 3\) uint8, expected uint8 \(100, 200, 3\)"):
        read_camera_frames(scan)
    (folder / "cameras" / "CAM" / "000000.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(SpotInputError, match="not a readable image"):
        read_camera_frames(scan)


def _rotation(axis: int, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    rotation = np.eye(3)
    rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
    return rotation


def test_kitti_image_2_projects_as_the_devkit_does(tmp_path):
    K2 = np.array([[721.5, 0.0, 609.6], [0.0, 721.5, 172.9], [0.0, 0.0, 1.0]])
    P2 = K2 @ np.column_stack([np.eye(3), [0.06, -0.0003, 0.0027]])
    R0 = _rotation(1, 0.01) @ _rotation(0, -0.004)
    Tr = np.column_stack([_rotation(2, 0.007) @ np.array(T_LEFT[:3, :3]), [-0.004, -0.076, -0.27]])
    training = tmp_path / "training"
    for folder in ("calib", "image_2", "velodyne"):
        (training / folder).mkdir(parents=True)
    lines = {"P2": P2, "R0_rect": R0, "Tr_velo_to_cam": Tr}
    (training / "calib" / "000007.txt").write_text(
        "".join(f"{key}: {' '.join(f'{v:.12e}' for v in m.ravel())}\n" for key, m in lines.items())
    )
    write_image(training / "image_2" / "000007.png", np.zeros((375, 1242, 3), np.uint8))
    (frame,) = read_camera_frames(training / "velodyne" / "000007.bin")
    assert frame.name == "image_2" and frame.size == (1242, 375)
    points = np.random.default_rng(1).uniform([5, -10, -2], [60, 10, 2], (100, 3))
    homogeneous = np.column_stack([points, np.ones(100)])
    R0_4 = np.eye(4)
    R0_4[:3, :3] = R0
    devkit = (P2 @ R0_4 @ np.vstack([Tr, [0, 0, 0, 1]]) @ homogeneous.T).T  # x = P2 R0_rect Tr_velo_to_cam X
    uv, _ = frame.calibration.project(points)
    np.testing.assert_allclose(uv, devkit[:, :2] / devkit[:, 2:3], atol=1e-6)
    (training / "calib" / "000007.txt").write_text("P2: 1 2 3\n")
    with pytest.raises(SpotInputError, match="calib entry P2 must hold 12 numbers") as caught:
        read_camera_frames(training / "velodyne" / "000007.bin")
    assert caught.value.source.endswith("000007.txt")


@pytest.mark.realdata
def test_real_kitti_calibration_puts_the_scan_in_front_of_image_2(lidar_data, tmp_path):
    import shutil

    from spot.runtime.io.binary import read_kitti_bin

    source = lidar_data / "kitti_object" / "training"
    training = tmp_path / "training"
    (training / "calib").mkdir(parents=True)
    (training / "image_2").mkdir()
    shutil.copy(source / "calib" / "000000.txt", training / "calib" / "000000.txt")
    write_image(training / "image_2" / "000000.png", np.zeros((375, 1242, 3), np.uint8))  # KITTI's image size
    (frame,) = read_camera_frames(training / "velodyne" / "000000.bin")
    np.testing.assert_allclose(frame.calibration.centre_in_lidar, [0.27, 0.0, -0.08], atol=0.06)  # cam 2 in velo
    xyz = read_kitti_bin(source / "velodyne" / "000000.bin").xyz
    _, _, seen = frame.calibration.pixels(xyz)
    ahead = (xyz[:, 0] > 10) & (np.abs(xyz[:, 1]) < 0.3 * xyz[:, 0]) & (xyz[:, 2] > -2.5) & (xyz[:, 2] < 0)
    assert 15_000 < seen.sum() < 30_000 and seen[ahead].mean() > 0.99  # what lies ahead in its field of view
