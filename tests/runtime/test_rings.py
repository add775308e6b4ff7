import numpy as np
import pytest

from spot.runtime import Scan, SpotInputError
from spot.runtime.io import read_sample
from spot.runtime.rings import estimate_rings, fit_beams, ring_count


def _spinning_scan(elevations_deg, origin_z=0.0, columns=900, seed=0):
    """Points of an ideal spinning LiDAR at varied ranges; ring = beam index from the lowest."""
    rng = np.random.default_rng(seed)
    beams = np.repeat(np.arange(len(elevations_deg)), columns)
    azimuth = np.tile(np.linspace(-np.pi, np.pi, columns, endpoint=False), len(elevations_deg))
    elevation = np.deg2rad(np.asarray(elevations_deg))[beams] + rng.normal(0, np.deg2rad(0.01), beams.size)
    distance = rng.uniform(3, 60, beams.size)
    xyz = np.column_stack(
        [
            distance * np.cos(elevation) * np.cos(azimuth),
            distance * np.cos(elevation) * np.sin(azimuth),
            distance * np.sin(elevation) + origin_z,
        ]
    )
    return xyz, beams


@pytest.mark.parametrize("beams", [16, 32, 64])
def test_uniform_layouts_recover_every_beam(beams):
    xyz, truth = _spinning_scan(np.linspace(-25, 3, beams), origin_z=0.2)
    fit = fit_beams(xyz)
    assert fit.beams == beams
    assert fit.origin_z == pytest.approx(0.2, abs=0.021)
    assert (estimate_rings(xyz) == truth).mean() > 0.99


def test_non_uniform_layout_with_dense_centre():
    elevations = np.concatenate([np.linspace(-25, -6, 20), np.linspace(-5.8, 2, 60), np.linspace(2.5, 15, 20)])
    xyz, truth = _spinning_scan(elevations, columns=600)
    assert fit_beams(xyz).beams == 100
    assert (estimate_rings(xyz) == truth).mean() > 0.98


def test_ring_count_prefers_the_ring_column():
    xyz, truth = _spinning_scan(np.linspace(-10, 10, 8), columns=50)
    points = np.column_stack([xyz, np.zeros(len(xyz)), truth]).astype(np.float32)
    assert ring_count(Scan(points, ("x", "y", "z", "intensity", "ring"))) == 8
    assert ring_count(Scan(points[:, :4], ("x", "y", "z", "intensity"))) == 8


def test_too_few_points():
    with pytest.raises(SpotInputError, match="cannot estimate rings from 1 point"):
        fit_beams(np.array([[10.0, 0, 0], [0.1, 0, 0]]))


@pytest.mark.realdata
@pytest.mark.parametrize("frame", ["000000", "000001", "000002"])
def test_kitti_hdl64_has_about_64_rings(lidar_data, frame):
    scan = read_sample(lidar_data / f"kitti_object/training/velodyne/{frame}.bin").scan
    assert 62 <= ring_count(scan) <= 67


@pytest.mark.realdata
def test_nuscenes_hdl32_rings_match_the_ring_column(lidar_data):
    scan = read_sample(lidar_data / "nuscenes/n015-2018-07-24-11-22-45+0800__LIDAR_TOP__1532402927647951.pcd.bin").scan
    fit = fit_beams(scan.xyz)
    assert fit.beams == 32
    beyond_ego = np.linalg.norm(scan.xyz, axis=1) > 2.0
    agreement = (fit.assign(scan.xyz) == scan.column("ring"))[beyond_ego].mean()
    assert agreement > 0.85  # the rest: low beams smeared by ego-motion compensation


@pytest.mark.realdata
def test_ouster_rows_are_recovered_exactly(lidar_data):
    scan = read_sample(lidar_data / "ouster/OS-1-128_v2.3.0_1024x10_lb_n3.decoded.npz").scan
    fit = fit_beams(scan.xyz)
    assert fit.beams == 128
    np.testing.assert_array_equal(fit.assign(scan.xyz), 127 - scan.column("ring"))  # rows count from the top
