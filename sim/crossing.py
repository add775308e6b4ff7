"""A side street meeting the simulated street: a crossroads or a T-junction.

Residential blocks are ~80-150 m long and an HDL-64E sees the road ~50 m each way, so about half of the scans of
a city drive hold a junction. A model that never saw one learns that flat ground beyond the curb line is
sidewalk or parking, and reads a real side street's road as sidewalk (`docs/ARCHITECTURE.md`, simulator v4).

The side street runs along world y through `Crossing.x`. Its road continues the street's road surface beyond the
curb line, its sidewalks turn the corners (`street_ground`, which also lays the street's ground where no side
street crosses); the street's rows of buildings, fences, hedges,
trees and parked vehicles are cut where it passes (`clear_corridor`), and it has rows of buildings of its own
(`side_street_buildings`). Everything is drawn from a random stream of its own, so a scene without a crossing is
the scene of simulator v3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .classes import MOVING, PARKING, PERSON, ROAD, SIDEWALK, TERRAIN
from .ground import Ground, GroundProfile
from .population import Placement
from .solids import Box, Solid
from .streetscape import Side, XRange, buildings

CROSSING_PROBABILITY = 0.5
CROSSING_STREAM = 0xC4055  # the crossing's random stream: [scene seed, CROSSING_STREAM]
CROSSROADS_PROBABILITY = 0.6  # else a T-junction to one side
SIDE_STREET_CURB = 0.15  # metres: the side street's road lies this far below its sidewalks beyond the verge
MIN_PIECE = 0.3  # metres: a row's cut-off end shorter than this is dropped
SIDE_STREET_LENGTH = 120.0  # metres from the street's centre line that the side street's buildings reach


@dataclass(frozen=True)
class Crossing:
    """The side street: centre line at world `x`, road `half_width`, `sidewalk` width, its building line
    `setback` beyond the sidewalk, and the sides of the street it leaves to (`signs`: -1 right, +1 left)."""

    x: float
    half_width: float
    sidewalk: float
    setback: float
    signs: tuple[int, ...]

    @property
    def reach(self) -> float:
        """Half the width of its road and sidewalks together."""
        return self.half_width + self.sidewalk

    def crosses(self, y: float) -> bool:
        return int(np.sign(y)) in self.signs


def draw_crossing(rng: np.random.Generator, drive: XRange) -> Crossing | None:
    """A crossing within 40 m of the drive `drive` (the ego's x from first to last frame), or None."""
    if rng.random() >= CROSSING_PROBABILITY:
        return None
    x = float(rng.uniform(drive[0] - 40.0, drive[1] + 40.0))
    half_width, sidewalk = float(rng.uniform(3.0, 6.5)), float(rng.uniform(1.8, 4.0))
    setback = 0.0 if rng.random() < 0.3 else float(rng.uniform(1.0, 8.0))
    signs = (-1, 1) if rng.random() < CROSSROADS_PROBABILITY else (int(rng.choice([-1, 1])),)
    return Crossing(x, half_width, sidewalk, setback, signs)


Row = tuple[float, float, float, float, int]  # inner |y|, outer |y|, height at inner, slope outwards, raw label


def side_rows(side: Side) -> list[Row]:
    """The street's ground on one side, from the centre line outwards: cambered road, [parking], sidewalk,
    sloped terrain."""
    rows: list[Row] = [(0.0, side.road_half, 0.0, -0.02, ROAD)]
    if side.parking:
        rows.append((side.road_half, side.kerb, -0.02 * side.road_half, 0.0, PARKING))
    rows.append((side.kerb, side.sidewalk_end, side.ground, 0.0, SIDEWALK))
    rows.append((side.sidewalk_end, np.inf, side.ground + 0.05, 0.02, TERRAIN))
    return rows


def _corner_rows(side: Side) -> list[Row]:
    """Beside the side street: its sidewalk where the street's verge would be (the verge's plane, so the
    sidewalk meets the verge without a step)."""
    return [(inner, outer, z, slope, SIDEWALK if label == TERRAIN else label) for inner, outer, z, slope, label
            in side_rows(side)]  # fmt: skip


def _side_street_rows(side: Side) -> list[Row]:
    """On the side street: the street's road, then the side street's road level with the road's edge up to the
    sidewalk's end, then following the verge one curb below the corner sidewalks."""
    edge = -0.02 * side.road_half
    return [
        (0.0, side.road_half, 0.0, -0.02, ROAD),
        (side.road_half, side.sidewalk_end, edge, 0.0, ROAD),
        (side.sidewalk_end, np.inf, side.ground + 0.05 - SIDE_STREET_CURB, 0.02, ROAD),
    ]


def profile(rows_by_side: dict[int, list[Row]], markings: list[tuple[float, float, bool]]) -> GroundProfile:
    """The lateral profile from each side's rows (centre outwards), strips ordered from -y to +y."""
    planes = {}
    for sign, rows in rows_by_side.items():
        # z = height + slope * (|y| - inner) = (height - slope * inner) + (slope * sign) * y
        planes[sign] = [(outer, h - k * inner, k * sign, label) for inner, outer, h, k, label in rows]
    ordered = planes[-1][::-1] + planes[1]
    boundaries = [-row[0] for row in planes[-1][-2::-1]] + [0.0] + [row[0] for row in planes[1][:-1]]
    _, height, slope, label = (np.array(v) for v in zip(*ordered, strict=True))
    return GroundProfile(np.array(boundaries), height, slope, label.astype(np.int64), np.array(markings).reshape(-1, 3))


def lane_markings(sides: list[Side]) -> list[tuple[float, float, bool]]:
    """(y centre, half width, dashed): the dashed centre line, each side's edge line and lane dividers."""
    markings = [(0.0, 0.075, True)]
    for side in sides:
        markings.append((side.sign * (side.road_half - 0.25), 0.075, False))
        markings += [(side.sign * side.lane_width * k, 0.075, True) for k in range(1, side.lanes)]
    return markings


def street_ground(sides: list[Side], crossing: Crossing | None) -> Ground:
    """The ground along the street: one profile, or five where a side street crosses (street, corner
    sidewalks, side street, corner sidewalks, street); the lane markings stop at the side street."""
    markings = lane_markings(sides)
    street = profile({side.sign: side_rows(side) for side in sides}, markings)
    if crossing is None:
        return Ground((street,))

    def rows(side: Side, crossing_rows) -> list[Row]:
        return crossing_rows(side) if side.sign in crossing.signs else side_rows(side)

    corner = profile({side.sign: rows(side, _corner_rows) for side in sides}, markings)
    road = profile({side.sign: rows(side, _side_street_rows) for side in sides}, [])
    x, w, reach = crossing.x, crossing.half_width, crossing.reach
    return Ground((street, corner, road, corner, street), np.array([x - reach, x - w, x + w, x + reach]))


def clear_corridor(static: list[Solid], placed: list[Placement], crossing: Crossing,
                   margin: float = 0.5) -> tuple[list[Solid], list[Placement]]:  # fmt: skip
    """The street's static solids and standing things without what would stand on the side street or its
    sidewalks: rows along the street are cut at the corridor, anything else in it is dropped; vehicles driving
    along the street stay."""
    low, high = crossing.x - crossing.reach - margin, crossing.x + crossing.reach + margin
    kept: list[Solid] = []
    for solid in static:
        if not crossing.crosses(solid.y) or solid.x + solid.radius <= low or solid.x - solid.radius >= high:
            kept.append(solid)
        elif isinstance(solid, Box) and np.isclose(np.sin(solid.yaw), 0.0):
            kept += _outside(solid, low, high)
    pedestrians = (PERSON, MOVING[PERSON])

    def stays(placement: Placement) -> bool:
        thing, (*_, speed) = placement
        driving_along = speed != 0.0 and thing.label not in pedestrians
        return driving_along or not _in_corridor(placement, crossing, low, high)

    return kept, [placement for placement in placed if stays(placement)]


def _in_corridor(placement: Placement, crossing: Crossing, low: float, high: float) -> bool:
    thing, (x, y, *_rest) = placement
    return crossing.crosses(y) and low - thing.length / 2 < x < high + thing.length / 2


def _outside(box: Box, low: float, high: float) -> list[Box]:
    """The parts of an axis-aligned `box` (a building, fence, hedge along the street) outside x in (low, high)."""
    start, end = box.x - box.half_length, box.x + box.half_length
    pieces = [(start, min(end, low)), (max(start, high), end)]
    return [replace(box, x=(a + b) / 2, half_length=(b - a) / 2) for a, b in pieces if b - a >= MIN_PIECE]


def side_street_buildings(rng: np.random.Generator, crossing: Crossing, sides: list[Side]) -> list[Solid]:
    """Rows of blocks along both kerbs of the side street, from beyond the street's building line outwards,
    on the sides where the street has buildings (a green side stays open)."""
    solids: list[Solid] = []
    for side in sides:
        if side.sign not in crossing.signs or side.green:
            continue
        for kerb_side in (-1, 1):
            local = Side(kerb_side, 1, crossing.half_width, False, crossing.half_width, crossing.reach, side.ground,
                         crossing.reach + crossing.setback)  # fmt: skip
            along: XRange = (side.frontage + 1.0, SIDE_STREET_LENGTH)
            # the side street's own frame (x along it, away from the street) turned onto world y = sign * x
            cos, sin = 0.0, float(side.sign)
            solids += [s.moved(cos, sin, crossing.x, 0.0, 0.0) for s in buildings(rng, local, along)]
    return solids
