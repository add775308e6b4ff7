import numpy as np
import pytest

from spot.runtime import Sample, Scan
from spot.trainer.augment import BeamResample, BeamResampleConfig, downsample_beams, upsample_beams


def _wall_scan(ring_ranges, bins=360, ring_ids=None):
    """Rings 1 degree apart (elevation -4..+3), each a full circle of points at its own range."""
    elevations = np.deg2rad(np.arange(len(ring_ranges)) - 4.0)
    azimuth = np.deg2rad(np.arange(bins) * 360.0 / bins - 180.0 + 0.5 * 360.0 / bins)
    rows = []
    for ring, (elevation, distance) in enumerate(zip(elevations, ring_ranges, strict=True)):
        ring_id = ring if ring_ids is None else ring_ids[ring]
        x = distance * np.cos(elevation) * np.cos(azimuth)
        y = distance * np.cos(elevation) * np.sin(azimuth)
        z = np.full(bins, distance * np.sin(elevation))
        rows.append(np.stack([x, y, z, np.full(bins, ring / 10), np.full(bins, ring_id)], axis=1))
    points = np.concatenate(rows).astype(np.float32)
    return Scan(points, ("x", "y", "z", "intensity", "ring"))


def test_downsample_keeps_every_kth_ring_in_elevation_order():
    permuted = [5, 2, 7, 0, 3, 6, 1, 4]  # the sensor numbers its lasers out of elevation order
    scan = _wall_scan([10.0] * 8, ring_ids=permuted)
    rings = scan.column("ring").astype(np.int64)
    keep = downsample_beams(scan.xyz, rings, factor=2, offset=1)
    kept_ids = set(np.unique(rings[keep]).tolist())
    assert kept_ids == {permuted[i] for i in (1, 3, 5, 7)}
    assert keep.sum() == 4 * 360


def test_upsample_fills_between_rings_on_a_smooth_wall():
    scan = _wall_scan([10.0] * 8)
    rings = scan.column("ring").astype(np.int64)
    new_xyz, source = upsample_beams(scan.xyz, rings, azimuth_bins=360)
    assert new_xyz.shape == (7 * 360, 3)
    distance = np.linalg.norm(new_xyz, axis=1)
    np.testing.assert_allclose(distance, 10.0, rtol=1e-5)
    elevation = np.rad2deg(np.arcsin(new_xyz[:, 2] / distance))
    np.testing.assert_allclose(np.sort(np.unique(np.round(elevation, 3))), np.arange(7) - 3.5, atol=1e-3)
    assert (np.abs(rings[source[:, 0]] - rings[source[:, 1]]) == 1).all()


def test_upsample_does_not_bridge_depth_discontinuities():
    scan = _wall_scan([10.0, 20.0, 10.0, 20.0])
    new_xyz, _ = upsample_beams(scan.xyz, scan.column("ring").astype(np.int64), azimuth_bins=360)
    assert len(new_xyz) == 0


def test_augmentation_carries_labels_and_doubles_beams():
    scan = _wall_scan([10.0] * 8)
    rings = scan.column("ring").astype(np.int64)
    labels = rings.astype(np.int32) % 3
    sample = Sample(scan, labels=labels, instances=np.zeros(len(scan), np.int32))
    augment = BeamResample(BeamResampleConfig(probability=1.0, azimuth_bins=360))
    results = {len(augment(sample, np.random.default_rng(seed)).scan) for seed in range(12)}
    # 8 rings -> 4 (factor 2), 2 (factor 4) or 15 (up-sampled) rings of 360 points.
    assert results <= {4 * 360, 2 * 360, 15 * 360} and len(results) >= 2
    up = next(out for seed in range(40) if len((out := augment(sample, np.random.default_rng(seed))).scan) == 15 * 360)
    assert len(np.unique(up.scan.column("ring"))) == 15
    assert up.labels.shape == (15 * 360,) and set(np.unique(up.labels)) <= {0, 1, 2}


def test_probability_zero_is_identity_and_bad_factor_refused():
    scan = _wall_scan([10.0] * 4)
    sample = Sample(scan)
    rings = scan.column("ring").astype(np.int64)
    assert BeamResample(BeamResampleConfig(probability=0.0))(sample, np.random.default_rng(0)) is sample
    with pytest.raises(ValueError, match="factor"):
        downsample_beams(scan.xyz, rings, factor=0)


def test_rings_are_estimated_for_scans_without_a_ring_column():
    scan = _wall_scan([10.0] * 8).with_columns(("x", "y", "z", "intensity"))
    augment = BeamResample(BeamResampleConfig(probability=1.0, azimuth_bins=360))
    sizes = {len(augment(Sample(scan), np.random.default_rng(seed)).scan) for seed in range(12)}
    assert {4 * 360, 2 * 360} <= sizes  # every 2nd / 4th of the 8 estimated rings
