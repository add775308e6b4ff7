"""The ground of the street: lateral profiles of planar strips (road, parking, curb, sidewalk, terrain), one per
stretch of the street.

The street runs along world +x. Across it (world y, "lateral") a `GroundProfile` is piecewise planar: strip k
covers `boundaries[k-1] <= y < boundaries[k]` and has height `height[k] + slope[k] * y` (camber, sloped verges).
A step between neighbouring strips is a vertical face (a curb), labelled as the higher strip. `Ground` chains
profiles along x: profile s holds for `edges[s-1] <= x < edges[s]` (a crossing street's road and corner
sidewalks are stretches of their own), and where two neighbouring profiles differ in height the step between
them is a vertical face across the street (the curbs along a crossing street). Rays are intersected with every
plane and face in closed form; lane markings are painted on the road afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .classes import LANE_MARKING, REFLECTIVITY_TABLE, ROAD

DASH_PERIOD, DASH_LENGTH = 9.0, 3.0
PLANE, CURB, CROSS_CURB = 0, 1, 2  # what a ground hit lies on: a strip's plane, a step along x, a step across x
STEP = 1e-3  # metres: height differences below this are no step


@dataclass(frozen=True)
class GroundHits:
    """Per ray (b, c): horizontal distance (inf = no ground), raw label, reflectivity, |cos incidence|, and where
    it landed: the profile (`segment`), its strip and the kind of surface (`face`: PLANE, CURB or CROSS_CURB)."""

    t: np.ndarray
    label: np.ndarray
    reflectivity: np.ndarray
    cos_inc: np.ndarray
    segment: np.ndarray
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

    def strip_at(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The strip holding lateral position `y` and the ground height there."""
        strip = np.searchsorted(self.boundaries, y, side="right")
        return strip, self.height[strip] + self.slope[strip] * y

    def hits(self, origin, cos_h, sin_h, tan_e, x_range: tuple[float, float]):
        """Nearest hit per ray on the strips' planes and their curb faces, with world x in `x_range`.

        `cos_h`, `sin_h` (1, c): the rays' world heading; `tan_e` (b, 1). Returns t (inf: none), strip, on-face.
        """
        best = np.full(np.broadcast_shapes(tan_e.shape, sin_h.shape), np.inf)
        strip_of_best = np.zeros(best.shape, dtype=np.int64)
        is_face = np.zeros(best.shape, dtype=bool)
        edges = np.concatenate([[-np.inf], self.boundaries, [np.inf]])
        bounded = np.isfinite(x_range).any()

        def inside(t):
            if not bounded:
                return True
            x = origin[0] + t * cos_h
            return (x >= x_range[0]) & (x < x_range[1])

        with np.errstate(divide="ignore", invalid="ignore"):
            for k in range(len(self.height)):
                t = (self.height[k] + self.slope[k] * origin[1] - origin[2]) / (tan_e - self.slope[k] * sin_h)
                y = origin[1] + t * sin_h
                valid = (t > 0) & (y >= edges[k]) & (y < edges[k + 1]) & (t < best) & inside(t)
                best = np.where(valid, t, best)
                strip_of_best = np.where(valid, k, strip_of_best)
            for j, y_edge in enumerate(self.boundaries):
                low, high = self.height[j] + self.slope[j] * y_edge, self.height[j + 1] + self.slope[j + 1] * y_edge
                if abs(high - low) < STEP:
                    continue
                t = (y_edge - origin[1]) / sin_h
                z = origin[2] + t * tan_e
                rising = (sin_h > 0) == (high > low)  # the ray walks from the low strip into the high one
                valid = (t > 0) & rising & (z > min(low, high)) & (z < max(low, high)) & (t < best) & inside(t)
                best = np.where(valid, t, best)
                strip_of_best = np.where(valid, j + 1 if high > low else j, strip_of_best)
                is_face = np.where(valid, True, is_face)
        return best, strip_of_best, is_face

    def paint(self, label, t, origin, cos_h, sin_h) -> np.ndarray:
        """Lane markings (raw id 60) on road hits: solid or dashed stripes along x."""
        on_road = (label == ROAD) & np.isfinite(t)
        t = np.where(on_road, t, 0.0)
        x, y = origin[0] + t * cos_h, origin[1] + t * sin_h
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


@dataclass(frozen=True)
class Ground:
    """`profiles` (S,) along the street, profile s for world x in [edges[s-1], edges[s]); `edges` (S-1,)
    ascending. One profile: a straight street without crossings."""

    profiles: tuple[GroundProfile, ...]
    edges: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.profiles) - 1 or np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"{len(self.profiles)} profiles need {len(self.profiles) - 1} ascending edges")

    def _x_range(self, segment: int) -> tuple[float, float]:
        start = self.edges[segment - 1] if segment > 0 else -np.inf
        end = self.edges[segment] if segment < len(self.edges) else np.inf
        return float(start), float(end)

    def _strip_values(self, name: str, segment: np.ndarray, strip: np.ndarray) -> np.ndarray:
        """The per-strip array `name` ("label", "slope") of each hit's profile, at the hit's strip."""
        out = np.zeros(np.shape(strip), dtype=getattr(self.profiles[0], name).dtype)
        for s, profile in enumerate(self.profiles):
            mine = segment == s
            out[mine] = getattr(profile, name)[strip[mine]]
        return out

    def cast(self, origin: np.ndarray, yaw: float, tan_e: np.ndarray, cos_e: np.ndarray, azimuth: np.ndarray):
        """Ground hits of the sweep from a level sensor at world `origin` (3,) heading `yaw`.

        `tan_e`, `cos_e` (b, 1); `azimuth` (1, c) in the sensor frame. Returns `GroundHits`.
        """
        cos_h, sin_h = np.cos(azimuth + yaw), np.sin(azimuth + yaw)  # the rays' world heading, (1, c)
        best = np.full(np.broadcast_shapes(tan_e.shape, azimuth.shape), np.inf)
        segment, strip, face = (np.zeros(best.shape, dtype=np.int64) for _ in range(3))
        for s, profile in enumerate(self.profiles):
            t, k, on_face = profile.hits(origin, cos_h, sin_h, tan_e, self._x_range(s))
            closer = t < best
            best, segment = np.where(closer, t, best), np.where(closer, s, segment)
            strip, face = np.where(closer, k, strip), np.where(closer, np.where(on_face, CURB, PLANE), face)
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, x_edge in enumerate(self.edges):  # the step between profiles j and j + 1
                t = (x_edge - origin[0]) / cos_h
                y, z = origin[1] + t * sin_h, origin[2] + t * tan_e
                k_before, z_before = self.profiles[j].strip_at(y)
                k_after, z_after = self.profiles[j + 1].strip_at(y)
                forward = cos_h > 0  # the ray walks from profile j into j + 1
                z_from, z_to = np.where(forward, z_before, z_after), np.where(forward, z_after, z_before)
                valid = (t > 0) & (z_to - z_from > STEP) & (z > z_from) & (z < z_to) & (t < best)
                after_higher = z_after > z_before
                best = np.where(valid, t, best)
                segment = np.where(valid, np.where(after_higher, j + 1, j), segment)
                strip = np.where(valid, np.where(after_higher, k_after, k_before), strip)
                face = np.where(valid, CROSS_CURB, face)
        label, slope = self._strip_values("label", segment, strip), self._strip_values("slope", segment, strip)
        plane_dot = np.abs(tan_e - slope * sin_h) * cos_e / np.sqrt(1 + slope**2)
        cos_inc = np.select([face == CURB, face == CROSS_CURB], [cos_e * np.abs(sin_h), cos_e * np.abs(cos_h)],
                            plane_dot)  # fmt: skip
        if len(self.profiles) == 1:
            label = self.profiles[0].paint(label, best, origin, cos_h, sin_h)
        else:  # each stretch paints its own hits only
            cos_h, sin_h = np.broadcast_to(cos_h, best.shape), np.broadcast_to(sin_h, best.shape)
            for s, profile in enumerate(self.profiles):
                mine = segment == s
                label[mine] = profile.paint(label[mine], best[mine], origin, cos_h[mine], sin_h[mine])
        return GroundHits(best, label, REFLECTIVITY_TABLE[label], cos_inc, segment, strip, face)

    def normal(self, segment: np.ndarray, strip: np.ndarray, face: np.ndarray, heading: np.ndarray) -> np.ndarray:
        """World-frame unit normals (..., 3) of hits (their `segment`, `strip`, `face` as cast) by rays of world
        `heading`: a plane's tilts with its slope, a curb faces the rays that meet it."""
        slope = self._strip_values("slope", segment, strip)
        norm = np.sqrt(1.0 + slope**2)
        nx = np.where(face == CROSS_CURB, -np.sign(np.cos(heading)), 0.0)
        ny = np.select([face == CURB, face == CROSS_CURB], [-np.sign(np.sin(heading)), 0.0], -slope / norm)
        nz = np.where(face == PLANE, 1.0 / norm, 0.0)
        return np.stack(np.broadcast_arrays(nx, ny, nz), axis=-1)

    def column_top(self, x_lo, x_hi, y_lo, y_hi) -> tuple[np.ndarray, np.ndarray]:
        """Highest ground height over the world rectangles [x_lo, x_hi] x [y_lo, y_hi] and its label."""
        top = np.full(np.shape(y_lo), -np.inf)
        label = np.zeros(np.shape(y_lo), dtype=np.int64)
        for s, profile in enumerate(self.profiles):
            start, end = self._x_range(s)
            z, lab = profile.column_top(y_lo, y_hi)
            higher = (np.asarray(x_hi) >= start) & (np.asarray(x_lo) < end) & (z > top)
            top, label = np.where(higher, z, top), np.where(higher, lab, label)
        return top, label
