"""Each kind of bad input gets one SpotInputError that names the file and what is wrong."""

import logging
import shutil

import numpy as np
import pytest

from spot.runtime import SpotInputError
from spot.runtime.io import read_sample
from spot.runtime.io.semantickitti import write_label_file

LABEL_MAP = """labels: {0: unlabeled, 10: car, 40: road}
learning_map: {0: 0, 10: 1, 40: 2}
learning_map_inv: {0: 0, 1: 10, 2: 40}
"""
CALIB = """R0_rect: 1 0 0 0 1 0 0 0 1
Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0
"""


def _kitti_rows(n=6):
    return np.arange(n * 4, dtype="<f4").reshape(n, 4) / (n * 4)


def _semantickitti(tmp_path, points, labels):
    velodyne = tmp_path / "sequences/00/velodyne"
    (tmp_path / "sequences/00/labels").mkdir(parents=True)
    velodyne.mkdir(parents=True)
    (tmp_path / "semantic-kitti.yaml").write_text(LABEL_MAP)
    points.tofile(velodyne / "000000.bin")
    write_label_file(tmp_path / "sequences/00/labels/000000.label", labels, np.zeros_like(labels))
    return velodyne / "000000.bin"


def test_truncated_bin(tmp_path):
    path = tmp_path / "000000.bin"
    path.write_bytes(_kitti_rows().tobytes()[:-3])
    with pytest.raises(SpotInputError, match=r"000000.bin: size 93 bytes is not a multiple of 16"):
        read_sample(path)


def test_nuscenes_bin_with_kitti_row_width(tmp_path):
    path = tmp_path / "sweep.pcd.bin"
    _kitti_rows(3).tofile(path)  # 48 bytes: whole KITTI rows, not whole 5-column nuScenes rows
    with pytest.raises(SpotInputError, match="not a multiple of 20"):
        read_sample(path)


def test_label_count_differs_from_scan(tmp_path):
    path = _semantickitti(tmp_path, _kitti_rows(6), np.full(5, 40))
    with pytest.raises(SpotInputError, match=r"000000.label: has 5 labels but the scan has 6 points"):
        read_sample(path)


def test_semantickitti_labels_are_mapped_and_non_finite_points_dropped_with_their_labels(tmp_path, caplog):
    points = _kitti_rows(6)
    points[1, 0], points[4, 2] = np.nan, np.inf
    path = _semantickitti(tmp_path, points, np.array([10, 40, 0, 40, 10, 10]))
    with caplog.at_level(logging.WARNING):
        sample = read_sample(path)
    assert "dropped 2 of 6 points with non-finite values" in caplog.text
    np.testing.assert_array_equal(sample.labels, [0, -1, 1, 0])
    assert sample.class_names == ("car", "road")


def test_missing_label_map(tmp_path):
    path = _semantickitti(tmp_path, _kitti_rows(3), np.full(3, 40))
    (tmp_path / "semantic-kitti.yaml").unlink()
    with pytest.raises(SpotInputError, match=r"no semantic-kitti\.yaml"):
        read_sample(path)


def test_empty_scan(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with pytest.raises(SpotInputError, match=r"empty.bin: scan holds no points"):
        read_sample(path)


def test_all_points_non_finite_is_an_empty_scan(tmp_path):
    path = tmp_path / "nan.npy"
    np.save(path, np.full((3, 4), np.nan, np.float32))
    with pytest.raises(SpotInputError, match=r"nan\.npy: scan holds no points"):
        read_sample(path)


def test_unknown_pcd_field_type(tmp_path):
    path = tmp_path / "odd.pcd"
    header = "VERSION 0.7\nFIELDS x y z rgb\nSIZE 4 4 4 4\nTYPE F F F X\nCOUNT 1 1 1 1\nWIDTH 1\nHEIGHT 1\n"
    path.write_bytes((header + "POINTS 1\nDATA ascii\n1 2 3 4\n").encode())
    with pytest.raises(SpotInputError, match=r"odd.pcd: field 'rgb' has TYPE X SIZE 4"):
        read_sample(path)


def test_truncated_binary_pcd(tmp_path):
    path = tmp_path / "short.pcd"
    header = "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 10\nHEIGHT 1\nPOINTS 10\n"
    path.write_bytes((header + "DATA binary\n").encode() + np.zeros(7, "<f4").tobytes())
    with pytest.raises(SpotInputError, match=r"short.pcd: cannot decode the binary PCD data"):
        read_sample(path)


def test_missing_calib(tmp_path):
    root = tmp_path / "training"
    for folder in ("velodyne", "label_2"):
        (root / folder).mkdir(parents=True)
    _kitti_rows().tofile(root / "velodyne/000000.bin")
    (root / "label_2/000000.txt").write_text("Car 0 0 0 0 0 10 10 1.5 1.6 3.9 0 1.7 10 0\n")
    with pytest.raises(SpotInputError, match=r"calib/000000.txt: calib file is missing"):
        read_sample(root / "velodyne/000000.bin")
    (root / "calib").mkdir()
    (root / "calib/000000.txt").write_text("R0_rect: 1 0 0\n")
    with pytest.raises(SpotInputError, match="calib entry R0_rect must hold 9 numbers, 3 values"):
        read_sample(root / "velodyne/000000.bin")
    (root / "calib/000000.txt").write_text(CALIB)
    sample = read_sample(root / "velodyne/000000.bin")
    # Camera (x right, y down, z forward) bottom centre (0, 1.7, 10) -> LiDAR (10, 0, -1.7 + h / 2).
    np.testing.assert_allclose(sample.boxes.data[0], [10, 0, -0.95, 3.9, 1.6, 1.5, -np.pi / 2], atol=1e-6)


def test_unknown_kitti_object_type(tmp_path):
    root = tmp_path / "training"
    (root / "velodyne").mkdir(parents=True)
    (root / "label_2").mkdir()
    (root / "calib").mkdir()
    _kitti_rows().tofile(root / "velodyne/000000.bin")
    (root / "calib/000000.txt").write_text(CALIB)
    (root / "label_2/000000.txt").write_text("Bus 0 0 0 0 0 10 10 1.5 1.6 3.9 0 1.7 10 0\n")
    with pytest.raises(SpotInputError, match="line 1: expected"):
        read_sample(root / "velodyne/000000.bin")


def test_npz_without_points(tmp_path):
    np.savez(tmp_path / "x.npz", something=np.zeros(3))
    with pytest.raises(SpotInputError, match=r"x.npz: npz has keys \['something'\]"):
        read_sample(tmp_path / "x.npz")


def test_malformed_ply(tmp_path):
    (tmp_path / "bad.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nend_header\n1\n")
    with pytest.raises(SpotInputError, match=r"bad\.ply"):
        read_sample(tmp_path / "bad.ply")


@pytest.mark.realdata
def test_label_file_of_another_scan(lidar_data, tmp_path):
    source = lidar_data / "semantickitti"
    shutil.copytree(source, tmp_path / "sk")
    scan = tmp_path / "sk/sequences/00/velodyne/000000.bin"
    scan.chmod(0o644)
    scan.write_bytes(scan.read_bytes()[:-16])  # one point fewer than its labels
    with pytest.raises(SpotInputError, match="has 122626 labels but the scan has 122625 points"):
        read_sample(scan)
