"""What the LiDAR sees behind a surface: returns from inside foliage, and windows that swallow the beam or show
the room behind them.

Real foliage is a volume: a beam returns from some leaf within the crown, not from its hull, so a hedge or a
tree reads as a fuzzy layer tens of centimetres deep (SemanticKITTI's vegetation sits ~5 cm off a local plane
where a facade sits ~2 cm). Real facades are not planes either: a dark window gives no return (the glass
mirrors the beam away), a lit or curtained one returns from the room behind it. Both are deterministic
functions of where the beam meets the solid (cell hashes in the solid's own frame), like porosity, and apply to
LiDAR sweeps only: a camera sees the hull.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .patterns import cell_noise, hash_unit
from .solids import Box, Solid

FOLIAGE_CELL = 0.02  # metres: leaves; neighbouring beams return from unrelated depths
FOLIAGE_SALT, WINDOW_SALT = 0xF011, 0x3A1D
LONGEST_PENETRATION = 3.0  # the depth's exponential is cut at this many means
ROOM_DEPTH = (0.3, 4.0)  # metres behind the glass where a window's return comes from
ROOM_REFLECTIVITY = 0.6  # relative to the facade's: curtains, furniture, seen through glass


@dataclass(frozen=True, slots=True)
class Facade:
    """A grid of windows on every side face of a building block, in the face's own coordinates: `period`
    metres apart along the face, `width` wide; storeys `storey` high from `floor` (height above the box's
    bottom); each storey's window from `sill` to `sill + height` above its floor. A share `glass` of the
    windows returns nothing; the rest show the room behind. `seed` decorrelates buildings."""

    seed: int
    period: float
    width: float
    storey: float
    sill: float
    height: float
    glass: float
    floor: float = 0.0


def behind_surface(solid: Solid, points: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal distances (b, c) of the returns from the solid's hits at `points` (b, c, 3) and `t`, and the
    factor (b, c) on the surface's reflectivity (0: no return)."""
    surface = solid.surface
    if surface.penetration > 0:
        return _inside_foliage(solid, points, t), np.ones(t.shape)
    if surface.facade is not None and isinstance(solid, Box):
        return _through_windows(solid, surface.facade, points, t)
    return t, np.ones(t.shape)


def _inside_foliage(solid: Solid, points: np.ndarray, t: np.ndarray) -> np.ndarray:
    """A truncated exponential depth along the beam (mean `penetration`), kept inside the solid."""
    u = cell_noise(solid.local(points), FOLIAGE_CELL, FOLIAGE_SALT)
    depth = -solid.surface.penetration * np.log1p(-u * (1.0 - np.exp(-LONGEST_PENETRATION)))
    return _kept_inside(solid, points, t, t + depth)


def _through_windows(box: Box, facade: Facade, points: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    local = box.local(points)
    along, across, up = local[..., 0], local[..., 1], local[..., 2]
    on_end = np.abs(np.abs(along) - box.half_length) < np.abs(np.abs(across) - box.half_width)
    face = 2 * on_end + (np.where(on_end, along, across) > 0)  # which of the four sides
    position = np.where(on_end, across, along) + facade.period / 2
    column = np.floor(position / facade.period)
    storey = np.floor((up - facade.floor) / facade.storey)
    in_storey = up - facade.floor - storey * facade.storey
    window = (
        (storey >= 0)
        & (in_storey >= facade.sill)
        & (in_storey < facade.sill + facade.height)
        & (position - column * facade.period < facade.width)
        & (up < box.z_max - box.z_min - 0.3)
    )
    kind = hash_unit(column, storey * 4 + face, facade.seed, salt=WINDOW_SALT)
    glass = window & (kind < facade.glass)
    room = window & ~glass
    depth = ROOM_DEPTH[0] + (ROOM_DEPTH[1] - ROOM_DEPTH[0]) * (kind - facade.glass) / max(1.0 - facade.glass, 1e-9)
    deeper = _kept_inside(box, points, t, np.where(room, t + depth, t))
    glass |= room & (deeper == t)  # the room would lie outside the block: nothing comes back
    factor = np.where(glass, 0.0, np.where(room, ROOM_REFLECTIVITY, 1.0))
    return deeper, factor


def _kept_inside(solid: Solid, points: np.ndarray, t: np.ndarray, deeper: np.ndarray) -> np.ndarray:
    """`deeper` where the point that far along the beam still lies inside the solid, else `t`."""
    scale = np.divide(deeper, t, out=np.ones_like(t), where=t > 0)[..., None]
    moved = points * scale
    return np.where(solid.overlaps(moved, moved), deeper, t)
