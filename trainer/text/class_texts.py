"""The text each class is described by to the text encoder: PPT's descriptive rewrites of the class names.

Pointcept's outdoor PPT config (`semseg-ppt-v1m1-0-sk-nu-wa-spunet.py`) rewrites names a text encoder reads
poorly ("bicyclist" -> "person who rides a bicycle", nuScenes' "driveable_surface" -> "path suitable or safe
for driving"); the same words in two label sets give the same text, and so the same class embedding. The texts
below are that config's, per label set; a label set without an entry is described by its class names with `_` and
`-` read as spaces (the config's template "[x]" on the plain name).
"""

from __future__ import annotations

from collections.abc import Sequence

from spot.runtime.io.label_maps import NUSCENES16_CLASSES, WAYMO22_CLASSES, named_label_map

LABEL_SET_TEXTS: dict[tuple[str, ...], tuple[str, ...]] = {
    named_label_map("semantickitti").class_names: (
        "car", "bicycle", "motorcycle", "truck", "other vehicle", "person", "person who rides a bicycle",
        "person who rides a motorcycle", "road", "parking", "path for pedestrians at the side of a road",
        "other ground", "building", "fence", "vegetation", "trunk", "terrain", "pole", "traffic sign",
    ),
    NUSCENES16_CLASSES: (
        "barrier", "bicycle", "bus", "car", "construction vehicle", "motorcycle", "pedestrian", "traffic cone",
        "trailer", "truck", "path suitable or safe for driving", "other flat", "sidewalk", "terrain", "man made",
        "vegetation",
    ),
    WAYMO22_CLASSES: (
        "car", "truck", "bus", "other vehicle", "person who rides a motorcycle", "person who rides a bicycle",
        "pedestrian", "sign", "traffic light", "pole", "construction cone", "bicycle", "motorcycle", "building",
        "vegetation", "tree trunk", "curb", "road", "lane marker", "other ground",
        "horizontal surface that can not drive", "surface when pedestrians most likely to walk on",
    ),
}  # fmt: skip


def class_texts(class_names: Sequence[str]) -> tuple[str, ...]:
    """The texts that describe a label set's classes, in class order."""
    known = LABEL_SET_TEXTS.get(tuple(class_names))
    if known is not None:
        return known
    return tuple(name.replace("_", " ").replace("-", " ") for name in class_names)


def all_texts() -> tuple[str, ...]:
    """Every text of the shipped label sets, each once: what the committed embedding file holds."""
    return tuple(dict.fromkeys(text for texts in LABEL_SET_TEXTS.values() for text in texts))
