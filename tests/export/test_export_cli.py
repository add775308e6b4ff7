"""spot-export's command line: TensorRT absent, and the one JSON line of a successful export (verified on the
default simulated scans, or on a real one given with --verify)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from spot.export.cli import main

REAL_SCAN = "kitti_object/training/velodyne/000000.bin"


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_trt_without_tensorrt_says_what_to_install(tmp_path):
    result = CliRunner().invoke(main, ["missing-checkpoint", "-o", str(tmp_path / "art"), "--trt"])
    assert result.exit_code == 2
    assert "pip install tensorrt" in result.output and "GPU" in result.output


@pytest.fixture(params=["simulated", pytest.param("real", marks=pytest.mark.realdata)])
def verify_options(request) -> tuple[list[str], list[str]]:
    """(--verify options, the sources the report names): none (the default simulated scans), or a real scan."""
    if request.param == "simulated":
        return [], ["sim-hdl64:seed=0:t=0.00", "sim-hdl64:seed=0:t=0.10"]
    scan = str(request.getfixturevalue("lidar_data") / REAL_SCAN)
    return ["--verify", scan], [scan]


def test_export_prints_the_verification_report(segmentation_checkpoint, verify_options, tmp_path):
    options, sources = verify_options
    result = CliRunner().invoke(main, [str(segmentation_checkpoint), "-o", str(tmp_path / "art"), *options])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["passed"] and [scan["source"] for scan in line["scans"]] == sources
    assert all(scan["label_agreement"] >= 0.999 for scan in line["scans"])
    assert (tmp_path / "art/model.onnx").is_file() and (tmp_path / "art/spot.json").is_file()


def test_unknown_checkpoint_is_one_error_line(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path / "nothing"), "-o", str(tmp_path / "art"), "--verify", "."])
    assert result.exit_code == 2 and "no such checkpoint" in result.output
