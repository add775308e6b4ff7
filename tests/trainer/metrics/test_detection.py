import numpy as np
import pytest

from spot.runtime import Boxes
from spot.trainer.metrics.detection import (
    DetectionEvalConfig,
    binned_precision_recall,
    detection_metrics,
    frame_statistics,
    greedy_match,
    kitti_ap_r40,
    nuscenes_ap,
    precision_recall,
    sum_statistics,
)

CONFIG = DetectionEvalConfig(class_names=("car", "pedestrian"))


def cars(xs, scores=None, y=0.0):
    data = [[x, y, 0.0, 4.0, 1.8, 1.5, 0.0] for x in xs]
    return Boxes(np.reshape(data, (-1, 7)), np.zeros(len(xs), np.int32), scores)


def test_hand_computed_ap_three_truths_four_detections():
    # Scores 0.9 TP, 0.8 FP, 0.7 TP, 0.6 FP against 3 ground truths:
    # recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2.
    recall, precision = precision_recall([1, 0, 1, 0], [1, 1, 1, 1], num_gt=3)
    np.testing.assert_allclose(recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.5])
    # KITTI R40: best precision 1 up to recall 1/3 (13 of the 40 points), 2/3 up to 2/3 (13 more), then 0.
    assert kitti_ap_r40(recall, precision) == pytest.approx((13 + 13 * 2 / 3) / 40)
    # nuScenes: recall points k/100, k = 11..100 (90). k <= 33: precision 1 (23 points, 0.9 each after the
    # 0.1 floor); k = 34..66: linear from (1/3, 0.5) to (2/3, 2/3), i.e. 0.5 + (k/100 - 1/3) / 2, less 0.1
    # -> 33 * 0.4 + (16.5 - 11) / 2 = 15.95; k >= 67: 0. AP = (20.7 + 15.95) / 90 / 0.9.
    assert nuscenes_ap(recall, precision) == pytest.approx((20.7 + 15.95) / 90 / 0.9)


def test_frame_statistics_match_by_centre_distance_and_iou():
    truth = cars([0.0, 10.0, 20.0])
    predicted = cars([0.3, 0.2, 11.5, 40.0], scores=[0.9, 0.8, 0.7, 0.6])
    stats = frame_statistics(predicted, truth, CONFIG)
    recall, precision = binned_precision_recall(stats["tp_centre"][2, 0], stats["detections"][0], 3)  # 2 m
    np.testing.assert_allclose(precision, [1, 0.5, 2 / 3, 0.5])
    assert stats["tp_centre"][0, 0].sum() == 1  # 0.5 m: only the first; the 1.5 m miss counts from 2 m
    assert stats["tp_centre"][1, 0].sum() == 1
    assert stats["tp_iou"][0].sum() == 1  # 0.3 m along a 4 m car: IoU 0.86 >= 0.7; 1.5 m: 0.45 < 0.7
    np.testing.assert_array_equal(stats["num_gt"], [3, 0])
    metrics = detection_metrics(stats, CONFIG)
    assert metrics["ap/car@2m"] == pytest.approx(nuscenes_ap(recall, precision))
    assert "ap/pedestrian" not in metrics  # no ground truth: left out of the mean
    assert metrics["map"] == pytest.approx(metrics["ap/car"])


def test_perfect_detector_scores_one_and_misses_score_zero():
    truth = cars([0.0, 10.0, 20.0])
    perfect = frame_statistics(cars([0.0, 10.0, 20.0], [0.9, 0.5, 0.2]), truth, CONFIG)
    metrics = detection_metrics(perfect, CONFIG)
    assert metrics["map"] == pytest.approx(1.0) and metrics["bev_ap/car@0.7"] == pytest.approx(1.0)
    missing = frame_statistics(cars([30.0, 40.0], [0.9, 0.8]), truth, CONFIG)
    metrics = detection_metrics(missing, CONFIG)
    assert metrics["map"] == 0.0 and metrics["map_bev"] == 0.0
    nothing = frame_statistics(Boxes.empty(), truth, CONFIG)
    assert detection_metrics(nothing, CONFIG)["map"] == 0.0


def test_binned_curve_equals_the_exact_one_when_scores_are_in_distinct_bins():
    rng = np.random.default_rng(3)
    scores = rng.permutation(np.arange(1000))[:200] / 1000 + 0.0005  # 200 distinct bins
    hits = (rng.random(200) < 0.6).astype(float)
    order = np.argsort(-scores)
    exact = precision_recall(hits[order], np.ones(200), num_gt=150)
    tp_hist = np.zeros(1000)
    det_hist = np.zeros(1000)
    np.add.at(tp_hist, (scores * 1000).astype(int), hits)
    np.add.at(det_hist, (scores * 1000).astype(int), 1)
    binned = binned_precision_recall(tp_hist, det_hist, num_gt=150)
    np.testing.assert_allclose(binned, exact)
    assert nuscenes_ap(*binned) == nuscenes_ap(*exact) and kitti_ap_r40(*binned) == kitti_ap_r40(*exact)


def test_statistics_add_up_over_frames():
    config = DetectionEvalConfig(class_names=("car",))
    truth = cars([0.0])
    frames = [frame_statistics(cars([0.1], [0.9]), truth, config), frame_statistics(cars([5.0], [0.8]), truth, config)]
    totals = sum_statistics(frames)
    assert totals["num_gt"][0] == 2 and totals["detections"].sum() == 2 and totals["tp_centre"][3].sum() == 1
    # recall 1/2, 1/2; precision 1, 1/2: recall points 0.11 ... 0.49 have precision 1, 0.5 has 1/2, then 0.
    assert detection_metrics(totals, config)["ap/car@4m"] == pytest.approx((39 * 0.9 + 0.4) / 90 / 0.9)


def test_greedy_match_gives_the_truth_to_the_stronger_detection():
    iou = np.array([[0.6, 0.0], [0.9, 0.0]])  # both want truth 0; the first row is stronger
    np.testing.assert_array_equal(greedy_match(iou, 0.5), [1, 0])
    np.testing.assert_array_equal(greedy_match(iou, 0.6, strict=True), [0, 1])


def test_iou_thresholds_default_to_kitti_per_class():
    config = DetectionEvalConfig(class_names=("car", "truck", "pedestrian", "cyclist", "other"))
    assert config.iou_thresholds == (0.7, 0.7, 0.5, 0.5, 0.5)
