import numpy as np

from spot.runtime import Boxes, Sample, Scan
from spot.runtime.detection_viz import PREDICTION_COLOR, render_detections
from spot.runtime.viz import class_color


def test_truth_in_class_colours_predictions_in_white_above_the_score():
    scan = Scan(np.zeros((1, 4), np.float32), ("x", "y", "z", "intensity"))
    truth = Boxes(np.array([[5.0, 0, 0, 4, 2, 1.5, 0]]), np.array([0]))
    predicted = Boxes(np.array([[-5.0, 0, 0, 4, 2, 1.5, 0], [0, 5.0, 0, 4, 2, 1.5, 0]]), [0, 0], [0.9, 0.1])
    image = np.asarray(render_detections(Sample(scan), truth, predicted, ("car",), extent_m=30, resolution_m=0.1))
    # +x is up: truth's front edge at x = 7 m is row 230, the prediction's rear edge at x = -7 m is row 370.
    assert (image[229:232, 295:305] == class_color("car", 0)).all(axis=-1).any()
    assert (image[369:372, 295:305] == PREDICTION_COLOR).all(axis=-1).any()
    assert not (image[290:310, 240:260] == PREDICTION_COLOR).all(axis=-1).any()  # the 0.1 box (y = 5 m) is not drawn
