"""spot.export.exporter: checkpoints -> artifacts that compute what PyTorch computes, or no artifact at all."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from spot.export import exporter
from spot.export.exporter import ExportOptions, VerificationFailed, export_checkpoint
from spot.export.verify import ScanCheck, VerificationReport
from spot.runtime.artifact import Artifact
from spot.runtime.errors import SpotInputError
from spot.runtime.io import read_sample

REAL_SCANS = ("kitti_object/training/velodyne/000000.bin", "semantickitti/sequences/00/velodyne/000000.bin")


@pytest.mark.realdata
@pytest.mark.parametrize("flavour", ["portable", "autoware"])
def test_export_matches_pytorch_on_real_scans(flavour, segmentation_checkpoint, lidar_data, tmp_path):
    samples = [read_sample(lidar_data / scan) for scan in REAL_SCANS]
    report = export_checkpoint(segmentation_checkpoint, tmp_path / "art", samples, ExportOptions(flavour))

    assert report.passed and len(report.checks) == 2
    for check in report.checks:
        assert check.label_agreement >= 0.999
        assert check.max_feature_error < 1e-4
        assert check.voxels > 10_000
    artifact = Artifact.load(tmp_path / "art")
    assert artifact.flavour == flavour and [m.name for m in artifact.plan.maps][:2] == ["subm0", "down1"]
    assert json.loads((tmp_path / "art/verification.json").read_text())["passed"] is True
    ops = {(node.domain, node.op_type) for node in onnx.load(str(artifact.model_path)).graph.node}
    if flavour == "autoware":
        assert {("autoware", "GetIndicePairsImplicitGemm"), ("autoware", "ImplicitGemm")} <= ops
        assert ("", "ScatterElements") in ops  # the inverse convolutions' tables, turned around
        assert [spec.name for spec in artifact.inputs] == ["voxel_features", "coords.input"]
    else:
        assert all(domain in ("", "ai.onnx") for domain, _ in ops) and ("", "ScatterND") in ops
        assert {spec.feed for spec in artifact.inputs} == {"voxel_features", "coords", "pairs", "counts"}


@pytest.mark.realdata
def test_predictions_are_not_one_class(segmentation_artifact, lidar_data):
    """The parity above means something only if the random model separates classes."""
    from spot.runtime import Perception

    labels = Perception.load(segmentation_artifact, num_threads=1)(read_sample(lidar_data / REAL_SCANS[0]).scan).labels
    assert len(np.unique(labels[labels >= 0])) >= 3


@pytest.mark.realdata
def test_refuses_to_write_an_artifact_that_fails(segmentation_checkpoint, lidar_data, tmp_path, monkeypatch):
    failing = VerificationReport([ScanCheck("scan", 10, 5, 0.9, None, 0.5, 1.0)])
    monkeypatch.setattr(exporter, "verify", lambda *args: failing)
    with pytest.raises(VerificationFailed, match="does not match PyTorch"):
        export_checkpoint(segmentation_checkpoint, tmp_path / "art", [read_sample(lidar_data / REAL_SCANS[0])],
                          ExportOptions())  # fmt: skip
    assert not (tmp_path / "art").exists() and list(tmp_path.iterdir()) == []


def test_options_are_checked():
    with pytest.raises(SpotInputError, match="opset >= 16"):
        ExportOptions(opset=15)
    with pytest.raises(SpotInputError, match="flavour"):
        ExportOptions(flavour="fast")


@pytest.mark.realdata
def test_portable_graph_gives_the_same_sums_on_two_threads(segmentation_artifact, lidar_data):
    """Each ScatterND adds rows that are distinct within it: onnxruntime's threads never race on a row."""
    from spot.runtime import Perception

    scan = read_sample(lidar_data / REAL_SCANS[0]).scan
    single = Perception.load(segmentation_artifact, num_threads=1)
    prepared = single.prepare(scan)
    expected = single.run_network(prepared)["voxel_logits"]
    double = Perception.load(segmentation_artifact, num_threads=2)
    for _ in range(8):  # a race shows in some runs, not all
        np.testing.assert_allclose(double.run_network(prepared)["voxel_logits"], expected, atol=1e-5)
