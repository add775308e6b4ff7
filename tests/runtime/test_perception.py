"""spot.runtime.perception: the artifact on raw scans, torch-free, with clear handling of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spot.runtime import IGNORE_INDEX, Perception, Scan, SpotInputError
from spot.runtime.io import read_sample

KITTI_SCAN = "kitti_object/training/velodyne/000000.bin"

SEGMENT = """
    import json, sys
    from spot.runtime import Perception
    from spot.runtime.io import read_sample

    perception = Perception.load(sys.argv[1], num_threads=1)
    result = perception(read_sample(sys.argv[2]).scan)
    print(json.dumps({"points": len(result.labels), "labelled": int((result.labels >= 0).sum()),
                      "classes": len(perception.class_names), "torch": "torch" in sys.modules,
                      "stages": sorted(result.timings)}))
    """


@pytest.fixture(scope="module", params=["simulated", pytest.param("real", marks=pytest.mark.realdata)])
def scan_file(request):
    """(file, its points, fewer than the points inside the artifact's grid): a simulated HDL-64E scan (a street:
    98 % of its points are within the +-51.2 m grid) or the real KITTI one."""
    if request.param == "simulated":
        points = len(request.getfixturevalue("simulated_scans")[0].scan)
        return request.getfixturevalue("simulated_scan_file"), points, int(0.97 * points)
    return request.getfixturevalue("lidar_data") / KITTI_SCAN, 115_384, 100_000


def test_segments_a_scan_without_torch(segmentation_artifact, scan_file, run_without_torch):
    path, points, labelled = scan_file
    run = run_without_torch(SEGMENT, segmentation_artifact, path)
    assert run.returncode == 0, run.stderr
    line = json.loads(run.stdout)
    assert line["torch"] is False and line["points"] == points and line["labelled"] > labelled
    assert line["classes"] > 1
    assert line["stages"] == ["kernel_maps", "network", "postprocess", "total", "voxelize"]


@pytest.fixture(scope="module")
def perception(segmentation_artifact):
    return Perception.load(segmentation_artifact, num_threads=1)


@pytest.fixture(scope="module")
def scan_points(scan_file):
    return read_sample(scan_file[0]).scan.points


def test_result_contract(perception, scan_points):
    result = perception(scan_points)
    assert result.labels.dtype == np.int32 and result.labels.shape == (len(scan_points),)
    assert result.scores.dtype == np.float32 and ((result.scores > 0) == (result.labels >= 0)).all()
    assert result.scores.max() <= 1.0 and result.boxes is None
    assert perception.class_colors.shape == (len(perception.class_names), 3)
    assert perception.input_columns == ("x", "y", "z", "intensity") and perception.box_class_names == ()
    assert (perception(Scan(scan_points)).labels == result.labels).all()


def test_non_finite_rows_are_dropped_and_ignored(perception, scan_points):
    points = scan_points[:20_000].copy()
    points[::7, 0] = np.nan
    points[3::7, 3] = np.inf
    labels = perception(points).labels
    bad = ~np.isfinite(points).all(axis=1)
    assert (labels[bad] == IGNORE_INDEX).all()
    assert (labels[~bad] == perception(points[~bad]).labels).all()


def test_extra_columns_are_ignored(perception, scan_points):
    wide = np.column_stack([scan_points, np.zeros(len(scan_points), np.float32)])
    assert (perception(wide).labels == perception(scan_points).labels).all()


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((10, 3), np.float32), r"\(N, >= 4\)"),
        (np.zeros((0, 4), np.float32), "no points"),
        (np.full((5, 4), np.nan, np.float32), "no finite point"),
        (np.zeros((200_001, 4), np.float32), "more than this artifact's bound of 200000"),
        (Scan(np.zeros((200_001, 4), np.float32)), "more than this artifact's bound of 200000"),  # issue 14.2
        (np.array([["a", "b", "c", "d"]]), "float32"),
        (np.zeros(4, np.float32), r"\(N, >= 4\)"),
    ],
)
def test_bad_input_is_a_clear_error(perception, points, message):
    with pytest.raises(SpotInputError, match=message):
        perception(points)


def test_scan_outside_the_grid_skips_the_network(perception):
    far = np.tile(np.array([[500.0, 0.0, 0.0, 0.5]], np.float32), (100, 1))
    result = perception(far)
    assert (result.labels == IGNORE_INDEX).all() and result.timings["network"] < 1.0


def test_unknown_engine_lists_the_choices(tmp_path):
    with pytest.raises(SpotInputError, match="not a spot artifact"):
        Perception.load(tmp_path)
