"""spot-run and spot-bench on an exported artifact: a simulated scan, a real one where present, or (spot-bench
without --input) the simulated frame it makes itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from spot.runtime.cli.bench import STAGES
from spot.runtime.cli.bench import main as bench
from spot.runtime.cli.run import main as run
from spot.runtime.io.semantickitti import read_label_file
from spot.sim import SimulatedSequence

KITTI_SCAN = "kitti_object/training/velodyne/000000.bin"


@pytest.fixture(params=["simulated", pytest.param("real", marks=pytest.mark.realdata)])
def scan_file(request):
    """(a scan file named 000000.bin, its points): the simulated HDL-64E scan, or the real KITTI one."""
    if request.param == "simulated":
        return request.getfixturevalue("simulated_scan_file"), len(request.getfixturevalue("simulated_scans")[0].scan)
    return request.getfixturevalue("lidar_data") / KITTI_SCAN, 115_384


def test_spot_run_writes_labels_json_and_png(segmentation_artifact, scan_file, tmp_path):
    path, points = scan_file
    result = CliRunner().invoke(run, [str(segmentation_artifact), str(path), "-o", str(tmp_path), "--threads", "1"])
    assert result.exit_code == 0, result.output
    base = tmp_path / "000000_000000"
    summary = json.loads(base.with_suffix(".json").read_text())
    semantic, _ = read_label_file(base.with_suffix(".label"), summary["points"])
    assert summary["points"] == points and sum(summary["points_per_class"].values()) == (semantic > 0).sum()
    assert semantic.max() <= len(summary["class_names"]) and base.with_suffix(".png").stat().st_size > 10_000


def _bench_line(artifact, *options) -> dict:
    result = CliRunner().invoke(bench, [str(artifact), *options, "--runs", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output)
    assert set(line["stages"]) == set(STAGES)
    total = line["stages"]["total"]["median_ms"]
    assert 0 < total <= line["stages"]["total"]["p90_ms"]
    assert line["points_per_s"] == round(line["points"] / total * 1e3)
    assert line["peak_memory_mb"] > 0 and np.isfinite(line["stages"]["network"]["median_ms"])
    return line


def test_spot_bench_prints_one_json_line(segmentation_artifact, scan_file):
    path, points = scan_file
    line = _bench_line(segmentation_artifact, "--input", str(path))
    assert line["input"] == str(path) and line["points"] == points


def test_spot_bench_without_input_times_a_simulated_frame(segmentation_artifact):
    line = _bench_line(segmentation_artifact)
    frame = SimulatedSequence("hdl64", frames=1, seed=0).samples()[0]
    assert line["input"] == "sim-hdl64:seed=0:t=0.00" and line["points"] == len(frame.scan) > 100_000
    assert line["stages"]["read"]["median_ms"] < 1.0  # the scan is in memory


def test_spot_run_refuses_a_folder_that_is_not_an_artifact(tmp_path, simulated_scan_file):
    result = CliRunner().invoke(run, [str(tmp_path), str(simulated_scan_file), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a spot artifact" in result.output
