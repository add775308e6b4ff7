"""nuScenes lidar sweeps (`.pcd.bin`) with their boxes, when a `<stem>.boxes.json` lies beside the sweep.

The boxes file is spot's export of a nuScenes sample's annotations (as in the project's test data): keys
`class_names` (the 10 detection classes) and `instances`, each with `name`, `label_id` (-1 = a category outside
the detection classes) and `box` `[x, y, z_center, l, w, h, yaw]` in the LIDAR_TOP frame. Boxes outside the
detection classes are dropped; `ego2global · lidar2ego` becomes the sample's pose (sensor -> world).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..boxes import Boxes
from ..errors import SpotInputError
from ..sample import Sample
from .binary import read_nuscenes_bin

SWEEP_SUFFIX = ".pcd.bin"
BOXES_SUFFIX = ".boxes.json"


def boxes_path_for(sweep_path: Path) -> Path:
    return sweep_path.with_name(sweep_path.name.removesuffix(SWEEP_SUFFIX) + BOXES_SUFFIX)


def read_nuscenes_boxes(path: str | Path) -> tuple[Boxes, tuple[str, ...], np.ndarray | None]:
    """Boxes of the detection classes, those class names, and the sensor -> world pose when given."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
        class_names = tuple(content["class_names"])
        kept = [item for item in content["instances"] if 0 <= int(item["label_id"]) < len(class_names)]
        data = np.asarray([item["box"] for item in kept], dtype=np.float32).reshape(-1, 7)
        class_ids = np.asarray([int(item["label_id"]) for item in kept], dtype=np.int32)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SpotInputError(
            f"expected a boxes json with class_names and instances[name, label_id, box]: {error!r}", source=path
        ) from error
    pose = None
    if "lidar2ego" in content and "ego2global" in content:
        pose = np.asarray(content["ego2global"], dtype=np.float64) @ np.asarray(content["lidar2ego"], np.float64)
    return Boxes(data, class_ids), class_names, pose


def read_nuscenes(sweep_path: str | Path) -> Sample:
    """A nuScenes sweep (x y z intensity/255 ring) plus its boxes and pose when the boxes json is beside it."""
    sweep_path = Path(sweep_path)
    scan = read_nuscenes_bin(sweep_path)
    boxes_path = boxes_path_for(sweep_path)
    if not boxes_path.is_file():
        return Sample(scan, dataset="nuscenes", source=str(sweep_path))
    boxes, class_names, pose = read_nuscenes_boxes(boxes_path)
    return Sample(scan, boxes=boxes, pose=pose, dataset="nuscenes", source=str(sweep_path), box_class_names=class_names)
