"""Closed-form ray tests of the simulator's primitives and ground, checked against hand-computed distances."""

import numpy as np
import pytest

from spot.runtime.sensors import SENSORS
from spot.sim.classes import LANE_MARKING, ROAD, SIDEWALK
from spot.sim.ground import Ground, GroundProfile
from spot.sim.raycast import SweepGeometry
from spot.sim.solids import Box, Cylinder, Ellipsoid, RayBlock, Surface, solid_hits


def _rays(elevation_deg, azimuth_deg) -> RayBlock:
    e = np.deg2rad(np.atleast_1d(np.asarray(elevation_deg, float)))[:, None]
    a = np.deg2rad(np.atleast_1d(np.asarray(azimuth_deg, float)))[None, :]
    return RayBlock(np.tan(e), np.cos(e), np.sin(e), np.cos(a), np.sin(a))


SURFACE = Surface(50)


def test_box_side_top_and_miss():
    box = Box(10.0, 0.0, 0.0, 1.0, 2.0, -2.0, -1.0, SURFACE)  # front face at x = 9, top at z = -1
    t, cos = solid_hits(box, _rays([-8.0, -5.5, 10.0], [0.0, 30.0]))
    assert t[0, 0] == pytest.approx(9.0) and cos[0, 0] == pytest.approx(np.cos(np.deg2rad(8)))
    assert t[1, 0] == pytest.approx(1.0 / np.tan(np.deg2rad(5.5)))  # over the front edge onto the roof
    assert cos[1, 0] == pytest.approx(np.sin(np.deg2rad(5.5)))
    assert np.isinf(t[2, 0]) and np.isinf(t[:, 1]).all()


def test_rotated_box_and_cylinder_entry_distances():
    box = Box(5.0, 5.0, 0.0, 1.0, 1.0, -5.0, 5.0, SURFACE)  # the 45 deg ray enters at the corner (4, 4)
    t, _ = solid_hits(box, _rays([0.0], [45.0]))
    assert t[0, 0] == pytest.approx(np.hypot(4, 4))
    turned = Box(5.0, 5.0, np.pi / 4, 1.0, 1.0, -5.0, 5.0, SURFACE)  # now a face is square to the ray
    t, cos = solid_hits(turned, _rays([0.0], [45.0]))
    assert t[0, 0] == pytest.approx(np.hypot(5, 5) - 1) and cos[0, 0] == pytest.approx(1.0)
    pole = Cylinder(0.0, 4.0, 0.5, -2.0, 5.0, SURFACE)
    t, cos = solid_hits(pole, _rays([0.0], [90.0]))
    assert t[0, 0] == pytest.approx(3.5) and cos[0, 0] == pytest.approx(1.0)


def test_ellipsoid_hit_along_its_axis_and_from_above():
    crown = Ellipsoid(8.0, 0.0, 0.0, 2.0, 1.0, SURFACE)
    t, cos = solid_hits(crown, _rays([0.0], [0.0]))
    assert t[0, 0] == pytest.approx(6.0) and cos[0, 0] == pytest.approx(1.0)
    below = Ellipsoid(10.0, 0.0, -3.0, 2.0, 1.0, SURFACE)  # top at z = -2 over x = 10
    t, _ = solid_hits(below, _rays([-np.rad2deg(np.arctan2(2.0, 10.0))], [0.0]))
    assert t[0, 0] == pytest.approx(10.0, abs=1e-3)


def test_box_voxel_overlap_is_exact_on_the_separating_axes():
    box = Box(0.0, 0.0, np.pi / 4, 1.0, 1.0, 0.0, 1.0, SURFACE)  # corners at (+-1.414, 0), (0, +-1.414)
    lo = np.array([[1.0, 1.0, 0.0], [0.6, 0.6, 0.0], [1.3, -0.1, 0.5], [0.0, 0.0, 1.01]])
    np.testing.assert_array_equal(box.overlaps(lo, lo + 0.2), [False, True, True, False])


def _street() -> Ground:
    # road at z = 0 for |y| < 5 with a dashed centre line, sidewalk 0.15 m up beyond
    return Ground((GroundProfile(np.array([-5.0, 5.0]), np.array([0.15, 0.0, 0.15]), np.zeros(3),
                                 np.array([SIDEWALK, ROAD, SIDEWALK]), np.array([[0.0, 0.1, 1.0]])),))  # fmt: skip


def test_ground_strips_curb_face_and_lane_marking():
    ground, origin = _street(), np.array([0.0, -2.0, 1.5])
    curb = -np.rad2deg(np.arctan2(1.4, 3.0))  # reaches y = -5 at z = 0.1, inside the curb's 0.15 m face
    rays = _rays([-20.0, curb, -7.0], [90.0, -90.0])
    hits = ground.cast(origin, 0.0, rays.tan_e, rays.cos_e, np.deg2rad([[90.0, -90.0]]))
    t_road = 1.5 / np.tan(np.deg2rad(20))
    assert hits.t[0, 0] == pytest.approx(t_road) and hits.label[0, 0] == ROAD
    assert hits.t[1, 1] == pytest.approx(3.0) and hits.label[1, 1] == SIDEWALK
    assert hits.cos_inc[1, 1] == pytest.approx(np.cos(np.deg2rad(curb)))
    assert hits.t[2, 1] == pytest.approx(1.35 / np.tan(np.deg2rad(7.0))) and hits.label[2, 1] == SIDEWALK
    steep = _rays([-89.9], [0.0])  # the dashed centre line right under a sensor at x = 1 (x mod 9 < 3 painted)
    for x, label in ((1.0, LANE_MARKING), (5.0, ROAD)):
        hits = ground.cast(np.array([x, 0.0, 1.5]), 0.0, steep.tan_e, steep.cos_e, np.zeros((1, 1)))
        assert hits.label[0, 0] == label


def test_sweep_columns_wrap_around_the_back():
    geometry = SweepGeometry.of(SENSORS["vlp16"])
    slices = geometry.column_slices(np.pi - 0.01, 0.05)
    covered = np.concatenate([geometry.azimuth[s] for s in slices])
    assert len(slices) == 2 and np.all(np.abs(np.angle(np.exp(1j * (covered - np.pi + 0.01)))) <= 0.05 + 0.004)
    assert geometry.ring.tolist() == list(range(16))
    assert SweepGeometry.of(SENSORS["os128"]).ring[0] == 127  # the lowest row is Ouster's last channel
