"""Shipped label maps: three label sets over the simulator's raw ids, and nuScenes-lidarseg's 32 -> 16 classes."""

from __future__ import annotations

import numpy as np
import pytest

from spot.runtime import IGNORE_INDEX
from spot.runtime.io.label_maps import LABEL_MAPS, grouped_label_map, named_label_map
from spot.sim import SimulatedSequence
from spot.sim.classes import MOVING, REFLECTIVITY

SIMULATED_RAW_IDS = sorted({*REFLECTIVITY, *MOVING.values()})  # every raw id the simulator labels points with
SIM_MAPS = ("semantickitti", "semantickitti_nuscenes16", "semantickitti_waymo22")


@pytest.mark.parametrize(("name", "count"), [*zip(SIM_MAPS, (19, 16, 22), strict=True), ("nuscenes16", 16)])
def test_label_set_sizes(name, count):
    assert len(named_label_map(name).class_names) == count


@pytest.mark.parametrize("name", SIM_MAPS)
def test_every_simulated_raw_id_has_a_class(name):
    classes = named_label_map(name)(np.array(SIMULATED_RAW_IDS))
    assert (classes != IGNORE_INDEX).all(), dict(zip(SIMULATED_RAW_IDS, classes, strict=True))


def test_granularity_differs_across_the_three_label_sets():
    kitti, nusc, waymo = (named_label_map(name) for name in SIM_MAPS)

    def names(label_map, raw):
        return [label_map.class_names[c] for c in label_map(np.array(raw))]

    road, parking, lane, building, fence, pole, sign, trunk, cyclist, bus = 40, 44, 60, 50, 51, 80, 81, 71, 31, 13
    assert names(nusc, [road, parking, lane]) == ["driveable_surface"] * 3
    assert names(kitti, [road, parking, lane]) == ["road", "parking", "road"]
    assert names(waymo, [road, parking, lane]) == ["road", "road", "lane_marker"]
    assert names(nusc, [building, fence, pole, sign]) == ["manmade"] * 4
    assert names(waymo, [building, fence, pole, sign]) == ["building", "building", "pole", "sign"]
    assert names(nusc, [trunk, cyclist, bus]) == ["vegetation", "bicycle", "bus"]
    assert names(kitti, [trunk, cyclist, bus]) == ["trunk", "bicyclist", "other-vehicle"]
    assert names(waymo, [trunk, cyclist, bus]) == ["tree_trunk", "bicyclist", "bus"]


def test_a_simulated_frame_counts_add_up_under_the_coarse_map():
    """Per-class point counts under nuscenes16 are the sums of the SemanticKITTI classes merged into them."""
    sample, truth = SimulatedSequence("vlp16", frames=1, seed=3, horizontal_resolution_deg=0.8).frame(0)
    kitti, nusc = named_label_map("semantickitti"), named_label_map("semantickitti_nuscenes16")
    kitti_counts = dict(zip(kitti.class_names, np.bincount(kitti(truth.raw_labels), minlength=19), strict=True))
    nusc_counts = dict(zip(nusc.class_names, np.bincount(nusc(truth.raw_labels), minlength=16), strict=True))
    assert np.array_equal(sample.labels, kitti(truth.raw_labels))
    assert nusc_counts["driveable_surface"] == kitti_counts["road"] + kitti_counts["parking"] > 0
    assert nusc_counts["manmade"] == sum(kitti_counts[c] for c in ("building", "fence", "pole", "traffic-sign")) > 0
    assert nusc_counts["vegetation"] == kitti_counts["vegetation"] + kitti_counts["trunk"]
    assert nusc_counts["bicycle"] == kitti_counts["bicycle"] + kitti_counts["bicyclist"]
    assert sum(nusc_counts.values()) == len(truth.raw_labels)


def test_nuscenes_lidarseg_categories_to_the_16_classes():
    nusc = named_label_map("nuscenes16")
    classes = nusc(np.arange(32))
    assert np.flatnonzero(classes == IGNORE_INDEX).tolist() == [0, 1, 5, 7, 8, 10, 11, 13, 19, 20, 29, 31]
    assert [nusc.class_names[c] for c in classes[[2, 3, 4, 6, 15, 16, 24, 28, 30]]] == [
        "pedestrian", "pedestrian", "pedestrian", "pedestrian", "bus", "bus", "driveable_surface", "manmade",
        "vegetation",
    ]  # fmt: skip


def test_grouped_label_map_refuses_unknown_classes():
    with pytest.raises(ValueError, match=r"\['lorry'\]"):
        grouped_label_map(("car",), {"lorry": (18,)}, "semantickitti")
    assert set(LABEL_MAPS) >= {*SIM_MAPS, "nuscenes16"}
