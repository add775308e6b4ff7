"""A side street crossing the simulated street: its ground in closed form, the street's rows cut where it passes,
and its road seen as road in the simulated scans."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import spot.sim.scene as scene_module
from spot.sim.actors import car, person
from spot.sim.classes import BUILDING, ROAD, SIDEWALK, TERRAIN
from spot.sim.crossing import SIDE_STREET_CURB, Crossing, clear_corridor, street_ground
from spot.sim.ground import CROSS_CURB, PLANE
from spot.sim.scene import generate_scene
from spot.sim.sequence import SimulatedSequence
from spot.sim.solids import Box, Surface
from spot.sim.streetscape import Side

# one lane a side, no parking: road |y| < 3.5, sidewalk 3.5-6 m at 0.1 m, verge beyond rising 2 % from 0.15 m
SIDES = [Side(sign, 1, 3.5, False, 3.5, 6.0, 0.1, 9.0) for sign in (-1, 1)]
CROSSING = Crossing(x=20.0, half_width=4.0, sidewalk=2.5, setback=2.0, signs=(-1, 1))
Y = 15.0  # on the side street, beyond the street's sidewalk
VERGE = 0.1 + 0.05 + 0.02 * (Y - 6.0)  # the verge's height at Y, which the corner sidewalks follow


def straight_down(ground, x: float, y: float):
    steep = np.tan(np.deg2rad([[-89.99]])), np.cos(np.deg2rad([[-89.99]]))
    return ground.cast(np.array([x, y, 2.0]), 0.0, *steep, np.zeros((1, 1)))


@pytest.mark.parametrize(
    ("x", "label", "height"),
    [
        (20.0, ROAD, VERGE - SIDE_STREET_CURB),  # the side street's road, one curb below its sidewalks
        (25.0, SIDEWALK, VERGE),  # its sidewalk, where the street's verge would be
        (30.0, TERRAIN, VERGE),  # past it: the street's verge
    ],
)
def test_the_side_street_road_and_its_corner_sidewalks_replace_the_verge(x, label, height):
    hits = straight_down(street_ground(SIDES, CROSSING), x, Y)
    assert hits.label[0, 0] == label and hits.face[0, 0] == PLANE
    assert 2.0 - hits.t[0, 0] * np.tan(np.deg2rad(89.99)) == pytest.approx(height, abs=1e-6)


def test_a_ray_along_the_side_street_meets_the_corner_curb_face():
    ground = street_ground(SIDES, CROSSING)
    origin, target_z = np.array([20.0, Y, 1.5]), VERGE - SIDE_STREET_CURB / 2  # halfway up the curb at x = 24
    tan_e = np.array([[(target_z - origin[2]) / 4.0]])
    cos_e = 1 / np.sqrt(1 + tan_e**2)
    hits = ground.cast(origin, 0.0, tan_e, cos_e, np.zeros((1, 1)))  # heading +x, along world x
    assert hits.t[0, 0] == pytest.approx(4.0) and hits.face[0, 0] == CROSS_CURB and hits.label[0, 0] == SIDEWALK
    assert hits.cos_inc[0, 0] == pytest.approx(cos_e[0, 0])
    normal = ground.normal(hits.segment, hits.strip, hits.face, np.zeros((1, 1)))
    np.testing.assert_allclose(normal[0, 0], [-1.0, 0.0, 0.0])


def test_a_t_junction_leaves_the_other_side_of_the_street_as_it_was():
    ground = street_ground(SIDES, dataclasses.replace(CROSSING, signs=(1,)))
    assert straight_down(ground, 20.0, Y).label[0, 0] == ROAD
    assert straight_down(ground, 20.0, -Y).label[0, 0] == TERRAIN
    assert straight_down(ground, 20.0, -5.0).label[0, 0] == SIDEWALK


def test_the_highest_ground_of_a_column_spanning_the_corner_is_the_sidewalk():
    ground = street_ground(SIDES, CROSSING)
    top, label = ground.column_top(np.array([23.0]), np.array([25.0]), np.array([Y]), np.array([Y]))
    assert top[0] == pytest.approx(VERGE) and label[0] == SIDEWALK


def test_the_streets_rows_are_cut_at_the_side_street_and_only_standing_things_leave_it():
    surface = Surface(BUILDING, 0, 0.3)
    block = Box(20.0, 12.0, 0.0, 15.0, 4.0, 0.0, 10.0, surface)  # x 5-35, across the corridor (13.5-26.5)
    other_side = dataclasses.replace(block, y=-12.0)
    rng = np.random.default_rng(0)
    parked, driving, walker = car(rng, False), car(rng, True), person(rng, True)
    placed = [(parked, (21.0, 2.0, 0.0, 0.0, 0.0)), (driving, (21.0, 2.0, 0.0, np.pi, 8.0)),
              (walker, (21.0, 4.5, 0.1, 0.0, 1.2)), (parked, (40.0, 2.0, 0.0, 0.0, 0.0))]  # fmt: skip
    kept, stay = clear_corridor([block, other_side], placed, dataclasses.replace(CROSSING, signs=(1,)), margin=0.5)
    pieces = sorted((b.x - b.half_length, b.x + b.half_length) for b in kept if b.y > 0)
    np.testing.assert_allclose(pieces, [(5.0, 13.0), (27.0, 35.0)])
    assert other_side in kept
    assert stay == [placed[1], placed[3]]


def test_half_the_scenes_have_a_crossing_drawn_from_a_stream_of_its_own(monkeypatch):
    crossings = [generate_scene(seed, 0.8).crossing for seed in range(40)]
    assert 12 <= sum(c is not None for c in crossings) <= 28
    seed = next(i for i, c in enumerate(crossings) if c is not None)
    with_crossing = generate_scene(seed, 0.8)
    monkeypatch.setattr(scene_module, "draw_crossing", lambda rng, drive: None)
    without = generate_scene(seed, 0.8)
    # the street is drawn as before: every thing left standing is one of the scene without a crossing
    assert len(with_crossing.actors) < len(without.actors) or len(with_crossing.static) != len(without.static)
    placements = {(a.thing.label, a.x, a.y) for a in without.actors}
    assert all((a.thing.label, a.x, a.y) in placements for a in with_crossing.actors)
    assert len(with_crossing.ground.profiles) == 5 and len(without.ground.profiles) == 1


def test_the_side_street_is_scanned_as_road_beyond_the_streets_curbs():
    seed = next(s for s in range(100) if (c := generate_scene(s, 0.1).crossing) and abs(c.x) < 25 and len(c.signs) == 2)
    sample, _ = SimulatedSequence("hdl64", frames=1, seed=seed).frame(0)
    crossing, sides_kerb = generate_scene(seed, 0.1).crossing, 15.0  # beyond any street's sidewalk
    world = sample.scan.xyz @ sample.pose[:3, :3].T + sample.pose[:3, 3]
    beyond = (np.abs(world[:, 1]) > sides_kerb) & (np.abs(world[:, 0] - crossing.x) < crossing.half_width - 0.5)
    road = sample.class_names.index("road")
    assert beyond.sum() > 200 and (sample.labels[beyond] == road).mean() > 0.9
