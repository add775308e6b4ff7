"""Exact semantic occupancy of a voxel grid from the scene geometry (not from the points).

A voxel is occupied when the closed solid of some scene element meets the closed voxel (grown by `EPSILON` so
that float32 returns lying exactly on a voxel face never fall outside); the ground is solid below its surface.
Values: 0 = free, class id + 1 (contract class ids of the label map) = occupied. Where elements share a voxel,
things win over stuff, and later elements over earlier ones.
"""

from __future__ import annotations

import numpy as np

from spot.runtime.voxelize import VoxelGrid

from .classes import label_map
from .ground import Ground
from .solids import Solid

EPSILON = 1e-3
FREE = 0


def _class_values(raw: np.ndarray) -> np.ndarray:
    """Raw ids -> stored values (class id + 1; unlabeled elements store as free)."""
    return (label_map()(raw) + 1).astype(np.uint8)


def _axes(grid: VoxelGrid) -> list[np.ndarray]:
    """Voxel boundaries along x, y, z: (X+1,), (Y+1,), (Z+1,)."""
    z, y, x = grid.grid_shape
    lo, size = grid.point_cloud_range[:3], grid.voxel_size
    return [lo[i] + size[i] * np.arange(n + 1) for i, n in enumerate((x, y, z))]


def occupancy_grid(grid: VoxelGrid, ground: Ground, pose: np.ndarray, solids: list[Solid]) -> np.ndarray:
    """(Z, Y, X) uint8 occupancy around a level sensor at `pose` (sensor -> world); `solids` in the sensor frame."""
    axes = _axes(grid)
    volume = _ground_occupancy(grid, axes, ground, pose)
    values = _class_values(np.array([s.surface.label for s in solids], dtype=np.int64)) if solids else []
    for solid, value in zip(solids, values, strict=True):
        _stamp(volume, axes, solid, value)
    return volume


def _ground_occupancy(grid: VoxelGrid, axes: list[np.ndarray], ground: Ground, pose: np.ndarray):
    xs, ys, zs = axes
    corner_x, corner_y = np.meshgrid(xs, ys)  # (Y+1, X+1)

    def corners(world: np.ndarray) -> np.ndarray:  # (4, Y, X): a column's four corners
        return np.stack([world[:-1, :-1], world[1:, :-1], world[:-1, 1:], world[1:, 1:]])

    quad_x = corners(pose[0, 3] + pose[0, 0] * corner_x + pose[0, 1] * corner_y)
    quad_y = corners(pose[1, 3] + pose[1, 0] * corner_x + pose[1, 1] * corner_y)
    top, label = ground.column_top(quad_x.min(axis=0), quad_x.max(axis=0), quad_y.min(axis=0), quad_y.max(axis=0))
    top_sensor = top - pose[2, 3]
    solid = zs[:-1, None, None] - EPSILON <= top_sensor[None]  # (Z, Y, X)
    return np.where(solid, _class_values(label)[None], FREE).astype(np.uint8)


def _stamp(volume: np.ndarray, axes: list[np.ndarray], solid: Solid, value: int) -> None:
    """Mark the voxels `solid` meets, testing only those inside its bounding box."""
    r = solid.radius
    bounds = [(solid.x - r, solid.x + r), (solid.y - r, solid.y + r), (solid.z_min, solid.z_max)]
    ranges = []
    for edges, (low, high) in zip(axes, bounds, strict=True):
        first = max(int(np.searchsorted(edges, low - EPSILON)) - 1, 0)
        last = min(int(np.searchsorted(edges, high + EPSILON)), len(edges) - 1)
        if first >= last:
            return
        ranges.append((first, last))
    (x0, x1), (y0, y1), (z0, z1) = ranges
    xs, ys, zs = axes[0][x0 : x1 + 1], axes[1][y0 : y1 + 1], axes[2][z0 : z1 + 1]
    lo = np.stack(np.meshgrid(zs[:-1], ys[:-1], xs[:-1], indexing="ij")[::-1], axis=-1) - EPSILON
    hi = np.stack(np.meshgrid(zs[1:], ys[1:], xs[1:], indexing="ij")[::-1], axis=-1) + EPSILON
    block = volume[z0:z1, y0:y1, x0:x1]
    block[solid.overlaps(lo, hi)] = value
