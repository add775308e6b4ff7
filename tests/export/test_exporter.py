"""spot.export.exporter: checkpoints -> artifacts that compute what PyTorch computes, or no artifact at all."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from spot.export import exporter
from spot.export.exporter import ExportOptions, VerificationFailed, export_checkpoint
from spot.export.verify import ScanCheck, VerificationReport
from spot.runtime import Perception
from spot.runtime.artifact import Artifact
from spot.runtime.errors import SpotInputError

REAL_SCANS = ("kitti_object/training/velodyne/000000.bin", "semantickitti/sequences/00/velodyne/000000.bin")


@pytest.mark.parametrize("flavour", ["portable", "autoware", pytest.param("fused", marks=pytest.mark.fused)])
def test_export_matches_pytorch(flavour, parity_scans, segmentation_checkpoint, tmp_path):
    report = export_checkpoint(segmentation_checkpoint, tmp_path / "art", parity_scans, ExportOptions(flavour))

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
    elif flavour == "fused":
        assert {op for domain, op in ops if domain == "spot.fused"} == {"SparseConv"} and ("", "ScatterND") not in ops
        assert {spec.feed for spec in artifact.inputs} == {"voxel_features", "neighbors", "inverse_neighbors"}
    else:
        assert all(domain in ("", "ai.onnx") for domain, _ in ops) and ("", "ScatterND") in ops
        assert {spec.feed for spec in artifact.inputs} == {"voxel_features", "coords", "pairs", "counts"}


def test_predictions_are_not_one_class(segmentation_artifact, simulated_scans):
    """The parity above means something only if the random model separates classes."""
    labels = Perception.load(segmentation_artifact, num_threads=1)(simulated_scans[0].scan).labels
    assert len(np.unique(labels[labels >= 0])) >= 3


def test_refuses_to_write_an_artifact_that_fails(segmentation_checkpoint, simulated_scans, tmp_path, monkeypatch):
    failing = VerificationReport([ScanCheck("scan", 10, 5, 0.9, None, 0.5, 1.0)])
    monkeypatch.setattr(exporter, "verify", lambda *args: failing)
    with pytest.raises(VerificationFailed, match="does not match PyTorch"):
        export_checkpoint(segmentation_checkpoint, tmp_path / "art", simulated_scans[:1], ExportOptions())
    assert not (tmp_path / "art").exists() and list(tmp_path.iterdir()) == []


def test_options_are_checked():
    with pytest.raises(SpotInputError, match="opset >= 16"):
        ExportOptions(opset=15)
    with pytest.raises(SpotInputError, match="flavour"):
        ExportOptions(flavour="fast")


def test_portable_graph_gives_the_same_sums_on_two_threads(segmentation_artifact, simulated_scans):
    """Each ScatterND adds rows that are distinct within it: onnxruntime's threads never race on a row."""
    scan = simulated_scans[0].scan
    single = Perception.load(segmentation_artifact, num_threads=1)
    prepared = single.prepare(scan)
    expected = single.run_network(prepared)["voxel_logits"]
    double = Perception.load(segmentation_artifact, num_threads=2)
    for _ in range(8):  # a race shows in some runs, not all
        np.testing.assert_allclose(double.run_network(prepared)["voxel_logits"], expected, atol=1e-5)
