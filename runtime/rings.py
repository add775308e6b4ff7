"""Beam (ring) structure of a spinning-LiDAR scan recovered from geometry alone.

Many scans (KITTI, SemanticKITTI, generic `.bin` / `.npy`) carry no `ring` column, yet beam re-sampling and the
statistics need one. Every beam of a spinning LiDAR sweeps a cone of fixed elevation, so the elevations of a
scan's points pile up around one value per beam. The estimator:

1. finds the height of the beams' origin above the frame origin (HDL-64E scans are expressed ~0.2 m below it)
   as the offset that makes the elevation histogram sharpest;
2. smooths that histogram at log-spaced widths (0.01 to 0.64 deg) and keeps the peak set whose size stays
   within 3 % over the most widths: too little smoothing splits a beam's spread, too much joins beams, and the
   plateau between lies wherever the sensor's spacing is (VLS-128 0.1 deg, HDL-32E 1.33 deg), so no
   per-sensor setting is needed;
3. gives each point the beam of nearest elevation.

Rings are numbered from the lowest beam up (ring 0 looks down most), as Velodyne drivers number them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import SpotInputError
from .scan import Scan

HISTOGRAM_BIN_DEG = 0.01
SMOOTHING_SIGMAS_BINS = 2.0 ** np.arange(0.0, 6.01, 0.125)  # 0.01 to 0.64 degrees, log-spaced
PLATEAU_TOLERANCE = 0.03  # peak counts within 3 % of each other belong to one plateau
ORIGIN_HEIGHTS_M = np.arange(-0.5, 0.5001, 0.02)
MAX_FIT_POINTS = 40_000  # the fit sees an even subsample; assigning rings uses every point


@dataclass(frozen=True)
class BeamFit:
    """Beam elevations (degrees, ascending) seen from `origin_z` metres above the scan's frame origin."""

    elevations_deg: np.ndarray
    origin_z: float

    @property
    def beams(self) -> int:
        return int(self.elevations_deg.shape[0])

    def assign(self, xyz: np.ndarray) -> np.ndarray:
        """Ring index (N,) int32 of each point: its nearest beam elevation."""
        if self.beams == 1:
            return np.zeros(len(xyz), np.int32)
        bounds = (self.elevations_deg[1:] + self.elevations_deg[:-1]) / 2
        return np.searchsorted(bounds, elevation_deg(xyz, self.origin_z)).astype(np.int32)


def elevation_deg(xyz: np.ndarray, origin_z: float = 0.0) -> np.ndarray:
    """Elevation (N,) float64 of each point in degrees, seen from (0, 0, origin_z)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    return np.degrees(np.arctan2(xyz[:, 2] - origin_z, np.hypot(xyz[:, 0], xyz[:, 1])))


def fit_beams(xyz: np.ndarray, min_range: float = 2.0) -> BeamFit:
    """Beam elevations of one scan (`xyz` (N, 3), sensor frame); points nearer than `min_range` (the ego
    vehicle's own body) are left out of the fit."""
    xyz = np.asarray(xyz, dtype=np.float64)[:, :3]
    xyz = xyz[np.linalg.norm(xyz, axis=1) >= min_range]
    if len(xyz) < 2:
        raise SpotInputError(f"cannot estimate rings from {len(xyz)} point(s) beyond {min_range} m")
    xyz = xyz[:: max(1, len(xyz) // MAX_FIT_POINTS)]
    origin_z = _sharpest_origin_height(xyz)
    elevations = elevation_deg(xyz, origin_z)
    edges = np.arange(elevations.min() - 0.5, elevations.max() + 0.5, HISTOGRAM_BIN_DEG)
    counts = np.histogram(elevations, bins=edges)[0].astype(np.float64)
    peaks = _beam_peaks(counts)
    return BeamFit(edges[peaks] + HISTOGRAM_BIN_DEG / 2, float(origin_z))


def estimate_rings(xyz: np.ndarray, min_range: float = 2.0) -> np.ndarray:
    """Ring index (N,) int32 per point, 0 = lowest beam, from the elevation structure of the scan alone."""
    return fit_beams(xyz, min_range).assign(np.asarray(xyz)[:, :3])


def ring_count(scan: Scan) -> int:
    """Beams of a scan: distinct values of its `ring` column when it has one, else the elevation estimate."""
    if scan.has("ring"):
        return int(np.unique(scan.column("ring")).shape[0])
    return fit_beams(scan.xyz).beams


def _sharpest_origin_height(xyz: np.ndarray) -> float:
    """The beam-origin height whose elevation histogram has the least entropy (the beams line up best)."""
    edges = np.arange(-90.0, 90.0, 0.05)
    entropies = []
    for height in ORIGIN_HEIGHTS_M:
        counts = np.histogram(elevation_deg(xyz, height), bins=edges)[0]
        share = counts[counts > 0] / counts.sum()
        entropies.append(-(share * np.log(share)).sum())
    return round(float(ORIGIN_HEIGHTS_M[int(np.argmin(entropies))]), 3)


def _beam_peaks(counts: np.ndarray) -> np.ndarray:
    """Histogram bins of the beams: the peak set that stays (nearly) the same over the most smoothing scales."""
    peak_sets = [_local_maxima(_gaussian_smooth(counts, sigma)) for sigma in SMOOTHING_SIGMAS_BINS]
    sizes = np.array([len(peaks) for peaks in peak_sets])
    best_start, best_length = 0, 0
    for start in range(len(sizes)):
        similar = np.abs(sizes[start:] - sizes[start]) <= PLATEAU_TOLERANCE * sizes[start]
        length = int(np.argmin(similar)) if not similar.all() else len(similar)
        if length > best_length:
            best_start, best_length = start, length
    return peak_sets[best_start + best_length // 2]


def _gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    offsets = np.arange(-int(4 * sigma) - 1, int(4 * sigma) + 2)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return np.convolve(values, kernel / kernel.sum(), mode="same")


def _local_maxima(values: np.ndarray) -> np.ndarray:
    rising = values[1:-1] > values[:-2]
    not_falling_after = values[1:-1] >= values[2:]
    return np.nonzero(rising & not_falling_after & (values[1:-1] > 0))[0] + 1
