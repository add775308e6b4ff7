"""Each kind of bad input gets one SpotInputError that names the file and what is wrong."""

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from spot.runtime import Scan, SpotInputError
from spot.runtime.io import iter_samples, read_sample, write_scan
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


def _pcd(path, body: bytes, data="ascii", points=10, width=None, fields="x y z", size="4 4 4", type_="F F F",
         count="1 1 1"):
    width = points if width is None else width
    header = (f"VERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {type_}\nCOUNT {count}\nWIDTH {width}\nHEIGHT 1\n"
              f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {points}\nDATA {data}\n")  # fmt: skip
    path.write_bytes(header.encode() + body)
    return path


ROWS = b"1 2 3\n" * 10


@pytest.mark.parametrize(
    ("options", "message"),
    [  # issue 14.10: the header is checked against itself and against the body
        ({"body": ROWS, "points": 100}, "header says POINTS 100 but the body holds 10 points"),
        ({"body": ROWS, "points": 5}, "header says POINTS 5 but the body holds 10 points"),
        ({"body": ROWS, "width": 7}, "header says WIDTH 7 x HEIGHT 1 but POINTS 10"),
        ({"body": ROWS, "size": "4 4"}, r"header has 2 SIZE entries for 3 FIELDS"),
        ({"body": ROWS, "type_": "F F"}, r"header has 2 TYPE entries for 3 FIELDS"),
        ({"body": ROWS, "count": "1 1"}, r"header has 2 COUNT entries for 3 FIELDS"),
        ({"body": np.zeros((1000, 3), "<f4").tobytes(), "data": "binary", "points": 500},
         r"header says POINTS 500 \(6000 bytes of 12-byte rows\) but the binary body has 12000 bytes"),
        ({"body": np.zeros(7, "<f4").tobytes(), "data": "binary"}, "header says POINTS 10 .* body has 28 bytes"),
        ({"body": b"1 2 3\n" * 9 + b"1 2\n"}, "cannot decode the ascii PCD data"),
    ],
)
def test_pcd_header_disagreeing_with_itself_or_its_body(tmp_path, options, message):
    path = _pcd(tmp_path / "bad.pcd", **options)
    with pytest.raises(SpotInputError, match=rf"bad\.pcd: {message}"):
        read_sample(path)


def test_binary_compressed_pcd_checked_against_its_header(tmp_path):
    path = tmp_path / "scan.pcd"
    write_scan(path, Scan(np.tile(np.arange(4, dtype=np.float32) / 4, (100, 1))))  # compressible: stays compressed
    data = path.read_bytes()
    assert b"DATA binary_compressed" in data and len(read_sample(path).scan) == 100
    path.write_bytes(data.replace(b"POINTS 100", b"POINTS 50").replace(b"WIDTH 100", b"WIDTH 50"))
    with pytest.raises(SpotInputError, match="POINTS 50 \\(800 bytes\\) but the compressed body decompresses to 1600"):
        read_sample(path)
    path.write_bytes(data[:-10])
    with pytest.raises(SpotInputError, match="binary_compressed body is truncated: 30 of 40 compressed bytes"):
        read_sample(path)


def test_one_row_ascii_pcd(tmp_path):
    assert len(read_sample(_pcd(tmp_path / "one.pcd", b"1 2 3\n", points=1)).scan) == 1


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


@pytest.mark.parametrize(
    ("array", "message"),
    [  # issues 14.13 and 14.16: every field must hold numbers
        (np.array([["a", "b", "c", "d"]] * 3), r"field 'x' holds <U1 values; expected numbers"),
        (np.ones((3, 4), np.complex64), "field 'x' holds complex64 values"),
        (np.ones((3, 4), bool), "field 'x' holds bool values"),
        (np.array([(1.0, 2.0, 3.0, "i")], dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("intensity", "U1")]),
         "intensity holds <U1 values"),
    ],
)
def test_npy_that_is_not_numbers(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(SpotInputError, match=rf"bad\.npy: {message}"):
        read_sample(tmp_path / "bad.npy")


def test_npz_whose_columns_do_not_match_its_points_names_the_file(tmp_path):  # issue 14.17
    np.savez(tmp_path / "x.npz", points=np.zeros((5, 7), np.float32), columns=np.array(["x", "y", "z", "intensity"]))
    with pytest.raises(SpotInputError, match=r"x\.npz: scan has 7 columns but 4 names"):
        read_sample(tmp_path / "x.npz")


def _kitti_object(tmp_path, label: str, calib: str = CALIB):
    root = tmp_path / "training"
    for folder in ("velodyne", "label_2", "calib"):
        (root / folder).mkdir(parents=True)
    _kitti_rows().tofile(root / "velodyne/000000.bin")
    (root / "label_2/000000.txt").write_text(label)
    (root / "calib/000000.txt").write_text(calib)
    return root / "velodyne/000000.bin"


def test_kitti_label_and_calib_with_text_where_numbers_belong(tmp_path):  # issue 14.13
    path = _kitti_object(tmp_path, "Car 0 0 0 0 0 10 10 1.5 wide 3.9 0 1.7 10 0\n")
    with pytest.raises(SpotInputError, match=r"label_2/000000.txt: line 1 \(h w l x y z rotation_y\) must hold num"):
        read_sample(path)
    label = "Car 0 0 0 0 0 10 10 1.5 1.6 3.9 0 1.7 10 0\n"
    path = _kitti_object(tmp_path / "b", label, CALIB.replace("0 -1 0", "0 x 0"))
    with pytest.raises(SpotInputError, match=r"calib/000000.txt: calib entry Tr_velo_to_cam must hold numbers"):
        read_sample(path)


def test_label_map_with_ids_beyond_16_bits(tmp_path):  # issue 14.13
    path = _semantickitti(tmp_path, _kitti_rows(3), np.full(3, 40))
    (tmp_path / "semantic-kitti.yaml").write_text(LABEL_MAP.replace("40: 2}", "70000: 2}"))
    with pytest.raises(SpotInputError, match=r"semantic-kitti.yaml: learning_map holds ids \[70000\] outside 0-65535"):
        read_sample(path)
    (tmp_path / "semantic-kitti.yaml").write_text(LABEL_MAP.replace("40: 2}", "road: 2}"))
    with pytest.raises(SpotInputError, match="learning_map must map whole numbers to whole numbers"):
        read_sample(path)


def test_kitti_intensity_outside_its_scale_is_clipped_and_counted(tmp_path, caplog):  # issue 14.16
    rows = _kitti_rows(6)
    rows[2, 3], rows[4, 3] = 1e30, -5.0
    rows.tofile(tmp_path / "000000.bin")
    with caplog.at_level(logging.WARNING):
        scan = read_sample(tmp_path / "000000.bin").scan
    assert "2 of 6 intensities lie outside the format's [0, 1]" in caplog.text
    np.testing.assert_array_equal(scan.intensity[[2, 4]], [1.0, 0.0])
    np.testing.assert_array_equal(np.delete(scan.intensity, [2, 4]), np.delete(rows[:, 3], [2, 4]))


def test_a_folder_can_be_read_past_its_bad_files(tmp_path):  # issue 14.9
    for name in ("a", "c"):
        _kitti_rows().tofile(tmp_path / f"{name}.bin")
    for name in ("b", "d"):
        (tmp_path / f"{name}.bin").write_bytes(b"123")
    errors = []
    samples = list(iter_samples(tmp_path, on_error=errors.append))
    assert [Path(s.source).name for s in samples] == ["a.bin", "c.bin"]
    assert [Path(e.source).name for e in errors] == ["b.bin", "d.bin"]
    with pytest.raises(SpotInputError, match=r"b\.bin: size 3 bytes"):
        list(iter_samples(tmp_path))
