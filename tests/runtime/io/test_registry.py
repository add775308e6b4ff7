"""Every reader on the real samples (exact counts), dispatch by suffix, folder iteration and round trips."""

import json

import numpy as np
import pytest

from spot.runtime import Boxes, Sample, Scan, SpotInputError
from spot.runtime.io import READERS, format_of, iter_samples, read_sample, read_samples, write_scan
from spot.runtime.io.arrays import write_npz
from spot.runtime.io.pcd import write_pcd
from spot.runtime.io.ply import write_ply

NUSCENES = "nuscenes/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin"
OUSTER = "ouster/OS-1-128_v2.3.0_1024x10_lb_n3.decoded.npz"


def _scan(n=50, columns=("x", "y", "z", "intensity", "ring", "time"), seed=0):
    rng = np.random.default_rng(seed)
    points = rng.uniform(-20, 20, (n, len(columns))).astype(np.float32)
    points[:, 3] = rng.uniform(0, 1, n)
    if "ring" in columns:
        points[:, 4] = rng.integers(0, 32, n)
    return Scan(points, columns)


def test_suffix_dispatch_prefers_the_longest_suffix():
    assert format_of("a/b.pcd.bin") == ".pcd.bin"
    assert format_of("a/000001.BIN") == ".bin"
    assert format_of("cloud.ply") == ".ply"
    assert format_of("notes.txt") is None
    assert set(READERS) == {".pcd.bin", ".bin", ".pcd", ".ply", ".npy", ".npz", ".db3", ".mcap", ".bag"}
    with pytest.raises(SpotInputError, match="unknown scan format"):
        read_sample("notes.txt")


@pytest.mark.parametrize("suffix", [".bin", ".pcd.bin", ".pcd", ".ply", ".npy"])
def test_round_trip_of_every_writable_scan_format(tmp_path, suffix):
    scan = _scan()
    path = tmp_path / f"scan{suffix}"
    write_scan(path, scan)
    back = read_sample(path).scan
    expected = {".bin": 4, ".pcd.bin": 5}.get(suffix, 6)
    assert back.columns == scan.columns[:expected]
    np.testing.assert_allclose(back.points, scan.points[:, :expected], rtol=0, atol=1e-6)


@pytest.mark.parametrize("encoding", ["ascii", "binary", "binary_compressed"])
def test_pcd_round_trip_in_every_encoding(tmp_path, encoding):
    scan = _scan(columns=("x", "y", "z", "intensity"))
    write_pcd(tmp_path / "a.pcd", scan, encoding=encoding)
    np.testing.assert_allclose(read_sample(tmp_path / "a.pcd").scan.points, scan.points, atol=1e-5)


def test_ascii_ply_round_trip(tmp_path):
    scan = _scan(columns=("x", "y", "z", "intensity"))
    write_ply(tmp_path / "a.ply", scan, binary=False)
    np.testing.assert_allclose(read_sample(tmp_path / "a.ply").scan.points, scan.points, atol=1e-5)


def test_npz_round_trip_keeps_the_whole_sample(tmp_path):
    scan = _scan(10)
    sample = Sample(
        scan,
        labels=np.arange(10) % 3 - 1,
        instances=np.arange(10),
        boxes=Boxes(np.ones((2, 7)), [0, 1]),
        pose=np.eye(4),
        dataset="sim",
        source="x",
        class_names=("a", "b"),
        box_class_names=("car", "truck"),
    )
    write_npz(tmp_path / "s.npz", sample)
    back = read_sample(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.scan.points, scan.points)
    np.testing.assert_array_equal(back.labels, sample.labels)
    np.testing.assert_array_equal(back.boxes.data, sample.boxes.data)
    assert (back.class_names, back.box_class_names, back.dataset) == (("a", "b"), ("car", "truck"), "sim")


def test_npy_columns_by_count_and_structured_fields(tmp_path):
    np.save(tmp_path / "xyz.npy", np.ones((4, 3), np.float64))
    scan = read_sample(tmp_path / "xyz.npy").scan
    assert scan.columns == ("x", "y", "z", "intensity") and scan.intensity.max() == 0
    fields = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("reflectivity", "u1"), ("channel", "u2")])
    fields["reflectivity"] = [0, 51, 255]
    np.save(tmp_path / "s.npy", fields)
    scan = read_sample(tmp_path / "s.npy").scan
    assert scan.columns == ("x", "y", "z", "intensity", "ring")
    np.testing.assert_allclose(scan.intensity, [0, 0.2, 1])


def test_folder_iteration_is_sorted_and_recursive(tmp_path):
    for name in ("b/2.npy", "a/1.bin", "a/0.ply", "a/readme.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        if name.endswith(".txt"):
            (tmp_path / name).write_text("not a scan")
        else:
            write_scan(tmp_path / name, _scan(5 + len(name), columns=("x", "y", "z", "intensity")))
    sources = [sample.source for sample in iter_samples(tmp_path)]
    assert [s.split(str(tmp_path))[1] for s in sources] == ["/a/0.ply", "/a/1.bin", "/b/2.npy"]


@pytest.mark.realdata
def test_kitti_object_scan_and_boxes_match_the_reference(lidar_data):
    assert len(read_sample(lidar_data / "kitti_object/training/velodyne/000000.bin").scan) == 115_384
    reference = json.loads((lidar_data / "kitti_object/boxes_lidar.json").read_text())["samples"][1]
    sample = read_sample(lidar_data / "kitti_object" / reference["velodyne"])
    expected = np.array([item["box"] for item in reference["objects"]])
    assert [sample.box_class_names[i] for i in sample.boxes.class_ids] == [o["name"] for o in reference["objects"]]
    np.testing.assert_allclose(sample.boxes.data[:, :6], expected[:, :6], atol=0.01)
    yaw_error = (sample.boxes.data[:, 6] - expected[:, 6] + np.pi) % (2 * np.pi) - np.pi
    assert np.abs(yaw_error).max() < 0.01


@pytest.mark.realdata
def test_semantickitti_scan_with_labels(lidar_data):
    sample = read_sample(lidar_data / "semantickitti/sequences/00/velodyne/000000.bin")
    assert len(sample.scan) == 122_626 and sample.labels.shape == (122_626,)
    assert len(sample.class_names) == 19 and sample.class_names[0] == "car"
    assert sample.labels.min() >= -1 and sample.labels.max() < 19
    assert (sample.labels == sample.class_names.index("road")).sum() == 29_712


@pytest.mark.realdata
def test_nuscenes_sweep_with_boxes(lidar_data):
    sample = read_sample(lidar_data / NUSCENES)
    assert sample.scan.points.shape == (34_688, 5) and sample.scan.columns[4] == "ring"
    assert sample.scan.intensity.min() >= 0 and sample.scan.intensity.max() <= 1
    assert len(sample.boxes) == 68 and sample.box_class_names[0] == "car"  # 69 minus one non-detection class
    assert np.unique(sample.scan.column("ring")).size == 32


@pytest.mark.realdata
def test_velodyne_pcds(lidar_data):
    vls = read_sample(lidar_data / "velodyne/vls128_1585897255376374245.pcd").scan
    assert len(vls) == 208_680 and vls.intensity.max() == 0  # the file has x y z only
    vlp = read_sample(lidar_data / "velodyne/vlp16_1673400472138016708.pcd").scan
    assert len(vlp) == 14_831 and vlp.columns == ("x", "y", "z", "intensity", "ring", "time")
    assert 0 < vlp.intensity.max() <= 1 and vlp.column("ring").max() < 16


@pytest.mark.realdata
def test_ouster_frames(lidar_data):
    samples = read_samples(lidar_data / OUSTER)
    assert len(samples) == 3
    first = samples[0]
    assert first.sensor.beams == 128 and first.sensor.vertical_angles_deg[0] == pytest.approx(20.95)
    assert first.scan.columns == ("x", "y", "z", "intensity", "ring", "time")
    ranges = np.linalg.norm(first.scan.xyz, axis=1)
    assert ranges.min() > 0 and np.unique(first.scan.column("ring")).size == 128
    assert first.scan.column("time").min() >= 0 and first.scan.column("time").max() < 0.1  # one 10 Hz turn
    assert read_sample(lidar_data / OUSTER, frame=2).source.endswith("#2")
