"""SPOT's beam re-sampling: make one LiDAR look like a sensor with fewer or more beams.

A backbone pre-trained on 64-beam scans meets 32- or 16-beam scans downstream (and the reverse); re-sampling
the beams during pre-training makes the representation less tied to one sensor's density. With probability
`probability` a sample is re-sampled; half of those times every k-th ring is kept (64 -> 32 / 16), the other
half a ring is interpolated between every two adjacent rings in the range image (64 -> 128).

Rings are ordered by elevation (median elevation of their points), so "adjacent" means adjacent in angle
whatever order the sensor numbers its lasers in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from spot.runtime import Sample, Scan
from spot.runtime.rings import estimate_rings

from ..schema import bounded

RING_COLUMN = "ring"


@dataclass
class BeamResampleConfig:
    probability: float = bounded(0.7, ge=0, le=1)
    downsample_factors: list[int] = bounded(default_factory=lambda: [2, 4], ge=1, min_length=1)
    azimuth_bins: int = bounded(2048, ge=1)  # range-image width for up-sampling; ~0.18 deg, a 64-beam sensor's step
    max_range_gap: float = bounded(0.5, gt=0)  # metres; neighbours further apart in range lie on different surfaces


def elevation_order(xyz: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """Ring ids present in `rings`, sorted from lowest to highest median elevation."""
    elevation = np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))
    ids = np.unique(rings)
    medians = np.array([np.median(elevation[rings == ring]) for ring in ids])
    return ids[np.argsort(medians, kind="stable")]


def downsample_beams(xyz: np.ndarray, rings: np.ndarray, factor: int, offset: int = 0) -> np.ndarray:
    """Mask of the points on every `factor`-th ring (in elevation order), starting at `offset`."""
    if factor < 1:
        raise ValueError(f"down-sampling factor must be >= 1, got {factor}")
    order = elevation_order(xyz, rings)
    kept = order[offset % factor :: factor]
    return np.isin(rings, kept)


def upsample_beams(
    xyz: np.ndarray, rings: np.ndarray, azimuth_bins: int = 2048, max_range_gap: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Points interpolated half-way between adjacent rings of the range image.

    For each azimuth bin where two elevation-adjacent rings both have a return within `max_range_gap` of each
    other, a new point is placed at the mean elevation, azimuth and range of the two. Returns
    `(new_xyz (M, 3), source (M, 2))`: the two original point indices each new point was made from, so
    callers can carry intensity (mean) and labels (nearer return's) over. `source[:, 0]` is the nearer one.
    """
    distance = np.linalg.norm(xyz, axis=1)
    azimuth = np.arctan2(xyz[:, 1], xyz[:, 0])
    elevation = np.arcsin(np.clip(xyz[:, 2] / np.maximum(distance, 1e-9), -1.0, 1.0))
    column = ((azimuth + np.pi) / (2 * np.pi) * azimuth_bins).astype(np.int64) % azimuth_bins
    order = elevation_order(xyz, rings)
    row_of_ring = np.full(int(rings.max()) + 1, -1, dtype=np.int64)
    row_of_ring[order] = np.arange(len(order))
    row = row_of_ring[rings]

    image = np.full((len(order), azimuth_bins), -1, dtype=np.int64)  # point index per cell, nearest return
    by_distance = np.argsort(-distance, kind="stable")  # write far first so the nearest return wins
    image[row[by_distance], column[by_distance]] = by_distance

    lower, upper = image[:-1], image[1:]
    both = (lower >= 0) & (upper >= 0)
    a, b = lower[both], upper[both]
    close = np.abs(distance[a] - distance[b]) <= max_range_gap
    a, b = a[close], b[close]
    mean_azimuth = np.arctan2(np.sin(azimuth[a]) + np.sin(azimuth[b]), np.cos(azimuth[a]) + np.cos(azimuth[b]))
    mean_elevation = (elevation[a] + elevation[b]) / 2
    mean_distance = (distance[a] + distance[b]) / 2
    new_xyz = np.stack(
        [
            mean_distance * np.cos(mean_elevation) * np.cos(mean_azimuth),
            mean_distance * np.cos(mean_elevation) * np.sin(mean_azimuth),
            mean_distance * np.sin(mean_elevation),
        ],
        axis=1,
    )
    nearer_first = np.where(distance[a] <= distance[b], 0, 1)
    pairs = np.stack([a, b], axis=1)
    source = np.take_along_axis(pairs, np.stack([nearer_first, 1 - nearer_first], axis=1), axis=1)
    return new_xyz.astype(xyz.dtype), source


class BeamResample:
    """The augmentation: `BeamResample(config)(sample, rng) -> sample`.

    Rings come from the scan's `ring` column, or are estimated from elevations (only for the samples that are
    re-sampled: the estimate costs ~0.15 s on a 64-beam scan). Labels and instances follow their points;
    `sample.sensor` keeps describing the physical sensor.
    """

    def __init__(self, config: BeamResampleConfig):
        self.config = config

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.config.probability:
            return sample
        xyz = sample.scan.xyz
        rings = ring_ids(sample.scan)
        if rng.random() < 0.5:
            factor = int(rng.choice(self.config.downsample_factors))
            keep = downsample_beams(xyz, rings, factor, offset=int(rng.integers(factor)))
            return _select(sample, keep)
        new_xyz, source = upsample_beams(xyz, rings, self.config.azimuth_bins, self.config.max_range_gap)
        return _append_interpolated(sample, new_xyz, source)


def ring_ids(scan: Scan) -> np.ndarray:
    """int64 (N,) ring of each point: the sensor's own numbering when the scan has it, else estimated."""
    return scan.column(RING_COLUMN).astype(np.int64) if scan.has(RING_COLUMN) else estimate_rings(scan.xyz)


def _select(sample: Sample, keep: np.ndarray) -> Sample:
    return replace(
        sample,
        scan=sample.scan.select(keep),
        labels=None if sample.labels is None else sample.labels[keep],
        instances=None if sample.instances is None else sample.instances[keep],
    )


def _append_interpolated(sample: Sample, new_xyz: np.ndarray, source: np.ndarray) -> Sample:
    """Interpolated points get the mean of their two sources' columns and the nearer source's labels."""
    points = sample.scan.points
    new_points = (points[source[:, 0]] + points[source[:, 1]]) / 2
    new_points[:, :3] = new_xyz
    if sample.scan.has(RING_COLUMN):
        # Interpolated rings are numbered after the real ones so ids stay integers and real rings keep theirs.
        ring = sample.scan.columns.index(RING_COLUMN)
        new_points[:, ring] = (
            points[:, ring].max() + 1 + np.minimum(points[source[:, 0], ring], points[source[:, 1], ring])
        )
    nearer = source[:, 0]

    def extend(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.concatenate([values, values[nearer]])

    return replace(
        sample,
        scan=Scan(np.concatenate([points, new_points.astype(np.float32)]), sample.scan.columns),
        labels=extend(sample.labels),
        instances=extend(sample.instances),
    )
