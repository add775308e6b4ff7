import numpy as np
import pytest

from spot.runtime import Boxes, Sample, Scan, SpotInputError
from spot.runtime.viz import BACKGROUND, CLASS_COLORS, class_color, intensity_colors, render_bev


def _sample(labels=True):
    points = np.zeros((3, 4), np.float32)
    points[:, 0] = [10.0, 0.0, -20.0]  # ahead, at the sensor, behind
    points[:, 1] = [0.0, 10.0, 0.0]  # the second one 10 m to the left
    points[:, 3] = [0.0, 0.5, 1.0]
    boxes = Boxes(np.array([[0, -20, 0, 4, 2, 1.5, 0]]), [0])
    return Sample(
        Scan(points),
        labels=np.array([0, 1, -1]) if labels else None,
        class_names=("car", "road"),
        boxes=boxes,
        box_class_names=("car",),
    )


def test_forward_is_up_and_left_is_left():
    image = np.asarray(render_bev(_sample(), extent_m=25, resolution_m=0.1))
    assert image.shape == (500, 500, 3)
    assert tuple(image[150, 250]) == CLASS_COLORS["car"]  # x = +10 m -> 100 px above the centre
    assert tuple(image[250, 150]) == CLASS_COLORS["road"]  # y = +10 m -> 100 px left of the centre
    box_pixels = (image[:, 430:470] == CLASS_COLORS["car"]).all(axis=2).sum()  # box 20 m to the right
    assert box_pixels > 10


def test_intensity_colouring_and_palette_fallback():
    image = np.asarray(render_bev(_sample(labels=False), extent_m=25, resolution_m=0.1))
    assert tuple(image[150, 250]) == tuple(intensity_colors(np.array([0.0]))[0])
    assert (image != BACKGROUND).any(axis=2).sum() > 100
    assert class_color("unheard-of", 3) == class_color("another", 3) != class_color("another", 4)
    with pytest.raises(SpotInputError, match="no per-point labels"):
        render_bev(_sample(labels=False), color_by="label")
