import numpy as np
import pytest

from spot.runtime import Boxes, VoxelGrid
from spot.runtime.detection import CenterHeadSpec, decode_center_heatmaps
from spot.trainer.objectives.detection.targets import center_targets, draw_gaussian, gaussian_radius, map_box_classes

SPEC = CenterHeadSpec(
    ("car", "pedestrian"), VoxelGrid((-16.0, -16.0, -3.0, 16.0, 16.0, 1.0), (0.2, 0.2, 0.2)), 4, nms_radius=(2, 0.5)
)


def dense_regression(targets, spec):
    h, w = spec.map_shape
    regression = np.zeros((spec.regression_channels, h * w), np.float32)
    regression[:, targets.cells] = targets.regression.T
    return regression.reshape(-1, h, w)


def test_targets_decode_back_into_the_boxes():
    data = [[3.3, -7.1, -0.9, 4.2, 1.8, 1.5, 0.4], [-10.05, 5.5, -0.8, 0.6, 0.7, 1.7, -2.8], [40, 0, 0, 4, 2, 1.5, 0]]
    boxes = Boxes(np.array(data), np.array([0, 1, 0]))
    targets = center_targets(boxes, SPEC)
    assert len(targets.cells) == 2  # the third box is off the map
    decoded = decode_center_heatmaps(targets.heatmap, dense_regression(targets, SPEC), SPEC)
    np.testing.assert_array_equal(decoded.class_ids, [0, 1])
    np.testing.assert_allclose(decoded.scores, [1.0, 1.0])
    np.testing.assert_allclose(decoded.data, boxes.data[:2], atol=1e-5)


def test_heatmap_is_a_unit_gaussian_peak_per_class():
    boxes = Boxes(np.array([[0.1, 0.1, 0, 4, 2, 1.5, 0]]), np.array([1]))
    heatmap = center_targets(boxes, SPEC).heatmap
    assert heatmap[0].max() == 0 and heatmap[1].max() == 1.0
    row, col = np.unravel_index(heatmap[1].argmax(), heatmap[1].shape)
    assert (row, col) == (20, 20)  # (0.1 + 16) / 0.8 = 20.1
    # min_radius 2 cells: sigma 5/6, the neighbour one cell away has exp(-1 / (2 sigma^2)).
    assert heatmap[1, 20, 21] == pytest.approx(np.exp(-1 / (2 * (5 / 6) ** 2)))
    assert heatmap[1, 20, 23] == 0


def test_draw_gaussian_clips_at_the_border_and_keeps_the_maximum():
    heatmap = np.zeros((5, 5), np.float32)
    draw_gaussian(heatmap, 0, 0, 2)
    draw_gaussian(heatmap, 0, 1, 2)
    assert heatmap[0, 0] == 1.0 and heatmap[0, 1] == 1.0
    assert heatmap[4, 4] == 0


def test_gaussian_radius_is_centerpoints_rule():
    # CornerNet's three cases for a 10 x 5 cell box at 0.1 overlap; the third (both corners inside) is smallest.
    radius = gaussian_radius(10, 5, 0.1)
    b3, c3 = -0.2 * 15, -0.9 * 50
    assert radius == pytest.approx((b3 + np.sqrt(b3**2 - 4 * 0.4 * c3)) / 2)
    assert gaussian_radius(20, 10, 0.1) > radius


def test_map_box_classes_relabels_and_drops_unmapped():
    boxes = Boxes(np.tile([0, 0, 0, 1, 1, 1, 0], (4, 1)), np.array([0, 1, 2, 3]))
    mapped = map_box_classes(boxes, ("Car", "Van", "Pedestrian", "Misc"), {"car": "car", "pedestrian": "pedestrian"},
                             ("car", "pedestrian"))  # fmt: skip
    np.testing.assert_array_equal(mapped.class_ids, [0, 1])
