import numpy as np
import pytest

from spot.runtime import Boxes, SpotInputError, VoxelGrid, points_in_boxes
from spot.runtime.detection import (
    CenterHeadSpec,
    bev_iou,
    bev_nms,
    circle_nms,
    decode_center_heatmaps,
    find_peaks,
)

GRID = VoxelGrid((-8.0, -8.0, -3.0, 8.0, 8.0, 1.0), (0.2, 0.2, 0.2))


def box(x=0.0, y=0.0, length=2.0, width=2.0, yaw=0.0, z=0.0, height=1.5):
    return [x, y, z, length, width, height, yaw]


def test_identical_boxes_have_iou_one():
    boxes = np.array([box(3, -2, 4.2, 1.8, 0.7), box(-5, 1, 0.8, 0.6, -2.9)])
    np.testing.assert_allclose(np.diag(bev_iou(boxes, boxes)), [1.0, 1.0], atol=1e-9)


def test_shifted_axis_aligned_boxes():
    # 4 x 2 boxes, the second shifted by (1, 0.5): overlap 3 * 1.5 = 4.5, union 8 + 8 - 4.5 = 11.5.
    iou = bev_iou(np.array([box(0, 0, 4, 2)]), np.array([box(1, 0.5, 4, 2), box(10, 0, 4, 2)]))
    np.testing.assert_allclose(iou, [[4.5 / 11.5, 0.0]], atol=1e-12)


def test_rotated_square_overlap_is_the_octagon():
    # Two 2 x 2 squares, one turned 45 degrees: the overlap is a regular octagon of area 8 (sqrt(2) - 1), so
    # IoU = (8 sqrt2 - 8) / (16 - 8 sqrt2) = 1 / sqrt2.
    iou = bev_iou(np.array([box()]), np.array([box(yaw=np.pi / 4)]))
    np.testing.assert_allclose(iou, [[1 / np.sqrt(2)]], atol=1e-12)


def test_yaw_by_pi_is_the_same_rectangle_and_height_does_not_count():
    a = np.array([box(1, 2, 4, 1.7, 0.3, z=0.0, height=1.0)])
    b = np.array([box(1, 2, 4, 1.7, 0.3 + np.pi, z=5.0, height=3.0)])
    np.testing.assert_allclose(bev_iou(a, b), [[1.0]], atol=1e-9)


def test_iou_matches_a_rasterised_overlap():
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(-1, 1, (6, 2)), np.zeros(6), rng.uniform(0.5, 4, (6, 2)), np.ones(6),
                         rng.uniform(-np.pi, np.pi, 6)])  # fmt: skip
    b = a.copy()
    b[:, :2] += rng.uniform(-1, 1, (6, 2))
    b[:, 6] += rng.uniform(-1, 1, 6)
    step = 0.01
    axis = np.arange(-5, 5, step) + step / 2
    xy = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    xyz = np.column_stack([xy, np.zeros(len(xy))])
    expected = []
    for box_a, box_b in zip(a, b, strict=True):
        in_a = points_in_boxes(xyz, box_a[None]) == 0
        in_b = points_in_boxes(xyz, box_b[None]) == 0
        expected.append((in_a & in_b).sum() / (in_a | in_b).sum())
    np.testing.assert_allclose(np.diag(bev_iou(a, b)), expected, atol=5e-3)


def test_iou_of_empty_inputs_has_the_right_shape():
    assert bev_iou(np.zeros((0, 7)), np.array([box()])).shape == (0, 1)


def test_bev_nms_keeps_the_higher_score():
    boxes = np.array([box(0, 0, 4, 2), box(0.2, 0, 4, 2), box(6, 0, 4, 2)])
    keep = bev_nms(boxes, np.array([0.6, 0.9, 0.3]), iou_threshold=0.5)
    np.testing.assert_array_equal(keep, [1, 2])


def test_circle_nms_radius():
    centres = np.array([[0.0, 0.0], [1.5, 0.0], [0.0, 3.0]])
    scores = np.array([0.5, 0.8, 0.7])
    np.testing.assert_array_equal(circle_nms(centres, scores, radius=2.0), [1, 2])
    np.testing.assert_array_equal(circle_nms(centres, scores, radius=1.0), [1, 2, 0])


def spec(**options) -> CenterHeadSpec:
    defaults = {"class_names": ("car", "pedestrian"), "grid": GRID, "stride": 4, "nms_radius": (2.0, 0.5)}
    return CenterHeadSpec(**(defaults | options))


def outputs(spec: CenterHeadSpec) -> tuple[np.ndarray, np.ndarray]:
    h, w = spec.map_shape
    return np.zeros((len(spec.class_names), h, w), np.float32), np.zeros((spec.regression_channels, h, w), np.float32)


def test_decode_puts_boxes_where_the_regression_says():
    s = spec()  # 0.8 m cells on a 20 x 20 map from (-8, -8)
    heatmap, regression = outputs(s)
    heatmap[0, 12, 5] = 0.9  # car at column 5, row 12
    regression[:, 12, 5] = [0.25, 0.5, -0.7, np.log(4.0), np.log(1.8), np.log(1.5), np.sin(1.0), np.cos(1.0)]
    heatmap[1, 3, 15] = 0.4  # pedestrian
    regression[3:6, 3, 15] = np.log([0.6, 0.6, 1.7])
    regression[7, 3, 15] = 1.0
    boxes = decode_center_heatmaps(heatmap, regression, s)
    np.testing.assert_array_equal(boxes.class_ids, [0, 1])
    np.testing.assert_allclose(boxes.scores, [0.9, 0.4])
    np.testing.assert_allclose(boxes.data[0], [-8 + 5.25 * 0.8, -8 + 12.5 * 0.8, -0.7, 4.0, 1.8, 1.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(boxes.data[1, :2], [-8 + 15 * 0.8, -8 + 3 * 0.8], rtol=1e-6)


def test_decode_suppresses_neighbours_threshold_and_max_detections():
    s = spec(score_threshold=0.2, max_detections=2)
    heatmap, regression = outputs(s)
    regression[7] = 1.0
    heatmap[0, 10, 10], heatmap[0, 10, 11] = 0.9, 0.8  # the 3x3 neighbour of a stronger peak goes
    heatmap[0, 10, 13] = 0.7  # 2.4 m away: a separate car
    heatmap[0, 2, 2] = 0.6  # kept by NMS but beyond max_detections
    heatmap[1, 5, 5] = 0.1  # below the threshold
    boxes = decode_center_heatmaps(heatmap, regression, s)
    np.testing.assert_allclose(boxes.scores, [0.9, 0.7])
    assert len(find_peaks(heatmap, 0.2, 100).scores) == 3


def test_decode_circle_nms_is_per_class():
    s = spec(score_threshold=0.1)
    heatmap, regression = outputs(s)
    regression[7] = 1.0
    heatmap[0, 10, 10], heatmap[0, 10, 12] = 0.9, 0.8  # cars 1.6 m apart: radius 2 m suppresses the second
    heatmap[1, 10, 12] = 0.5  # a pedestrian there is another class
    boxes = decode_center_heatmaps(heatmap, regression, s)
    np.testing.assert_array_equal(boxes.class_ids, [0, 1])


def test_decode_with_bev_iou_nms():
    s = spec(nms="bev_iou", iou_threshold=0.1)
    heatmap, regression = outputs(s)
    regression[3:6] = np.log(4.0)  # 4 m squares: cells 1.6 m apart overlap by IoU 0.43
    regression[7] = 1.0
    heatmap[0, 10, 10], heatmap[0, 10, 12], heatmap[0, 10, 18] = 0.9, 0.8, 0.7
    assert decode_center_heatmaps(heatmap, regression, s).scores.tolist() == pytest.approx([0.9, 0.7])


def test_spec_round_trips_through_a_dict_without_its_grid():
    s = spec(with_velocity=True, nms="bev_iou")
    assert "voxelization" not in s.to_dict() and CenterHeadSpec.from_dict(s.to_dict(), GRID) == s
    assert s.regression_channels == 10 and s.map_shape == (20, 20)
    layout = s.to_dict() | {"regression_layout": {"offset": [0, 2]}}
    with pytest.raises(SpotInputError, match=r"regression_layout .* differs from this runtime's"):
        CenterHeadSpec.from_dict(layout, GRID)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pre_nms_top_k": 0}, "pre_nms_top_k=0"),
        ({"max_detections": "10"}, "max_detections='10'"),
        ({"score_threshold": 2.0}, r"score_threshold=2.0; expected a number in \[0, 1\]"),
        ({"nms_radius": (1.0, -1.0)}, "nms_radius"),
    ],
)
def test_nonsense_head_settings_are_refused(options, message):
    with pytest.raises(SpotInputError, match=message):
        spec(**options)


def test_bad_outputs_and_specs_are_input_errors():
    s = spec()
    heatmap, regression = outputs(s)
    with pytest.raises(SpotInputError, match="heatmap must be"):
        decode_center_heatmaps(heatmap[:1], regression, s)
    with pytest.raises(SpotInputError, match="regression must be"):
        decode_center_heatmaps(heatmap, regression[:6], s)
    with pytest.raises(SpotInputError, match="nms_radius"):
        spec(nms_radius=(1.0,))
    with pytest.raises(SpotInputError, match="nms="):
        spec(nms="soft")


def test_decoded_boxes_are_the_contract_type():
    s = spec()
    heatmap, regression = outputs(s)
    assert isinstance(decode_center_heatmaps(heatmap, regression, s), Boxes)
