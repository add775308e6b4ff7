"""What the LiDAR sees behind surfaces (`spot.sim.relief`): foliage depth and windows, LiDAR only."""

import numpy as np
import pytest

from spot.sim.classes import BUILDING, VEGETATION
from spot.sim.raycast import RangeImage, SweepGeometry, draw_solids
from spot.sim.relief import ROOM_DEPTH, Facade
from spot.sim.solids import Box, Ellipsoid, Surface

GRID = SweepGeometry(np.deg2rad(np.linspace(-10, 25, 240)), np.arange(240), np.deg2rad(np.linspace(-30, 30, 600)))


def _image(solids, lidar):
    shape = GRID.shape
    image = RangeImage(np.full(shape, np.inf), np.zeros(shape, np.int32), np.zeros(shape, np.int32),
                       np.zeros(shape), np.zeros(shape), np.full(shape, -1, np.int32))  # fmt: skip
    draw_solids(image, GRID, solids, 100.0, lidar=lidar)
    return image


def test_foliage_returns_come_from_inside_the_crown_and_only_for_the_lidar():
    crown = Ellipsoid(10.0, 0.0, 1.0, 2.0, 1.5, Surface(VEGETATION, penetration=0.15))
    hull, lidar = _image([crown], lidar=False), _image([crown], lidar=True)
    hit = np.isfinite(hull.t)
    assert hit.sum() > 2000 and (np.isfinite(lidar.t) == hit).all()
    depth = lidar.t[hit] - hull.t[hit]
    assert (depth >= 0).all() and 0.08 < depth.mean() < 0.2 and depth.max() > 0.3
    e, a = np.tan(GRID.elevation)[:, None], GRID.azimuth[None, :]
    t = np.where(hit, lidar.t, 0.0)
    points = np.stack(np.broadcast_arrays(t * np.cos(a), t * np.sin(a), t * e), axis=-1)[hit][depth > 0]
    assert (depth > 0).mean() > 0.9 and crown.overlaps(points, points).all()  # the returns lie within the crown


FACADE = Facade(seed=7, period=3.0, width=1.5, storey=3.0, sill=1.0, height=1.5, glass=0.5, floor=0.5)


def test_windows_swallow_beams_or_show_the_room_behind():
    wall = Box(20.0, 0.0, 0.0, 4.0, 40.0, -2.2, 12.0, Surface(BUILDING, reflectivity=0.3, facade=FACADE))
    hull, lidar = _image([wall], lidar=False), _image([wall], lidar=True)
    hit = np.isfinite(hull.t)
    assert (np.isfinite(lidar.t) == hit).all() and (hull.reflectivity[hit] == 0.3).all()
    depth, reflectivity = lidar.t[hit] - hull.t[hit], lidar.reflectivity[hit]
    glass, room = reflectivity == 0, depth > 0
    assert (depth[glass] == 0).all() and not (glass & room).any()
    assert ((depth[room] >= ROOM_DEPTH[0] - 1e-9) & (depth[room] <= ROOM_DEPTH[1] + 1e-9)).all()
    assert reflectivity[room] == pytest.approx(0.6 * 0.3)
    # Windows take width / period of each storey's sill band, about half of them dark.
    windows = (glass | room).mean()
    assert 0.1 < windows < 0.35 and 0.25 < glass.sum() / (glass | room).sum() < 0.75
    z = np.tan(GRID.elevation)[:, None] * hull.t
    assert not (glass | room)[(z < 1.0 - 2.2)[hit]].any()  # none below the first storey's sill (z_min + 0.5 + 1)
