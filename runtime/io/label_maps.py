"""Named label maps: a dataset's raw semantic ids -> a label set (ordered class names), shipped as data.

A label map is what a dataset's own description holds (SemanticKITTI's `semantic-kitti.yaml`: `labels`,
`learning_map`, `learning_map_inv`); the ones spot ships are entered here by name, so a config can say
`label_map: semantickitti` for a dataset whose files carry no description (the simulator) or to relabel one,
and `classes: {label_map: semantickitti}` for the label set an experiment predicts. Adding a label map is adding
an entry to `LABEL_MAPS`: either the three sections of a `semantic-kitti.yaml`, or `class_names` and a
`learning_map` (raw id -> training id, 0 = unlabeled) for a label set whose names are not raw-id names.

- `semantickitti`: SemanticKITTI's raw ids (road 40, car 10, moving-car 252, ...) and its 19-class training map,
  the tables of the dataset's `semantic-kitti.yaml` (the simulator labels its points with these raw ids).
- `semantickitti_nuscenes16`, `semantickitti_waymo22`: the same raw ids seen with nuScenes' 16 and Waymo's 22
  segmentation classes, so one simulator (or SemanticKITTI itself) yields three domains whose label sets differ in
  granularity, as PPT's SemanticKITTI / nuScenes / Waymo do. nuScenes is coarse: road, parking and lane marking
  are one "driveable_surface"; building, fence, pole and sign are "manmade"; trunks are vegetation; a rider is
  part of the bicycle / motorcycle (nuScenes annotates the cycle with its rider). Waymo is fine: "lane_marker"
  and "tree_trunk" are classes, riders are "bicyclist" / "motorcyclist", buses are "bus" (SemanticKITTI's
  "other-vehicle"), grass is "walkable" and parking is road. Choices where the target set has no equivalent: a
  fence is "building" in waymo22 (Waymo has no fence class), on-rails / other-vehicle are ignored in nuscenes16.
- `nuscenes16`: nuScenes-lidarseg's 32 categories (their `index` in `category.json`) -> the 16 benchmark
  classes, as the nuScenes-lidarseg benchmark (and Pointcept, mmdetection3d) map them; `noise`, `animal`,
  strollers, wheelchairs, personal mobility, debris, pushables, bicycle racks, emergency vehicles,
  `static.other` and the ego vehicle are ignored.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np

from ..errors import SpotInputError
from ..sample import IGNORE_INDEX
from .semantickitti import LabelMap

SEMANTIC_KITTI_LABELS: dict[int, str] = {
    0: "unlabeled", 1: "outlier", 10: "car", 11: "bicycle", 13: "bus", 15: "motorcycle", 16: "on-rails",
    18: "truck", 20: "other-vehicle", 30: "person", 31: "bicyclist", 32: "motorcyclist", 40: "road",
    44: "parking", 48: "sidewalk", 49: "other-ground", 50: "building", 51: "fence", 52: "other-structure",
    60: "lane-marking", 70: "vegetation", 71: "trunk", 72: "terrain", 80: "pole", 81: "traffic-sign",
    99: "other-object", 252: "moving-car", 253: "moving-bicyclist", 254: "moving-person",
    255: "moving-motorcyclist", 256: "moving-on-rails", 257: "moving-bus", 258: "moving-truck",
    259: "moving-other-vehicle",
}  # fmt: skip
SEMANTIC_KITTI_LEARNING_MAP: dict[int, int] = {
    0: 0, 1: 0, 10: 1, 11: 2, 13: 5, 15: 3, 16: 5, 18: 4, 20: 5, 30: 6, 31: 7, 32: 8, 40: 9, 44: 10, 48: 11,
    49: 12, 50: 13, 51: 14, 52: 0, 60: 9, 70: 15, 71: 16, 72: 17, 80: 18, 81: 19, 99: 0, 252: 1, 253: 7,
    254: 6, 255: 8, 256: 5, 257: 5, 258: 4, 259: 5,
}  # fmt: skip
SEMANTIC_KITTI_LEARNING_MAP_INV: dict[int, int] = {
    0: 0, 1: 10, 2: 11, 3: 15, 4: 18, 5: 20, 6: 30, 7: 31, 8: 32, 9: 40, 10: 44, 11: 48, 12: 49, 13: 50,
    14: 51, 15: 70, 16: 71, 17: 72, 18: 80, 19: 81,
}  # fmt: skip

NUSCENES16_CLASSES = (
    "barrier", "bicycle", "bus", "car", "construction_vehicle", "motorcycle", "pedestrian", "traffic_cone", "trailer",
    "truck", "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade", "vegetation",
)  # fmt: skip
WAYMO22_CLASSES = (
    "car", "truck", "bus", "other_vehicle", "motorcyclist", "bicyclist", "pedestrian", "sign", "traffic_light", "pole",
    "construction_cone", "bicycle", "motorcycle", "building", "vegetation", "tree_trunk", "curb", "road",
    "lane_marker", "other_ground", "walkable", "sidewalk",
)  # fmt: skip


SEMANTICKITTI_IDS, NUSCENES_LIDARSEG_IDS = "semantickitti", "nuscenes-lidarseg"  # the raw ids a map reads


def grouped_label_map(class_names: Sequence[str], raw_ids: Mapping[str, Sequence[int]], id_space: str) -> dict:
    """A `class_names` + `learning_map` entry from each class's raw ids (a class may have none: absent there), over
    the raw ids of `id_space`."""
    unknown = sorted(set(raw_ids) - set(class_names))
    if unknown:
        raise ValueError(f"raw ids given for classes {unknown} that are not in the label set")
    learning_map = {raw: index + 1 for index, name in enumerate(class_names) for raw in raw_ids.get(name, ())}
    return {"class_names": tuple(class_names), "learning_map": learning_map, "raw_ids": id_space}


def raw_id_space(name: str) -> str:
    """Whose raw ids the shipped label map `name` reads (a `semantic-kitti.yaml`-style one: SemanticKITTI's)."""
    return str(LABEL_MAPS[name].get("raw_ids", SEMANTICKITTI_IDS))


# name -> a `semantic-kitti.yaml`-style description (what `spot-data simulate` writes out too), or class names and
# a learning map
LABEL_MAPS: dict[str, Mapping[str, Mapping[int, int | str] | Sequence[str]]] = {
    "semantickitti": {
        "labels": SEMANTIC_KITTI_LABELS,
        "learning_map": SEMANTIC_KITTI_LEARNING_MAP,
        "learning_map_inv": SEMANTIC_KITTI_LEARNING_MAP_INV,
    },
    "semantickitti_nuscenes16": grouped_label_map(NUSCENES16_CLASSES, {
        "bicycle": (11, 31, 253), "bus": (13, 257), "car": (10, 252), "motorcycle": (15, 32, 255),
        "pedestrian": (30, 254), "truck": (18, 258), "driveable_surface": (40, 44, 60), "other_flat": (49,),
        "sidewalk": (48,), "terrain": (72,), "manmade": (50, 51, 52, 80, 81), "vegetation": (70, 71),
    }, SEMANTICKITTI_IDS),
    "semantickitti_waymo22": grouped_label_map(WAYMO22_CLASSES, {
        "car": (10, 252), "truck": (18, 258), "bus": (13, 257), "other_vehicle": (16, 20, 256, 259),
        "motorcyclist": (32, 255), "bicyclist": (31, 253), "pedestrian": (30, 254), "sign": (81,), "pole": (80,),
        "bicycle": (11,), "motorcycle": (15,), "building": (50, 51, 52), "vegetation": (70,), "tree_trunk": (71,),
        "road": (40, 44), "lane_marker": (60,), "other_ground": (49,), "walkable": (72,), "sidewalk": (48,),
    }, SEMANTICKITTI_IDS),
    "nuscenes16": grouped_label_map(NUSCENES16_CLASSES, {
        "barrier": (9,), "bicycle": (14,), "bus": (15, 16), "car": (17,), "construction_vehicle": (18,),
        "motorcycle": (21,), "pedestrian": (2, 3, 4, 6), "traffic_cone": (12,), "trailer": (22,), "truck": (23,),
        "driveable_surface": (24,), "other_flat": (25,), "sidewalk": (26,), "terrain": (27,), "manmade": (28,),
        "vegetation": (30,),
    }, NUSCENES_LIDARSEG_IDS),
}  # fmt: skip

LabelMapName = StrEnum("LabelMapName", {name: name for name in LABEL_MAPS})
LabelMapName.__doc__ = "The names of `LABEL_MAPS`, for config fields that name one."


@functools.cache
def named_label_map(name: str) -> LabelMap:
    """The label map `name` (class id = training id - 1; training id 0, unlabeled, -> IGNORE_INDEX), read-only."""
    if name not in LABEL_MAPS:
        raise SpotInputError(f"unknown label map {name!r}; expected one of {sorted(LABEL_MAPS)}")
    tables = LABEL_MAPS[name]
    if "class_names" in tables:
        names = tuple(tables["class_names"])
    else:
        inverse = tables["learning_map_inv"]
        names = tuple(str(tables["labels"][inverse[i]]) for i in sorted(inverse) if i != 0)
    lookup = np.full(1 << 16, IGNORE_INDEX, dtype=np.int32)
    for raw, train in tables["learning_map"].items():
        lookup[raw] = train - 1 if train > 0 else IGNORE_INDEX
    lookup.flags.writeable = False
    return LabelMap(names, lookup)


def check_label_set(class_names: Sequence[str], expected: Sequence[str], source: str | Path) -> None:
    """A dataset's label map (at `source`) must give exactly the experiment's classes, in the same order: class
    ids are positions in that list, so any difference would train or score every point of a class as another."""
    if tuple(class_names) == tuple(expected):
        return
    first = next((i for i, (a, b) in enumerate(zip(class_names, expected, strict=False)) if a != b), None)
    where = (
        f"class {first} is {class_names[first]!r} here but {expected[first]!r} there"
        if first is not None
        else f"the shorter list stops at class {min(len(class_names), len(expected))}"
    )
    raise SpotInputError(
        f"the label map gives {len(class_names)} classes but the experiment's `classes` has {len(expected)} ({where})",
        source=source,
    )
