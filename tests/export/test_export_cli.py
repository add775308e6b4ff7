"""spot-export's command line: TensorRT absent, and the one JSON line of a successful export (verified on the
default simulated scans, or on a real one given with --verify)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from spot.export.cli import main
from spot.export.exporter import MAX_OPSET

REAL_SCAN = "kitti_object/training/velodyne/000000.bin"


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_trt_without_tensorrt_says_what_to_install(tmp_path):
    result = CliRunner().invoke(main, ["missing-checkpoint", "-o", str(tmp_path / "art"), "--trt"])
    assert result.exit_code == 2
    assert "pip install tensorrt" in result.output and "GPU" in result.output


def test_tensorrt_options_need_trt(tmp_path):
    result = CliRunner().invoke(main, ["missing-checkpoint", "-o", str(tmp_path / "art"), "--fp16"])
    assert result.exit_code == 2 and "only apply with --trt" in result.output


def test_trt_refuses_the_fused_flavour_whose_layers_tensorrt_cannot_run(tmp_path):
    args = ["missing-checkpoint", "-o", str(tmp_path / "art"), "--trt", "--flavour", "fused"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "TensorRT cannot run" in result.output and "--flavour portable" in result.output


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


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--opset", "99"], "Error: opset 99 is newer than torch's ONNX exporter writes (<= 20)"),
        (["--opset", "11"], "Error: opset 11 is too old: the sparse layers need ScatterND(add), opset >= 16"),
        (["--max-points", "0"], "Error: max_points 0: expected a positive number of points"),
    ],
)
def test_bad_options_are_refused_before_the_checkpoint_is_read(tmp_path, options, message):
    """Issue 14 #13 (a 5,444-line TorchScript dump for --opset 99) and #17 (--max-points 0 named a temp folder)."""
    result = CliRunner().invoke(main, [str(tmp_path / "missing"), "-o", str(tmp_path / "art"), *options])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [message]


def test_an_output_that_is_not_an_artifact_is_refused_before_the_export(tmp_path):
    """Issue 14 #17: refused up front, naming the user's folder (the checkpoint is not even looked at)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    result = CliRunner().invoke(main, [str(tmp_path / "missing"), "-o", str(folder)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {folder}: exists and is not a spot artifact: refusing to replace it"
    assert (folder / "todo.txt").read_text() == "keep me"


def test_the_opset_bound_is_torchs():
    from torch.onnx import _constants

    assert MAX_OPSET == _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
