"""spot-run and spot-bench on an exported artifact and a real scan."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from spot.runtime.cli.bench import STAGES
from spot.runtime.cli.bench import main as bench
from spot.runtime.cli.run import main as run
from spot.runtime.io.semantickitti import read_label_file

KITTI_SCAN = "kitti_object/training/velodyne/000000.bin"


@pytest.mark.realdata
def test_spot_run_writes_labels_json_and_png(segmentation_artifact, lidar_data, tmp_path):
    result = CliRunner().invoke(run, [str(segmentation_artifact), str(lidar_data / KITTI_SCAN), "-o", str(tmp_path),
                                      "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    base = tmp_path / "000000_000000"
    summary = json.loads(base.with_suffix(".json").read_text())
    semantic, _ = read_label_file(base.with_suffix(".label"), summary["points"])
    assert summary["points"] == 115_384 and sum(summary["points_per_class"].values()) == (semantic > 0).sum()
    assert semantic.max() <= len(summary["class_names"]) and base.with_suffix(".png").stat().st_size > 10_000


@pytest.mark.realdata
def test_spot_bench_prints_one_json_line(segmentation_artifact, lidar_data):
    args = [str(segmentation_artifact), "--input", str(lidar_data / KITTI_SCAN), "--runs", "2", "--threads", "1"]
    result = CliRunner().invoke(bench, args)
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert set(line["stages"]) == set(STAGES) and line["points"] == 115_384
    total = line["stages"]["total"]["median_ms"]
    assert 0 < total <= line["stages"]["total"]["p90_ms"] and line["points_per_s"] == round(115_384 / total * 1e3)
    assert line["peak_memory_mb"] > 0 and np.isfinite(line["stages"]["network"]["median_ms"])


@pytest.mark.realdata
def test_spot_run_refuses_a_folder_that_is_not_an_artifact(tmp_path, lidar_data):
    result = CliRunner().invoke(run, [str(tmp_path), str(lidar_data / KITTI_SCAN), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a spot artifact" in result.output
