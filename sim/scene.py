"""Procedural driving scenes from a seed: a straight street with lanes, curbs and sidewalks, buildings or a
green belt on each side, fences, hedges, front gardens, trees, street lights, signs, parked and moving
vehicles, cyclists and pedestrians; in half of the scenes a side street crosses it (`spot.sim.crossing`).

How often each appears follows the whole SemanticKITTI dataset's label shares (the `content` ratios of its
`semantic-kitti.yaml`, 43,552 scans of Karlsruhe's residential streets, country roads and a highway: vegetation
27.6 % of the labelled points, road 20.5, sidewalk 14.9, building 13.7, terrain 8.1, fence 7.5, car 4.4), not
the few real scans in the shared folder; `benchmarks/sim_vs_real.py` measures the distance.

The street runs along world +x through the origin; right-hand traffic (lanes at y < 0 drive towards +x). The ego
vehicle drives the lane right of the centre line. Everything is drawn from one `numpy.random.Generator` in a
fixed order, so the same seed gives the same scene on every platform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .actors import Actor
from .crossing import CROSSING_STREAM, Crossing, clear_corridor, draw_crossing, side_street_buildings, street_ground
from .ground import Ground
from .population import Placement, parked, people, traffic
from .solids import Solid
from .streetscape import Side, buildings, green_belt, street_furniture, trees

SENSOR_HEIGHT = 1.73  # KITTI's HDL-64E above the road, metres
MARGIN = 130.0  # street built this far behind the start and beyond the end of the drive
GREEN_SIDE_PROBABILITY = 0.3  # a side without buildings: park, field edge or wood behind the sidewalk


@dataclass(frozen=True)
class EgoMotion:
    """The ego vehicle: forward at `speed` along its lane with a gentle lane-keeping sway."""

    y: float
    z: float
    speed: float
    phase: float

    def pose_at(self, time: float) -> np.ndarray:
        """Sensor -> world (4, 4) at `time` seconds."""
        yaw = 0.03 * np.sin(0.5 * time + self.phase)
        pose = np.eye(4)
        pose[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
        pose[:3, 3] = [self.speed * time, self.y + 0.2 * np.sin(0.3 * time + self.phase), self.z]
        return pose


@dataclass(frozen=True)
class Scene:
    seed: int
    ground: Ground
    static: tuple[Solid, ...]
    actors: tuple[Actor, ...]
    ego: EgoMotion
    crossing: Crossing | None = None

    def solids_at(self, time: float) -> list[Solid]:
        return [*self.static, *(s for actor in self.actors for s in actor.solids_at(time))]


def generate_scene(seed: int, duration: float = 10.0) -> Scene:
    """The scene of `seed`, long enough for the ego to drive `duration` seconds."""
    rng = np.random.default_rng(seed)
    sides = [_side(rng, sign) for sign in (-1, 1)]
    ego = EgoMotion(-sides[0].lane_width / 2, SENSOR_HEIGHT, float(rng.uniform(5.0, 11.0)), float(rng.uniform(0, 6)))
    x_range = (-MARGIN, ego.speed * duration + MARGIN)
    static: list[Solid] = []
    placed: list[Placement] = []
    for side in sides:
        static += green_belt(rng, side, x_range) if side.green else buildings(rng, side, x_range)
        static += trees(rng, side, x_range)
        static += street_furniture(rng, side, x_range)
        placed += parked(rng, side, x_range)
        placed += traffic(rng, side, x_range, ego, duration)
        placed += people(rng, side, x_range)
    crossing_rng = np.random.default_rng([seed, CROSSING_STREAM])
    crossing = draw_crossing(crossing_rng, (0.0, ego.speed * duration))
    if crossing is not None:
        static, placed = clear_corridor(static, placed, crossing)
        static += side_street_buildings(crossing_rng, crossing, sides)
    found = tuple(Actor(thing.with_instance(i + 1), i + 1, *where) for i, (thing, where) in enumerate(placed))
    return Scene(seed, street_ground(sides, crossing), tuple(static), found, ego, crossing)


def _side(rng: np.random.Generator, sign: int) -> Side:
    lanes, lane_width = int(rng.choice([1, 2], p=[0.75, 0.25])), float(rng.uniform(3.2, 3.7))
    parking = bool(rng.random() < 0.45)
    kerb = lanes * lane_width + (2.3 if parking else 0.0)
    sidewalk_end = kerb + float(rng.uniform(1.8, 4.0))
    frontage = sidewalk_end + (0.0 if rng.random() < 0.3 else float(rng.uniform(1.0, 8.0)))
    ground = -0.02 * lanes * lane_width + float(rng.uniform(0.1, 0.18))
    green = bool(rng.random() < GREEN_SIDE_PROBABILITY)
    return Side(sign, lanes, lane_width, parking, kerb, sidewalk_end, ground, frontage, green)
