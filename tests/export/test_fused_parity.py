"""The fused flavour computes what the portable one does: same labels, same boxes, logits within 1e-4 relative,
on simulated and real scans, for segmentation and detection; and how its engine runs the graph."""

from __future__ import annotations

import numpy as np
import pytest

from spot.export.exporter import ExportOptions, export_checkpoint
from spot.runtime import Perception, SpotInputError
from spot.runtime.io import read_sample

pytestmark = pytest.mark.fused
RELATIVE_TOLERANCE = 1e-4
REAL_SCANS = (
    "kitti_object/training/velodyne/000000.bin",
    "kitti_object/training/velodyne/000001.bin",
    "semantickitti/sequences/00/velodyne/000000.bin",
)


@pytest.fixture(scope="module", params=["segmentation", "detection"])
def artifact_pair(request, simulated_scans, tmp_path_factory):
    """(portable, fused) artifact folders of the same seeded checkpoint, both verified on a simulated scan."""
    checkpoint = request.getfixturevalue(f"{request.param}_checkpoint")
    fused = tmp_path_factory.mktemp(f"fused-{request.param}") / "fused"
    export_checkpoint(checkpoint, fused, simulated_scans[:1], ExportOptions("fused"))
    return request.getfixturevalue(f"{request.param}_artifact"), fused


def assert_same_predictions(artifact_pair, scans) -> None:
    portable, fused = (Perception.load(folder, num_threads=2) for folder in artifact_pair)
    for scan in scans:
        expected = portable.run_network(portable.prepare(scan))
        actual = fused.run_network(fused.prepare(scan))
        for name, value in expected.items():
            scale = max(1.0, float(np.abs(value).max()))
            assert np.abs(actual[name] - value).max() <= RELATIVE_TOLERANCE * scale, name
        expected_result, actual_result = portable(scan), fused(scan)
        if expected_result.labels is not None:
            np.testing.assert_array_equal(actual_result.labels, expected_result.labels)  # agreement 1.0
        if expected_result.boxes is not None:
            assert len(expected_result.boxes) > 0
            np.testing.assert_array_equal(actual_result.boxes.class_ids, expected_result.boxes.class_ids)
            np.testing.assert_allclose(actual_result.boxes.data, expected_result.boxes.data, atol=1e-4)


def test_fused_equals_portable_on_simulated_scans(artifact_pair, simulated_scans):
    assert_same_predictions(artifact_pair, [sample.scan for sample in simulated_scans])


@pytest.mark.realdata
def test_fused_equals_portable_on_real_scans(artifact_pair, lidar_data):
    assert_same_predictions(artifact_pair, [read_sample(lidar_data / scan).scan for scan in REAL_SCANS])


def test_engine_folds_relus_and_skip_concatenations_and_runs_the_dense_rest_in_one_session(artifact_pair):
    from spot.runtime.fused.engine import _ConvStep, _SessionStep

    steps = Perception.load(artifact_pair[1], num_threads=1).engine._steps
    convs = [step for step in steps if isinstance(step, _ConvStep)]
    sessions = [step for step in steps if isinstance(step, _SessionStep)]
    assert all(step.relu for step in convs)  # every sparse layer of both networks is conv-BN-ReLU
    if len(convs) == 14:  # the UNet: the decoder layers' steps make their skip concatenations themselves
        assert [step.skip is not None for step in convs].count(True) == 3
        assert len(sessions) == 1 and sessions[0].outputs == ["voxel_logits"]
    else:  # the BEV encoder: one session for the densify and the 2-D head
        assert len(convs) == 6 and len(sessions) == 1 and sessions[0].outputs == ["heatmap_logits", "box_regression"]


def test_a_fused_artifact_without_the_cpu_extra_is_one_error(artifact_pair, monkeypatch):
    from spot.runtime import fused

    monkeypatch.setattr(fused, "REQUIREMENTS", ("numba", "a_package_that_is_not_installed"))
    with pytest.raises(SpotInputError, match=r"needs a_package_that_is_not_installed .*pip install 'spot-lidar\[cpu"):
        Perception.load(artifact_pair[1])
