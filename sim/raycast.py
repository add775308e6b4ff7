"""Vectorised ray casting of one sweep against a scene: ground strips plus solids, culled by angular sector.

The sweep is a (row, column) grid: rows are the beams sorted by elevation (ascending), columns the firing
azimuths. Each solid is tested only against the block of rows and columns its bounding cylinder can reach, so a
sweep costs about rays x solids-per-sector; a z-buffer keeps the nearest hit of every ray. A level camera
(`spot.sim.camera.CameraGeometry`) is another ray grid with the same `block` / `blocks` interface.

Porous surfaces let a ray through where a fixed spatial pattern on the surface says so (10 cm cells, a hash of
the cell in the solid's own frame), not at random per ray: the LiDAR and the cameras see the same holes, and a
hedge keeps its holes from frame to frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spot.runtime.sensors import SensorDescription

from .ground import Ground
from .patterns import cell_noise
from .relief import behind_surface
from .solids import RayBlock, Solid, solid_hits

POROSITY_CELL = 0.1  # metres: the size of the holes in a porous surface
POROSITY_SALT = 0x5107


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

    def blocks(self, low: float, high: float, centre: float, half_width: float) -> list[tuple[slice, slice]]:
        """(rows, columns) blocks of the rays with elevation in [low, high] and azimuth within `half_width` of
        `centre`."""
        rows = self.row_slice(low, high)
        if rows.start >= rows.stop:
            return []
        return [(rows, cols) for cols in self.column_slices(centre, half_width)]


@dataclass(frozen=True)
class RangeImage:
    """Nearest hit per ray (B, C): horizontal distance `t` (inf = none), raw label, instance, reflectivity,
    |cos| of the incidence angle, and the index of the solid hit (-1: the ground or nothing)."""

    t: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    reflectivity: np.ndarray
    cos_inc: np.ndarray
    solid: np.ndarray


def cast_sweep(
    geometry: SweepGeometry, ground: Ground, pose: np.ndarray, solids: list[Solid], max_range: float
) -> RangeImage:
    """Cast the sweep from `pose` (sensor -> world, level) against the ground and `solids` (sensor frame)."""
    full = geometry.block(slice(None), slice(None))
    yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
    hits = ground.cast(pose[:3, 3], yaw, full.tan_e, full.cos_e, geometry.azimuth[None, :])
    image = RangeImage(
        hits.t,
        hits.label.astype(np.int32),
        np.zeros(hits.t.shape, np.int32),
        hits.reflectivity,
        hits.cos_inc,
        np.full(hits.t.shape, -1, np.int32),
    )
    draw_solids(image, geometry, solids, max_range, lidar=True)
    return image


def draw_solids(image: RangeImage, geometry, solids: list[Solid], max_range: float, lidar: bool = False) -> None:
    """Z-buffer the hits of `solids` into `image`; `geometry` is a `SweepGeometry` or any ray grid with its
    `block(rows, cols)` and `blocks(low, high, centre, half_width)`. `lidar`: returns come from behind
    surfaces where `spot.sim.relief` says so (a camera sees the hull)."""
    for index, solid in enumerate(solids):
        extent = _angular_extent(solid, max_range)
        if extent is not None:
            for rows, cols in geometry.blocks(*extent):
                _draw(image, solid, index, geometry.block(rows, cols), rows, cols, lidar)


def _angular_extent(solid: Solid, max_range: float) -> tuple[float, float, float, float] | None:
    """Elevation bounds and azimuth centre and half-width of `solid`'s bounding cylinder seen from the origin,
    or None when it lies beyond `max_range`."""
    distance, radius = math.hypot(solid.x, solid.y), float(solid.radius)
    if distance - radius > max_range:
        return None
    near, far = max(distance - radius, 0.05), distance + radius
    low = min(math.atan2(solid.z_min, near), math.atan2(solid.z_min, far))
    high = max(math.atan2(solid.z_max, near), math.atan2(solid.z_max, far))
    half_width = math.pi if distance <= radius else math.asin(radius / distance)
    return low, high, math.atan2(solid.y, solid.x), half_width


def _hit_points(rays: RayBlock, t: np.ndarray) -> np.ndarray:
    """Points (..., 3) at horizontal distance `t` along `rays` (t finite)."""
    return np.stack(np.broadcast_arrays(t * rays.cos_a, t * rays.sin_a, t * rays.tan_e), axis=-1)


def _draw(
    image: RangeImage, solid: Solid, index: int, rays: RayBlock, rows: slice, cols: slice, lidar: bool
) -> None:
    t, cos_inc = solid_hits(solid, rays)
    surface = solid.surface
    closer = t < image.t[rows, cols]
    if surface.porosity > 0 and closer.any():
        points = _hit_points(rays, np.where(closer, t, 0.0))
        closer &= cell_noise(solid.local(points), POROSITY_CELL, POROSITY_SALT) >= surface.porosity
    reflectivity = np.full(t.shape, surface.reflectivity)
    if lidar and (surface.penetration > 0 or surface.facade is not None) and closer.any():
        surface_t = np.where(closer, t, 0.0)
        deeper, factor = behind_surface(solid, _hit_points(rays, surface_t), surface_t)
        t = np.where(closer, deeper, t)
        reflectivity *= factor
        closer &= t < image.t[rows, cols]
    if not closer.any():
        return
    image.t[rows, cols][closer] = t[closer]
    image.label[rows, cols][closer] = surface.label
    image.instance[rows, cols][closer] = surface.instance
    image.reflectivity[rows, cols][closer] = reflectivity[closer]
    image.cos_inc[rows, cols][closer] = cos_inc[closer]
    image.solid[rows, cols][closer] = index
