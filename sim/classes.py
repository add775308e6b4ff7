"""The simulator's label set: SemanticKITTI raw ids, their 19-class training map, and material reflectivity.

Simulated `.label` files carry SemanticKITTI *raw* ids (road 40, car 10, moving-car 252, ...), so the real
`semantic-kitti.yaml` maps them unchanged; `LABEL_MAP_CONFIG` is that file's `labels` / `learning_map` /
`learning_map_inv` for the ids the simulator can emit plus the ones it maps away, and is written next to the
data as the dataset description. What each scene element is labelled:

| scene element                          | raw id (name)                  | 19-class training name |
|----------------------------------------|--------------------------------|------------------------|
| driving lanes / lane markings          | 40 road / 60 lane-marking      | road                   |
| parking strip                          | 44 parking                     | parking                |
| sidewalk and curb face                 | 48 sidewalk                    | sidewalk               |
| grass strips, open ground              | 72 terrain                     | terrain                |
| buildings (+ roof annexes)             | 50 building                    | building               |
| walls and fences                       | 51 fence                       | fence                  |
| tree crowns, hedges, bushes            | 70 vegetation                  | vegetation             |
| tree trunks                            | 71 trunk                       | trunk                  |
| street-light poles, sign posts         | 80 pole                        | pole                   |
| sign plates                            | 81 traffic-sign                | traffic-sign           |
| parked / moving cars                   | 10 car / 252 moving-car        | car                    |
| parked / moving trucks                 | 18 truck / 258 moving-truck    | truck                  |
| parked / moving buses                  | 13 bus / 257 moving-bus        | other-vehicle          |
| parked bicycles                        | 11 bicycle                     | bicycle                |
| standing / walking people              | 30 person / 254 moving-person  | person                 |
| cyclists (rider and bicycle)           | 31 / 253 moving-bicyclist      | bicyclist              |
"""

from __future__ import annotations

import numpy as np

from spot.runtime.io.semantickitti import LabelMap
from spot.runtime.sample import IGNORE_INDEX

ROAD, LANE_MARKING, PARKING, SIDEWALK, TERRAIN = 40, 60, 44, 48, 72
BUILDING, FENCE, VEGETATION, TRUNK, POLE, TRAFFIC_SIGN = 50, 51, 70, 71, 80, 81
CAR, TRUCK, BUS, BICYCLE, PERSON, BICYCLIST = 10, 18, 13, 11, 30, 31
MOVING = {CAR: 252, TRUCK: 258, BUS: 257, PERSON: 254, BICYCLIST: 253}

LABEL_NAMES: dict[int, str] = {
    0: "unlabeled", 1: "outlier", 10: "car", 11: "bicycle", 13: "bus", 15: "motorcycle", 16: "on-rails",
    18: "truck", 20: "other-vehicle", 30: "person", 31: "bicyclist", 32: "motorcyclist", 40: "road",
    44: "parking", 48: "sidewalk", 49: "other-ground", 50: "building", 51: "fence", 52: "other-structure",
    60: "lane-marking", 70: "vegetation", 71: "trunk", 72: "terrain", 80: "pole", 81: "traffic-sign",
    99: "other-object", 252: "moving-car", 253: "moving-bicyclist", 254: "moving-person",
    255: "moving-motorcyclist", 256: "moving-on-rails", 257: "moving-bus", 258: "moving-truck",
    259: "moving-other-vehicle",
}  # fmt: skip
LEARNING_MAP: dict[int, int] = {
    0: 0, 1: 0, 10: 1, 11: 2, 13: 5, 15: 3, 16: 5, 18: 4, 20: 5, 30: 6, 31: 7, 32: 8, 40: 9, 44: 10, 48: 11,
    49: 12, 50: 13, 51: 14, 52: 0, 60: 9, 70: 15, 71: 16, 72: 17, 80: 18, 81: 19, 99: 0, 252: 1, 253: 7,
    254: 6, 255: 8, 256: 5, 257: 5, 258: 4, 259: 5,
}  # fmt: skip
LEARNING_MAP_INV: dict[int, int] = {
    0: 0, 1: 10, 2: 11, 3: 15, 4: 18, 5: 20, 6: 30, 7: 31, 8: 32, 9: 40, 10: 44, 11: 48, 12: 49, 13: 50,
    14: 51, 15: 70, 16: 71, 17: 72, 18: 80, 19: 81,
}  # fmt: skip
LABEL_MAP_CONFIG = {"labels": LABEL_NAMES, "learning_map": LEARNING_MAP, "learning_map_inv": LEARNING_MAP_INV}

# Material reflectivity in [0, 1] per raw id: the mean KITTI HDL-64E reflectance of that class in real
# SemanticKITTI scans (car paint is dark and specular, people and vegetation bright).
REFLECTIVITY: dict[int, float] = {
    ROAD: 0.26, LANE_MARKING: 0.62, PARKING: 0.27, SIDEWALK: 0.30, TERRAIN: 0.35, BUILDING: 0.33, FENCE: 0.33,
    VEGETATION: 0.35, TRUNK: 0.39, POLE: 0.26, TRAFFIC_SIGN: 0.70, CAR: 0.10, TRUCK: 0.28, BUS: 0.28,
    BICYCLE: 0.37, PERSON: 0.43, BICYCLIST: 0.40,
}  # fmt: skip
REFLECTIVITY_TABLE = np.zeros(max(LABEL_NAMES) + 1)  # raw id -> reflectivity, for whole label arrays
REFLECTIVITY_TABLE[list(REFLECTIVITY)] = list(REFLECTIVITY.values())


def label_map() -> LabelMap:
    """Raw id -> contract class id (training id - 1; unlabeled -> IGNORE_INDEX), as `LabelMap.from_yaml` does."""
    names = tuple(LABEL_NAMES[LEARNING_MAP_INV[i]] for i in sorted(LEARNING_MAP_INV) if i != 0)
    lookup = np.full(1 << 16, IGNORE_INDEX, dtype=np.int32)
    for raw, train in LEARNING_MAP.items():
        lookup[raw] = train - 1 if train > 0 else IGNORE_INDEX
    return LabelMap(names, lookup)
