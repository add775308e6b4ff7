"""The simulator's label set: SemanticKITTI raw ids, their 19-class training map, and material reflectivity.

Simulated `.label` files carry SemanticKITTI *raw* ids (road 40, car 10, moving-car 252, ...), so the real
`semantic-kitti.yaml` maps them unchanged; the label map itself is data of the runtime
(`spot.runtime.io.label_maps`, `semantickitti`), and `LABEL_MAP_CONFIG`, its tables, is written next to the
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

from spot.runtime.io.label_maps import LABEL_MAPS, SEMANTIC_KITTI_LABELS, named_label_map
from spot.runtime.io.semantickitti import LabelMap

ROAD, LANE_MARKING, PARKING, SIDEWALK, TERRAIN = 40, 60, 44, 48, 72
BUILDING, FENCE, VEGETATION, TRUNK, POLE, TRAFFIC_SIGN = 50, 51, 70, 71, 80, 81
CAR, TRUCK, BUS, BICYCLE, PERSON, BICYCLIST = 10, 18, 13, 11, 30, 31
MOVING = {CAR: 252, TRUCK: 258, BUS: 257, PERSON: 254, BICYCLIST: 253}

LABEL_NAMES = SEMANTIC_KITTI_LABELS
LABEL_MAP_CONFIG = LABEL_MAPS["semantickitti"]  # written beside simulated data as its `dataset.yaml`

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
    """Raw id -> contract class id: SemanticKITTI's label map (`spot.runtime.io.label_maps`)."""
    return named_label_map("semantickitti")
