"""spot.runtime Boxes -> visualization_msgs/MarkerArray (and vision_msgs/Detection3DArray where installed).

Boxes are `[x, y, z_center, l, w, h, yaw]` in the frame of the cloud they came from (DESIGN §3); a marker
array first deletes the previous frame's markers, then draws one translucent cube per box in its class colour
and a text with the class and score above it.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from spot.runtime.boxes import Boxes
from spot.runtime.viz import class_color

BOX_ALPHA = 0.45
TEXT_HEIGHT_M = 0.6


def box_pose(box: np.ndarray) -> Pose:
    """Centre and yaw (about +z) of one box row."""
    x, y, z, _, _, _, yaw = (float(v) for v in box)
    orientation = Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))
    return Pose(position=Point(x=x, y=y, z=z), orientation=orientation)


def class_name(names: tuple[str, ...], class_id: int) -> str:
    return names[class_id] if 0 <= class_id < len(names) else f"class_{class_id}"


def box_scores(boxes: Boxes) -> np.ndarray:
    """The boxes' scores, or 1 for boxes that carry none (ground truth replayed through the node)."""
    return boxes.scores if boxes.scores is not None else np.ones(len(boxes), np.float32)


def marker_array(boxes: Boxes, names: tuple[str, ...], header) -> MarkerArray:
    """DELETEALL, then a CUBE (namespace `boxes`) and a TEXT_VIEW_FACING (`labels`) per box, ids by row."""
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for index, (box, class_id, score) in enumerate(zip(boxes.data, boxes.class_ids, box_scores(boxes), strict=True)):
        name = class_name(names, int(class_id))
        red, green, blue = (c / 255.0 for c in class_color(name, int(class_id)))
        pose = box_pose(box)
        length, width, height = (float(v) for v in box[3:6])
        above = Pose(position=Point(x=pose.position.x, y=pose.position.y, z=pose.position.z + height / 2 + 0.5))
        cube = {
            "type": Marker.CUBE,
            "pose": pose,
            "scale": Vector3(x=length, y=width, z=height),
            "color": ColorRGBA(r=red, g=green, b=blue, a=BOX_ALPHA),
        }
        label = {
            "type": Marker.TEXT_VIEW_FACING,
            "pose": above,
            "scale": Vector3(z=TEXT_HEIGHT_M),
            "color": ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
            "text": f"{name} {float(score):.2f}",
        }
        markers += [
            Marker(header=header, ns="boxes", id=index, action=Marker.ADD, **cube),
            Marker(header=header, ns="labels", id=index, action=Marker.ADD, **label),
        ]
    return MarkerArray(markers=markers)


def detection_array(boxes: Boxes, names: tuple[str, ...], header, vision: ModuleType):
    """vision_msgs/Detection3DArray (vision_msgs 4.x layout); `vision` is the `vision_msgs.msg` module."""
    detections = []
    for box, class_id, score in zip(boxes.data, boxes.class_ids, box_scores(boxes), strict=True):
        pose = box_pose(box)
        hypothesis = vision.ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = class_name(names, int(class_id))
        hypothesis.hypothesis.score = float(score)
        hypothesis.pose.pose = pose
        size = Vector3(x=float(box[3]), y=float(box[4]), z=float(box[5]))
        bbox = vision.BoundingBox3D(center=pose, size=size)
        detections.append(vision.Detection3D(header=header, results=[hypothesis], bbox=bbox))
    return vision.Detection3DArray(header=header, detections=detections)
