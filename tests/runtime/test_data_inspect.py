import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from spot.runtime import Scan
from spot.runtime.cli.data import main
from spot.runtime.io import write_scan


def test_stats_and_show_on_a_written_scan(tmp_path):
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-30, 30, (500, 3)), rng.uniform(0, 1, 500)]).astype(np.float32)
    write_scan(tmp_path / "a.pcd", Scan(points))
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "a.pcd")])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["points"] == 500 and stats["columns"] == ["x", "y", "z", "intensity"]
    output = tmp_path / "a.png"
    result = CliRunner().invoke(main, ["show", str(tmp_path / "a.pcd"), "-o", str(output), "--extent", "40"])
    assert result.exit_code == 0, result.output
    assert Image.open(output).size == (800, 800)


def test_bad_input_is_one_error_line_with_exit_2(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"\0" * 10)
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "bad.bin")])
    assert result.exit_code == 2
    assert "bad.bin: size 10 bytes is not a multiple of 16" in result.output


@pytest.mark.realdata
def test_stats_on_semantickitti(lidar_data):
    result = CliRunner().invoke(main, ["stats", str(lidar_data / "semantickitti/sequences/00/velodyne/000000.bin")])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output.strip().splitlines()[-1])
    assert stats["points"] == 122_626 and stats["samples"] == 1
    assert stats["labels"]["road"] == 29_712 and sum(stats["labels"].values()) == 122_626
    assert 62 <= stats["rings"] <= 68
    assert 0 < stats["range_m"]["p1"] < stats["range_m"]["p50"] < stats["range_m"]["p99"] < stats["range_m"]["max"]


@pytest.mark.realdata
def test_stats_on_nuscenes_uses_the_ring_column(lidar_data):
    result = CliRunner().invoke(main, ["stats", str(lidar_data / "nuscenes")])
    stats = json.loads(result.output.strip().splitlines()[-1])
    assert stats["points"] == 34_688 and len(stats["columns"]) == 5 and stats["rings"] == 32
    assert stats["boxes"]["pedestrian"] == 30


@pytest.mark.realdata
def test_show_kitti_with_boxes(lidar_data, tmp_path):
    output = tmp_path / "kitti.png"
    scan = lidar_data / "kitti_object/training/velodyne/000000.bin"
    result = CliRunner().invoke(main, ["show", str(scan), "-o", str(output)])
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(output).convert("RGB"))
    assert image.shape == (1000, 1000, 3)
    assert (image != (16, 16, 20)).any(axis=2).mean() > 0.05
