"""spot-export's command line: TensorRT absent, and the one JSON line of a successful export."""

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


def test_tensorrt_options_need_trt(tmp_path):
    result = CliRunner().invoke(main, ["missing-checkpoint", "-o", str(tmp_path / "art"), "--fp16"])
    assert result.exit_code == 2 and "only apply with --trt" in result.output


@pytest.mark.realdata
def test_export_prints_the_verification_report(segmentation_checkpoint, lidar_data, tmp_path):
    args = [str(segmentation_checkpoint), "-o", str(tmp_path / "art"), "--verify", str(lidar_data / REAL_SCAN)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["passed"] and line["scans"][0]["label_agreement"] >= 0.999
    assert (tmp_path / "art/model.onnx").is_file() and (tmp_path / "art/spot.json").is_file()


def test_unknown_checkpoint_is_one_error_line(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path / "nothing"), "-o", str(tmp_path / "art"), "--verify", "."])
    assert result.exit_code == 2 and "no such checkpoint" in result.output
