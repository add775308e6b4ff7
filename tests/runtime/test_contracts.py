import numpy as np
import pytest

from spot.runtime import Boxes, Sample, Scan, SpotInputError, box_corners, points_in_boxes
from spot.runtime.scan import drop_non_finite


def _points(n=5, c=4):
    return np.arange(n * c, dtype=np.float32).reshape(n, c) / (n * c)


def test_scan_columns_are_named_and_canonical():
    scan = Scan(_points(c=5), ("x", "y", "z", "intensity", "ring"))
    assert scan.has("ring") and not scan.has("time")
    np.testing.assert_array_equal(scan.column("ring"), scan.points[:, 4])
    assert scan.with_columns(("x", "y", "z", "intensity")).points.shape == (5, 4)
    with pytest.raises(SpotInputError, match="must start with"):
        Scan(_points(c=5), ("x", "y", "z", "ring", "intensity"))
    with pytest.raises(SpotInputError, match="3 columns but 4 names"):
        Scan(_points(c=3))
    with pytest.raises(SpotInputError, match="float32"):
        Scan(_points().astype(np.float64))
    with pytest.raises(SpotInputError, match="no column 'time'"):
        scan.column("time")


def test_scan_refuses_non_finite_and_drop_keeps_alignment():
    points = _points()
    points[2, 1] = np.nan
    points[4, 0] = np.inf
    with pytest.raises(SpotInputError, match="non-finite"):
        Scan(points)
    labels = np.arange(5)
    kept, kept_labels = drop_non_finite(points, labels, source="x.bin")
    assert kept.shape == (3, 4)
    np.testing.assert_array_equal(kept_labels, [0, 1, 3])


def test_sample_checks_label_count_and_pose():
    scan = Scan(_points())
    with pytest.raises(SpotInputError, match="labels has shape"):
        Sample(scan, labels=np.zeros(4))
    with pytest.raises(SpotInputError, match="pose must be 4x4"):
        Sample(scan, pose=np.eye(3))
    assert Sample(scan, labels=np.zeros(5, np.int64)).labels.dtype == np.int32


def test_box_corners_and_points_in_boxes():
    boxes = np.array([[10, 0, 1, 4, 2, 2, np.pi / 2]], np.float32)
    corners = box_corners(boxes)[0]
    # Rotated by 90 degrees: length runs along y.
    np.testing.assert_allclose(corners[0], [9, 2, 0], atol=1e-6)
    np.testing.assert_allclose(corners.min(0), [9, -2, 0], atol=1e-6)
    points = np.array([[10, 1.9, 1], [10, 0, 2.1], [11.1, 0, 1], [9.1, -1.9, 0.1]], np.float32)
    np.testing.assert_array_equal(points_in_boxes(points, boxes), [0, -1, -1, 0])


def test_boxes_validate_shapes():
    assert len(Boxes.empty()) == 0
    with pytest.raises(SpotInputError, match="2 boxes but 1 class ids"):
        Boxes(np.zeros((2, 7)), np.zeros(1))
    with pytest.raises(SpotInputError, match=r"\(M, 7\)"):
        Boxes(np.zeros((2, 6)), np.zeros(2))


def test_finite_rows_is_none_for_a_finite_array_and_a_row_mask_otherwise():
    from spot.runtime.scan import finite_rows

    points = np.zeros((4, 3), dtype=np.float32)
    assert finite_rows(points) is None
    points[1, 2], points[3, 0] = np.nan, np.inf
    np.testing.assert_array_equal(finite_rows(points), [True, False, True, False])
