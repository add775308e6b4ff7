"""Boxes -> MarkerArray / Detection3DArray: one cube and one label per box, poses and sizes from the box rows."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.ros
pytest.importorskip("visualization_msgs")

from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from spot.runtime import Boxes  # noqa: E402
from spot.runtime.viz import class_color  # noqa: E402
from spot_ros.objects import detection_array, marker_array  # noqa: E402

BOXES = Boxes(
    np.array([[10, -2, 0.5, 4.2, 1.9, 1.6, math.pi / 2], [3, 4, 0.9, 0.7, 0.7, 1.8, 0.0]], np.float32),
    np.array([0, 1]),
    np.array([0.8, 0.4]),
)
NAMES = ("car", "pedestrian")


def test_marker_array_draws_each_box_in_its_class_colour_after_clearing():
    markers = marker_array(BOXES, NAMES, Header(frame_id="lidar")).markers
    assert markers[0].action == Marker.DELETEALL and len(markers) == 5
    cube, text = markers[1], markers[2]
    assert (cube.type, cube.ns, cube.id) == (Marker.CUBE, "boxes", 0)
    assert (cube.scale.x, cube.scale.y) == pytest.approx((4.2, 1.9), rel=1e-6)
    assert cube.pose.orientation.z == pytest.approx(math.sin(math.pi / 4))
    assert (round(cube.color.r * 255), round(cube.color.g * 255), round(cube.color.b * 255)) == class_color("car", 0)
    assert text.text == "car 0.80" and text.pose.position.z > cube.pose.position.z + 0.8
    assert markers[4].text == "pedestrian 0.40"


def test_boxes_without_scores_read_as_certain():
    markers = marker_array(Boxes(BOXES.data[:1], BOXES.class_ids[:1]), NAMES, Header()).markers
    assert markers[2].text == "car 1.00"


def test_detection_array_uses_the_vision_msgs_layout():
    class Message(SimpleNamespace):
        """Stands in for each vision_msgs type: nested fields exist on construction, as in generated messages."""

    def hypothesis_with_pose(**fields):
        return Message(hypothesis=Message(class_id="", score=0.0), pose=Message(pose=None), **fields)

    vision = SimpleNamespace(
        ObjectHypothesisWithPose=hypothesis_with_pose,
        BoundingBox3D=Message,
        Detection3D=Message,
        Detection3DArray=Message,
    )
    array = detection_array(BOXES, NAMES, Header(frame_id="lidar"), vision)
    first = array.detections[0]
    assert first.results[0].hypothesis.class_id == "car" and first.results[0].hypothesis.score == pytest.approx(0.8)
    assert first.bbox.size.x == pytest.approx(4.2) and first.bbox.center.position.x == pytest.approx(10.0)
    assert len(array.detections) == 2 and array.header.frame_id == "lidar"
