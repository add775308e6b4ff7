"""Named label maps: a dataset's raw semantic ids -> a label set (ordered class names), shipped as data.

A label map is what a dataset's own description holds (SemanticKITTI's `semantic-kitti.yaml`: `labels`,
`learning_map`, `learning_map_inv`); the ones spot ships are entered here by name, so a config can say
`label_map: semantickitti` for a dataset whose files carry no description (the simulator) or to relabel one,
and `classes: {label_map: semantickitti}` for the label set an experiment predicts. Adding a label map (PPT's
nuScenes-16 or Waymo-22 view of the simulator's raw ids) is adding an entry to `LABEL_MAPS`.

`semantickitti`: SemanticKITTI's raw ids (road 40, car 10, moving-car 252, ...) and its 19-class training map,
the tables of the dataset's `semantic-kitti.yaml` (the simulator labels its points with these raw ids).
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

# name -> the sections of a `semantic-kitti.yaml`-style description (what `spot-data simulate` writes out too)
LABEL_MAPS: dict[str, Mapping[str, Mapping[int, int | str]]] = {
    "semantickitti": {
        "labels": SEMANTIC_KITTI_LABELS,
        "learning_map": SEMANTIC_KITTI_LEARNING_MAP,
        "learning_map_inv": SEMANTIC_KITTI_LEARNING_MAP_INV,
    },
}

LabelMapName = StrEnum("LabelMapName", {name: name for name in LABEL_MAPS})
LabelMapName.__doc__ = "The names of `LABEL_MAPS`, for config fields that name one."


@functools.cache
def named_label_map(name: str) -> LabelMap:
    """The label map `name` (class id = training id - 1; training id 0, unlabeled, -> IGNORE_INDEX), read-only."""
    if name not in LABEL_MAPS:
        raise SpotInputError(f"unknown label map {name!r}; expected one of {sorted(LABEL_MAPS)}")
    tables = LABEL_MAPS[name]
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
