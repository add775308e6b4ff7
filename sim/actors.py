"""Things (instances with boxes): cars, trucks, buses, people, cyclists, bicycles, built from solids.

A `Thing` is described in its own frame (x forward, y left, z up from the ground it stands on, footprint centred
at the origin); every part lies inside its `length x width x height` box, so the ground-truth box encloses every
return of the instance. An `Actor` places a thing on a straight trajectory so it can move over a sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .classes import BICYCLE, BICYCLIST, BUS, CAR, MOVING, PERSON, REFLECTIVITY, TRUCK
from .solids import Box, Ellipsoid, Solid, Surface

PLATE_REFLECTIVITY, TYRE_REFLECTIVITY = 0.9, 0.05


@dataclass(frozen=True)
class Thing:
    label: int
    length: float
    width: float
    height: float
    parts: tuple[Solid, ...]

    def with_instance(self, instance: int) -> Thing:
        """The same thing whose parts carry `instance` (builders leave it 0 until the scene numbers things)."""
        parts = tuple(replace(p, surface=replace(p.surface, instance=instance)) for p in self.parts)
        return replace(self, parts=parts)


@dataclass(frozen=True)
class Actor:
    """A thing at `(x, y)` on ground height `z` with heading `yaw`, moving forward at `speed` m/s."""

    thing: Thing
    instance: int
    x: float
    y: float
    z: float
    yaw: float
    speed: float = 0.0

    def pose_at(self, time: float) -> tuple[float, float, float]:
        step = self.speed * time
        return self.x + step * np.cos(self.yaw), self.y + step * np.sin(self.yaw), self.yaw

    def solids_at(self, time: float) -> list[Solid]:
        x, y, yaw = self.pose_at(time)
        cos, sin = float(np.cos(yaw)), float(np.sin(yaw))
        return [part.moved(cos, sin, x, y, self.z) for part in self.thing.parts]

    def box_at(self, time: float) -> np.ndarray:
        """World box (7,) [x, y, z_center, length, width, height, yaw]."""
        x, y, yaw = self.pose_at(time)
        t = self.thing
        return np.array([x, y, self.z + t.height / 2, t.length, t.width, t.height, yaw])


def _box(x: float, y: float, length: float, width: float, z0: float, z1: float, surface: Surface) -> Box:
    return Box(x, y, 0.0, length / 2, width / 2, z0, z1, surface)


def _wheels(length: float, width: float, radius: float, axle: float, surface: Surface) -> list[Solid]:
    return [
        _box(sx * axle, sy * (width / 2 - 0.12), 2 * radius, 0.22, 0.0, 2 * radius, surface)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]


def car(rng: np.random.Generator, moving: bool) -> Thing:
    length, width, height = rng.uniform(3.7, 4.9), rng.uniform(1.65, 1.95), rng.uniform(1.4, 1.65)
    label = MOVING[CAR] if moving else CAR
    paint = Surface(label, 0, float(rng.uniform(0.0, 0.2)))
    glass = Surface(label, 0, 0.08, porosity=0.35, material="glass")
    belt = 0.62 * height
    parts = [
        _box(0.0, 0.0, length, width, 0.3, belt, paint),
        _box(-0.06 * length, 0.0, 0.55 * length, 0.9 * width, belt, height, glass),
        *_wheels(length, width, 0.32, 0.33 * length, Surface(label, 0, TYRE_REFLECTIVITY, material="rubber")),
        *(
            _box(
                s * (length / 2 - 0.01),
                0.0,
                0.02,
                0.5,
                0.4,
                0.52,
                Surface(label, 0, PLATE_REFLECTIVITY, material="plate"),
            )
            for s in (-1, 1)
        ),
    ]
    return Thing(label, length, width, height, tuple(parts))


def truck(rng: np.random.Generator, moving: bool) -> Thing:
    length, width, height = rng.uniform(6.5, 10.0), rng.uniform(2.3, 2.5), rng.uniform(3.0, 3.8)
    label = MOVING[TRUCK] if moving else TRUCK
    body = Surface(label, 0, REFLECTIVITY[TRUCK] * float(rng.uniform(0.6, 1.4)))
    cab = 2.2
    parts = [
        _box(length / 2 - cab / 2, 0.0, cab, width, 0.5, 0.8 * height, body),
        _box(-cab / 2, 0.0, length - cab - 0.2, width, 0.9, height, body),
        *_wheels(length, width, 0.5, 0.36 * length, Surface(label, 0, TYRE_REFLECTIVITY, material="rubber")),
    ]
    return Thing(label, length, width, height, tuple(parts))


def bus(rng: np.random.Generator, moving: bool) -> Thing:
    length, width, height = rng.uniform(10.5, 12.5), 2.55, rng.uniform(3.0, 3.3)
    label = MOVING[BUS] if moving else BUS
    parts = [
        _box(0.0, 0.0, length, width, 0.35, 0.45 * height, Surface(label, 0, REFLECTIVITY[BUS])),
        _box(0.0, 0.0, length, width, 0.45 * height, height, Surface(label, 0, 0.15, porosity=0.3, material="glass")),
        *_wheels(length, width, 0.5, 0.32 * length, Surface(label, 0, TYRE_REFLECTIVITY, material="rubber")),
    ]
    return Thing(label, length, width, height, tuple(parts))


def person(rng: np.random.Generator, moving: bool) -> Thing:
    height = rng.uniform(1.55, 1.9)
    label = MOVING[PERSON] if moving else PERSON
    cloth = Surface(label, 0, REFLECTIVITY[PERSON] * float(rng.uniform(0.6, 1.4)))
    parts = (
        _box(0.0, 0.0, 0.24, 0.34, 0.0, 0.47 * height, cloth),
        _box(0.0, 0.0, 0.26, 0.46, 0.47 * height, 0.82 * height, cloth),
        Ellipsoid(0.0, 0.0, 0.93 * height, 0.1, 0.07 * height, Surface(label, 0, 0.45, material="skin")),
    )
    return Thing(label, 0.6, 0.6, height, parts)


def cyclist(rng: np.random.Generator, moving: bool) -> Thing:
    """A rider on a bicycle: one instance, labelled bicyclist as SemanticKITTI does."""
    label = MOVING[BICYCLIST] if moving else BICYCLIST
    surface = Surface(label, 0, REFLECTIVITY[BICYCLIST] * float(rng.uniform(0.7, 1.3)))
    parts = (
        _box(0.0, 0.0, 1.7, 0.08, 0.0, 0.95, surface),
        _box(0.55, 0.0, 0.08, 0.56, 0.95, 1.05, surface),
        _box(-0.1, 0.0, 0.3, 0.34, 0.55, 1.1, surface),
        Box(0.05, 0.0, 0.0, 0.17, 0.21, 1.1, 1.55, surface),
        Ellipsoid(0.2, 0.0, 1.66, 0.11, 0.13, surface),
    )
    return Thing(label, 1.8, 0.6, 1.8, parts)


def bicycle(rng: np.random.Generator, moving: bool) -> Thing:
    surface = Surface(BICYCLE, 0, REFLECTIVITY[BICYCLE] * float(rng.uniform(0.6, 1.4)))
    parts = (_box(0.0, 0.0, 1.7, 0.06, 0.0, 1.0, surface), _box(0.55, 0.0, 0.08, 0.56, 0.95, 1.05, surface))
    return Thing(BICYCLE, 1.8, 0.6, 1.1, parts)
