"""Where the things of a scene stand and go: parked vehicles, lanes of traffic, cyclists, pedestrians.

Every vehicle of a lane drives at the lane's speed, so vehicles of one lane never run into each other; the ego
lane's traffic keeps a gap to the ego vehicle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import actors
from .actors import Thing
from .streetscape import Side, XRange

Placement = tuple[Thing, tuple[float, float, float, float, float]]  # thing, (x, y, z, yaw, speed)
Builder = Callable[[np.random.Generator, bool], Thing]

VEHICLES: dict[str, Builder] = {"car": actors.car, "truck": actors.truck, "bus": actors.bus}
VEHICLE_MIX = {"car": 0.97, "truck": 0.015, "bus": 0.015}  # SemanticKITTI: car 4.4 % of points, truck 0.2, bus 0.2


def _vehicle(rng: np.random.Generator, moving: bool) -> Thing:
    kind = rng.choice(list(VEHICLE_MIX), p=list(VEHICLE_MIX.values()))
    return VEHICLES[str(kind)](rng, moving)


def _road_z(y: float) -> float:
    return -0.02 * abs(y)


def _queue(rng, x_range: XRange, moving: bool, gap: tuple[float, float], skip: float):
    """Vehicles bumper to bumper along x with random gaps; yields (thing, x of its centre)."""
    x = x_range[0]
    while x < x_range[1]:
        thing = _vehicle(rng, moving)
        if rng.random() >= skip:
            yield thing, x + thing.length / 2
        x += thing.length + float(rng.uniform(*gap))


def parked(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Placement]:
    """Parked vehicles in the parking strip, or in the outer lane of a two-lane side, plus a few bicycles."""
    if not side.parking and side.lanes < 2:
        return []
    y = side.sign * ((side.kerb - 1.2) if side.parking else (side.road_half - side.lane_width / 2))
    placed: list[Placement] = []
    for thing, x in _queue(rng, x_range, False, (0.6, 6.0), skip=0.45):
        yaw = (0.0 if rng.random() < 0.7 else np.pi) + float(rng.normal(0, 0.03))
        placed.append((thing, (x, y + float(rng.normal(0, 0.1)), _road_z(y), yaw, 0.0)))
    for _ in range(int(rng.integers(0, 3))):
        thing = actors.bicycle(rng, False)
        x, y_bike = float(rng.uniform(*x_range)), side.sign * (side.kerb + 0.4)
        placed.append((thing, (x, y_bike, side.ground, side.sign * np.pi / 2 + float(rng.normal(0, 0.1)), 0.0)))
    return placed


def traffic(rng, side: Side, x_range: XRange, ego, duration: float) -> list[Placement]:
    """Moving vehicles in each free lane of the side (towards +x on the right side), and cyclists at the edge."""
    heading = 0.0 if side.sign < 0 else np.pi
    free_lanes = side.lanes - (0 if side.parking or side.lanes < 2 else 1)
    placed: list[Placement] = []
    for lane in range(free_lanes):
        y = side.sign * side.lane_width * (lane + 0.5)
        in_ego_lane = abs(y - ego.y) < 0.5
        speed = ego.speed if in_ego_lane else float(rng.uniform(4.0, 14.0))
        for thing, x in _queue(rng, x_range, True, (8.0, 40.0), skip=0.5):
            if in_ego_lane and abs(x) < thing.length / 2 + 8.0:
                continue
            start = x - (speed * duration / 2 if not in_ego_lane else 0.0) * np.cos(heading)
            placed.append((thing, (start, y, _road_z(y), heading, speed)))
    y_bike = side.sign * (side.road_half - 0.45 - (0 if free_lanes == side.lanes else side.lane_width))
    for _ in range(int(rng.integers(0, 3))):
        thing = actors.cyclist(rng, True)
        x = float(rng.uniform(-40.0, 40.0 + ego.speed * duration))
        placed.append((thing, (x, y_bike, _road_z(y_bike), heading, float(rng.uniform(3.0, 7.0)))))
    return placed


def people(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Placement]:
    """Pedestrians on the sidewalk, most walking along it, some standing."""
    placed: list[Placement] = []
    near = (x_range[0] + 80.0, x_range[1] - 80.0)  # around the drive
    for _ in range(int(rng.integers(3, 12))):
        walking = bool(rng.random() < 0.7)
        thing = actors.person(rng, walking)
        y = side.sign * float(rng.uniform(side.kerb + 0.5, side.sidewalk_end - 0.4))
        yaw = (0.0 if rng.random() < 0.5 else np.pi) if walking else float(rng.uniform(-np.pi, np.pi))
        speed = float(rng.uniform(0.8, 1.6)) if walking else 0.0
        placed.append((thing, (float(rng.uniform(*near)), y, side.ground, yaw, speed)))
    return placed
