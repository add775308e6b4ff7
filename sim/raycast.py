"""Vectorised ray casting of one sweep against a scene: ground strips plus solids, culled by angular sector.

The sweep is a (row, column) grid: rows are the beams sorted by elevation (ascending), columns the firing
azimuths. Each solid is tested only against the block of rows and columns its bounding cylinder can reach, so a
sweep costs about rays x solids-per-sector; a z-buffer keeps the nearest hit of every ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spot.runtime.sensors import SensorDescription

from .ground import GroundProfile
from .solids import RayBlock, Solid, solid_hits


@dataclass(frozen=True)
class SweepGeometry:
    """`elevation` (B,) ascending radians, `ring` (B,) the sensor's ring index of each row, `azimuth` (C,)."""

    elevation: np.ndarray
    ring: np.ndarray
    azimuth: np.ndarray

    @classmethod
    def of(cls, sensor: SensorDescription, horizontal_resolution_deg: float | None = None) -> SweepGeometry:
        step = horizontal_resolution_deg or sensor.horizontal_resolution_deg
        columns = round(360.0 / step)
        order = np.argsort(sensor.vertical_angles, kind="stable")
        azimuth = -np.pi + (np.arange(columns) + 0.5) * (2 * np.pi / columns)
        return cls(sensor.vertical_angles[order], order.astype(np.int32), azimuth)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.elevation), len(self.azimuth)

    def block(self, rows: slice, cols: slice) -> RayBlock:
        e, a = self.elevation[rows, None], self.azimuth[None, cols]
        return RayBlock(np.tan(e), np.cos(e), np.sin(e), np.cos(a), np.sin(a))

    def column_slices(self, centre: float, half_width: float) -> list[slice]:
        """Column slices whose azimuth lies within `half_width` of `centre` (wrapping around +-pi)."""
        columns = len(self.azimuth)
        if half_width >= np.pi:
            return [slice(0, columns)]
        step = 2 * np.pi / columns
        first = int(np.floor((centre - half_width + np.pi) / step))
        last = int(np.ceil((centre + half_width + np.pi) / step))
        first_mod, count = first % columns, min(last - first + 1, columns)
        if first_mod + count <= columns:
            return [slice(first_mod, first_mod + count)]
        return [slice(first_mod, columns), slice(0, first_mod + count - columns)]

    def row_slice(self, low: float, high: float) -> slice:
        return slice(int(np.searchsorted(self.elevation, low)), int(np.searchsorted(self.elevation, high, "right")))


@dataclass(frozen=True)
class RangeImage:
    """Nearest hit per ray (B, C): horizontal distance `t` (inf = none), raw label, instance, reflectivity,
    |cos| of the incidence angle."""

    t: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    reflectivity: np.ndarray
    cos_inc: np.ndarray


def cast_sweep(
    geometry: SweepGeometry,
    ground: GroundProfile,
    pose: np.ndarray,
    solids: list[Solid],
    max_range: float,
    rng: np.random.Generator,
) -> RangeImage:
    """Cast the sweep from `pose` (sensor -> world, level) against the ground and `solids` (sensor frame)."""
    full = geometry.block(slice(None), slice(None))
    yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
    hits = ground.cast(pose[:3, 3], yaw, full.tan_e, full.cos_e, geometry.azimuth[None, :])
    image = RangeImage(
        hits.t, hits.label.astype(np.int32), np.zeros(geometry.shape, np.int32), hits.reflectivity, hits.cos_inc
    )
    for solid in solids:
        for rows, cols in _blocks(geometry, solid, max_range):
            _draw(image, solid, geometry.block(rows, cols), rows, cols, rng)
    return image


def _blocks(geometry: SweepGeometry, solid: Solid, max_range: float) -> list[tuple[slice, slice]]:
    """The (rows, columns) blocks of the sweep that can see `solid`, from its bounding cylinder."""
    distance, radius = float(np.hypot(solid.x, solid.y)), float(solid.radius)
    if distance - radius > max_range:
        return []
    near, far = max(distance - radius, 0.05), distance + radius
    low = min(np.arctan2(solid.z_min, near), np.arctan2(solid.z_min, far))
    high = max(np.arctan2(solid.z_max, near), np.arctan2(solid.z_max, far))
    rows = geometry.row_slice(low, high)
    if rows.start >= rows.stop:
        return []
    half_width = np.pi if distance <= radius else float(np.arcsin(radius / distance))
    return [(rows, cols) for cols in geometry.column_slices(float(np.arctan2(solid.y, solid.x)), half_width)]


def _draw(image: RangeImage, solid: Solid, rays: RayBlock, rows: slice, cols: slice, rng) -> None:
    t, cos_inc = solid_hits(solid, rays)
    surface = solid.surface
    if surface.porosity > 0:
        t = np.where(rng.random(t.shape) < surface.porosity, np.inf, t)
    closer = t < image.t[rows, cols]
    if not closer.any():
        return
    image.t[rows, cols][closer] = t[closer]
    image.label[rows, cols][closer] = surface.label
    image.instance[rows, cols][closer] = surface.instance
    image.reflectivity[rows, cols][closer] = surface.reflectivity
    image.cos_inc[rows, cols][closer] = cos_inc[closer]
