"""spot.export for `centerpoint_detection`: sparse BEV encoder, densified BEV map and CenterPoint head in one
graph, verified box for box against PyTorch on simulated scans (and real KITTI scans where present), in both
flavours."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from spot.export.exporter import ExportOptions, export_checkpoint
from spot.runtime import Perception
from spot.runtime.artifact import Artifact

REAL_SCANS = ("kitti_object/training/velodyne/000000.bin", "kitti_object/training/velodyne/000001.bin")


@pytest.mark.parametrize("flavour", ["portable", "autoware", pytest.param("fused", marks=pytest.mark.fused)])
def test_detector_exports_box_for_box(flavour, parity_scans, detection_checkpoint, tmp_path):
    report = export_checkpoint(detection_checkpoint, tmp_path / "art", parity_scans, ExportOptions(flavour))

    assert report.passed and len(report.checks) == 2
    for check in report.checks:
        assert check.box_agreement == 1.0 and check.label_agreement is None
        assert check.max_feature_error < 1e-4 and check.voxels > 10_000
    artifact = Artifact.load(tmp_path / "art")
    assert artifact.segmentation is None and artifact.detection.heatmap == "heatmap_logits"
    assert [spec.shape for spec in artifact.outputs] == [(1, 4, 64, 64), (1, 8, 64, 64)]
    ops = {(node.domain, node.op_type) for node in onnx.load(str(artifact.model_path)).graph.node}
    assert ("", "ScatterND") in ops and ("", "Conv") in ops  # the BEV densify and the 2-D head
    assert (("autoware", "ImplicitGemm") in ops) == (flavour == "autoware")
    assert (("spot.fused", "SparseConv") in ops) == (flavour == "fused")


def test_runtime_detects_boxes_without_labels(detection_artifact, simulated_scans):
    perception = Perception.load(detection_artifact, num_threads=1)
    result = perception(simulated_scans[1].scan)  # the artifact was verified on the first scan
    assert perception.box_class_names == ("car", "truck", "pedestrian", "cyclist") and perception.class_names == ()
    assert result.labels is None and result.scores is None
    boxes = result.boxes
    assert 10 <= len(boxes) <= 100 and boxes.data.dtype == np.float32 and boxes.data.shape[1] == 7
    assert (boxes.scores >= 0.1).all() and np.ptp(boxes.scores) > 0.05
    assert (np.abs(boxes.data[:, :2]) <= 25.6).all() and set(boxes.class_ids.tolist()) <= {0, 1, 2, 3}
    assert result.timings["postprocess"] > 0 and result.timings["network"] > 0
