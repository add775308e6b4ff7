"""The static street: buildings with gaps closed by fences or hedges, front gardens, green belts, trees, bushes,
street lights and signs."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .classes import BUILDING, FENCE, POLE, REFLECTIVITY, TRAFFIC_SIGN, TRUNK, VEGETATION
from .relief import Facade
from .solids import Box, Cylinder, Ellipsoid, Solid, Surface

XRange = tuple[float, float]


@dataclass(frozen=True)
class Side:
    """One side of the street (`sign` -1 = right, +1 = left); distances are |y| from the centre line, metres."""

    sign: int
    lanes: int
    lane_width: float
    parking: bool
    kerb: float  # the curb
    sidewalk_end: float  # where terrain starts
    ground: float  # sidewalk height
    frontage: float  # the building line
    green: bool = False  # no buildings: a belt of trees, bushes and hedges behind the sidewalk

    @property
    def road_half(self) -> float:
        return self.lanes * self.lane_width


FOLIAGE_PENETRATION = 0.15  # metres: the mean depth inside a crown or hedge that a beam returns from
WINDOWLESS = 0.15  # share of blocks without windows (garages, warehouses, blank walls)


def _surface(label: int, rng: np.random.Generator, porosity: float = 0.0) -> Surface:
    penetration = FOLIAGE_PENETRATION if label == VEGETATION else 0.0
    return Surface(label, 0, REFLECTIVITY[label] * float(rng.uniform(0.75, 1.25)), porosity, penetration=penetration)


def _facade_surface(rng: np.random.Generator, floor: float) -> Surface:
    """A building's surface with its windows (`spot.sim.relief.Facade`): storeys of 2.8-3.4 m, windows
    1.1-1.7 m tall 2.2-4 m apart, a third to two thirds of them dark."""
    surface = _surface(BUILDING, rng)
    if rng.random() < WINDOWLESS:
        return surface
    period = float(rng.uniform(2.2, 4.0))
    facade = Facade(int(rng.integers(2**31)), period, period * float(rng.uniform(0.35, 0.6)),
                    float(rng.uniform(2.8, 3.4)), float(rng.uniform(0.7, 1.0)), float(rng.uniform(1.1, 1.7)),
                    float(rng.uniform(0.33, 0.67)), floor)  # fmt: skip
    return replace(surface, facade=facade)


def _along(rng: np.random.Generator, x_range: XRange, gap: tuple[float, float]):
    """Positions along the street separated by uniform gaps."""
    x = x_range[0] + float(rng.uniform(0, gap[1]))
    while x < x_range[1]:
        yield x
        x += float(rng.uniform(*gap))


def buildings(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Solid]:
    """A row of blocks on the building line; gaps are closed by a fence, a hedge, or left open."""
    solids: list[Solid] = []
    x, z0 = x_range[0], side.ground
    while x < x_range[1]:
        length, depth, height = rng.uniform(8, 30), rng.uniform(8, 16), rng.uniform(3.5, 14)
        y = side.sign * (side.frontage + depth / 2)
        solids.append(
            Box(x + length / 2, y, 0.0, length / 2, depth / 2, z0 - 0.5, z0 + height, _facade_surface(rng, 0.5))
        )
        if rng.random() < 0.4:  # a taller or lower wing at the back
            solids.append(
                Box(
                    x + length / 2,
                    y + side.sign * depth / 4,
                    0.0,
                    length / 3,
                    depth / 4,
                    z0,
                    z0 + height * rng.uniform(0.6, 1.5),
                    _facade_surface(rng, 0.0),
                )
            )
        x += length
        gap = float(rng.uniform(2, 12)) if rng.random() < 0.6 else 0.0
        if gap > 0:
            solids += _gap_closure(rng, side, x, gap)
        x += gap
    if side.frontage - side.sidewalk_end > 1.5:
        solids += _front_gardens(rng, side, x_range)
    return solids


def _gap_closure(rng: np.random.Generator, side: Side, x: float, gap: float) -> list[Solid]:
    y, z0, kind = side.sign * (side.frontage + 0.05), side.ground, rng.choice(["fence", "hedge", "open"])
    if kind == "fence":
        porosity = 0.45 if rng.random() < 0.5 else 0.0  # chain link or solid wall
        return [_strip(x, y, gap, 0.1, z0, rng.uniform(1.0, 2.2), _surface(FENCE, rng, porosity))]
    if kind == "hedge":
        return [_strip(x, y + side.sign * 0.5, gap, 1.0, z0, rng.uniform(1.0, 2.5), _surface(VEGETATION, rng, 0.25))]
    return _tree_parts(rng, x + gap / 2, side.sign * (side.frontage + rng.uniform(2, 6)), z0)


def _strip(x: float, y: float, length: float, thickness: float, z0: float, height: float, surface: Surface) -> Box:
    """A hedge, fence or wall running along the street from `x`, centred on `y`."""
    return Box(x + length / 2, y, 0.0, length / 2, thickness / 2, z0, z0 + height, surface)


def _front_gardens(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Solid]:
    """Hedges, fences and bushes along the sidewalk's outer edge, in front of set-back buildings (mostly closed,
    as garden fronts are), and bushes in the gardens behind them."""
    solids: list[Solid] = []
    y, z0 = side.sign * (side.sidewalk_end + 0.6), side.ground
    for x in _along(rng, x_range, (1.0, 8.0)):
        length, roll = float(rng.uniform(4, 18)), rng.random()
        if roll < 0.45:
            solids.append(_strip(x, y, length, 0.9, z0, rng.uniform(0.8, 2.2), _surface(VEGETATION, rng, 0.25)))
        elif roll < 0.8:
            solids.append(_strip(x, y, length, 0.08, z0, rng.uniform(0.8, 1.8), _surface(FENCE, rng, 0.3)))
        else:
            solids.append(_bush(rng, x, y, z0, side.sign))
    depth = side.frontage - side.sidewalk_end
    for x in _along(rng, x_range, (3.0, 9.0)):
        inside = side.sign * (side.sidewalk_end + float(rng.uniform(1.5, max(depth - 1.0, 1.6))))
        solids.append(_bush(rng, x, inside, z0, side.sign))
    return solids


def _bush(rng: np.random.Generator, x: float, y: float, z0: float, sign: int) -> Ellipsoid:
    radius = float(rng.uniform(0.5, 1.6))
    return Ellipsoid(x, y + sign * radius, z0 + radius * 0.6, radius, radius * 0.8, _surface(VEGETATION, rng, 0.3))


def green_belt(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Solid]:
    """A side without buildings: a fence or hedge along the sidewalk on some streets, then 2-15 m of
    undergrowth and trees (a park, a field edge, a wood)."""
    solids: list[Solid] = []
    y, z0 = side.sign * (side.sidewalk_end + 0.6), side.ground
    edge = rng.choice(["fence", "hedge", "open"], p=[0.35, 0.35, 0.3])
    if edge != "open":
        label, thickness, porosity = (FENCE, 0.08, 0.45) if edge == "fence" else (VEGETATION, 0.9, 0.25)
        height = float(rng.uniform(1.0, 2.0))
        solids.append(_strip(x_range[0], y, x_range[1] - x_range[0], thickness, z0, height,
                             _surface(label, rng, porosity)))  # fmt: skip
    depth = float(rng.uniform(2.0, 15.0))
    for x in _along(rng, x_range, (1.5, 6.0)):
        inside = side.sign * (side.sidewalk_end + 1.5 + float(rng.uniform(0.0, depth)))
        solids += _tree_parts(rng, x, inside, z0) if rng.random() < 0.4 else [_bush(rng, x, inside, z0, side.sign)]
    return solids


def _tree_parts(rng: np.random.Generator, x: float, y: float, z0: float) -> list[Solid]:
    trunk_height, radius = float(rng.uniform(1.8, 3.5)), float(rng.uniform(1.5, 3.5))
    half_height = radius * float(rng.uniform(0.8, 1.3))
    return [
        Cylinder(x, y, float(rng.uniform(0.12, 0.3)), z0 - 0.2, z0 + trunk_height + half_height, _surface(TRUNK, rng)),
        Ellipsoid(x, y, z0 + trunk_height + half_height * 0.9, radius, half_height, _surface(VEGETATION, rng, 0.4)),
    ]


def trees(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Solid]:
    """An avenue of trees in the sidewalk's curb-side tree pits (on most streets) or on the verge."""
    if rng.random() < 0.15:
        return []
    y = side.sign * (side.kerb + 0.8 if rng.random() < 0.5 else side.sidewalk_end + 1.2)
    solids: list[Solid] = []
    for x in _along(rng, x_range, (6.0, 16.0)):
        solids += _tree_parts(rng, x, y + side.sign * float(rng.uniform(-0.2, 0.2)), side.ground)
    return solids


def street_furniture(rng: np.random.Generator, side: Side, x_range: XRange) -> list[Solid]:
    """Street lights (pole with an arm over the road) and traffic signs (post + plate) near the curb."""
    solids: list[Solid] = []
    y = side.sign * (side.kerb + 0.5)
    for x in _along(rng, x_range, (20.0, 35.0)):
        height = float(rng.uniform(6, 9))
        solids.append(Cylinder(x, y, 0.1, side.ground, side.ground + height, _surface(POLE, rng)))
        solids.append(
            Box(
                x,
                y - side.sign * 0.9,
                0.0,
                0.08,
                0.9,
                side.ground + height - 0.2,
                side.ground + height,
                _surface(POLE, rng),
            )
        )
    for x in _along(rng, x_range, (25.0, 70.0)):
        top = side.ground + float(rng.uniform(2.2, 2.8))
        solids.append(Cylinder(x, y + side.sign * 0.3, 0.04, side.ground, top, _surface(POLE, rng)))
        solids.append(
            Box(x + 0.05, y + side.sign * 0.3, 0.0, 0.02, 0.32, top - 0.6, top + 0.05, _surface(TRAFFIC_SIGN, rng))
        )
    return solids
