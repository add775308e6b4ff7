"""The ground of a straight street: a lateral profile of planar strips (road, parking, curb, sidewalk, terrain).

The street runs along world +x. Across it (world y, "lateral") the ground is piecewise planar: strip k covers
`boundaries[k-1] <= y < boundaries[k]` and has height `height[k] + slope[k] * y` (camber, sloped verges). A step
between neighbouring strips is a vertical face (a curb), labelled as the higher strip. Rays are intersected with
every strip's plane and every step face in closed form; lane markings are painted on the road afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classes import LANE_MARKING, REFLECTIVITY_TABLE, ROAD

DASH_PERIOD, DASH_LENGTH = 9.0, 3.0


@dataclass(frozen=True)
class GroundHits:
    """Per ray (b, c): horizontal distance (inf = no ground), raw label, reflectivity, |cos incidence|, the
    strip hit and whether on its curb face rather than its plane."""

    t: np.ndarray
    label: np.ndarray
    reflectivity: np.ndarray
    cos_inc: np.ndarray
    strip: np.ndarray
    face: np.ndarray


@dataclass(frozen=True)
class GroundProfile:
    """Strips across the street: `boundaries` (K-1,) ascending world y; `height`, `slope`, `label` (K,);
    `markings` rows (y centre, half width, dashed) of painted lines on the road."""

    boundaries: np.ndarray
    height: np.ndarray
    slope: np.ndarray
    label: np.ndarray
    markings: np.ndarray

    def cast(self, origin: np.ndarray, yaw: float, tan_e: np.ndarray, cos_e: np.ndarray, azimuth: np.ndarray):
        """Ground hits of the sweep from a level sensor at world `origin` (3,) heading `yaw`.

        `tan_e`, `cos_e` (b, 1); `azimuth` (1, c) in the sensor frame. Returns `GroundHits`.
        """
        lateral = np.sin(azimuth + yaw)  # dy/dt of the ray in world y, (1, c)
        best = np.full(np.broadcast_shapes(tan_e.shape, azimuth.shape), np.inf)
        strip_of_best = np.zeros(best.shape, dtype=np.int64)
        edges = np.concatenate([[-np.inf], self.boundaries, [np.inf]])
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in range(len(self.height)):
                t = (self.height[k] + self.slope[k] * origin[1] - origin[2]) / (tan_e - self.slope[k] * lateral)
                y = origin[1] + t * lateral
                valid = (t > 0) & (y >= edges[k]) & (y < edges[k + 1]) & (t < best)
                best = np.where(valid, t, best)
                strip_of_best = np.where(valid, k, strip_of_best)
            is_face = np.zeros(best.shape, dtype=bool)
            for j, y_edge in enumerate(self.boundaries):
                low, high = self.height[j] + self.slope[j] * y_edge, self.height[j + 1] + self.slope[j + 1] * y_edge
                if abs(high - low) < 1e-3:
                    continue
                t = (y_edge - origin[1]) / lateral
                z = origin[2] + t * tan_e
                rising = (lateral > 0) == (high > low)  # the ray walks from the low strip into the high one
                valid = (t > 0) & rising & (z > min(low, high)) & (z < max(low, high)) & (t < best)
                best = np.where(valid, t, best)
                strip_of_best = np.where(valid, j + 1 if high > low else j, strip_of_best)
                is_face |= valid
        label = self.label[strip_of_best]
        slope = self.slope[strip_of_best]
        normal_dot = np.abs(tan_e - slope * lateral) * cos_e / np.sqrt(1 + slope**2)
        cos_inc = np.where(is_face, cos_e * np.abs(lateral), normal_dot)
        label = self._paint(label, best, origin, yaw, azimuth)
        return GroundHits(best, label, REFLECTIVITY_TABLE[label], cos_inc, strip_of_best, is_face)

    def normal(self, strip: np.ndarray, face: np.ndarray, lateral: np.ndarray) -> np.ndarray:
        """World-frame unit normals (..., 3) of hits on `strip` (its plane, or its curb `face`, which faces rays
        going in world direction `lateral` = dy/dt)."""
        slope = self.slope[strip]
        norm = np.sqrt(1.0 + slope**2)
        ny = np.where(face, -np.sign(lateral), -slope / norm)
        return np.stack(np.broadcast_arrays(np.zeros_like(ny), ny, np.where(face, 0.0, 1.0 / norm)), axis=-1)

    def _paint(self, label, t, origin, yaw, azimuth) -> np.ndarray:
        """Lane markings (raw id 60) on road hits: solid or dashed stripes along x."""
        on_road = (label == ROAD) & np.isfinite(t)
        t = np.where(on_road, t, 0.0)
        x = origin[0] + t * np.cos(azimuth + yaw)
        y = origin[1] + t * np.sin(azimuth + yaw)
        painted = np.zeros(label.shape, dtype=bool)
        for centre, half_width, dashed in self.markings:
            stripe = np.abs(y - centre) <= half_width
            if dashed:
                stripe &= np.mod(x, DASH_PERIOD) < DASH_LENGTH
            painted |= stripe
        return np.where(on_road & painted, LANE_MARKING, label)

    def column_top(self, y_lo: np.ndarray, y_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Highest ground height over lateral intervals [y_lo, y_hi] and the label of the strip reaching it."""
        edges = np.concatenate([[-np.inf], self.boundaries, [np.inf]])
        top = np.full(np.shape(y_lo), -np.inf)
        label = np.zeros(np.shape(y_lo), dtype=np.int64)
        for k in range(len(self.height)):
            lo, hi = np.maximum(y_lo, edges[k]), np.minimum(y_hi, edges[k + 1])
            z = self.height[k] + self.slope[k] * np.where(self.slope[k] > 0, hi, lo)
            higher = (lo <= hi) & (z > top)
            top = np.where(higher, z, top)
            label = np.where(higher, self.label[k], label)
        return top, label
