"""SPOT's occupancy targets on a voxel grid, from labelled points or, without labels, from the sensor rays.

Semantic occupancy (labels exist): a voxel holding points takes their majority class; every other voxel is
`empty`. Geometric occupancy (no labels): a voxel holding points is `occupied`, a voxel that a ray crosses on
its way to a return is `free`, and the rest is `unknown` and ignored by the loss. Both accept points
aggregated over neighbouring frames (brought into the current sensor frame with the poses), which densifies
the targets the way SPOT does.
"""

from __future__ import annotations

import numpy as np

from spot.runtime import IGNORE_INDEX, VoxelGrid
from spot.runtime.fused.jit import compiled
from spot.runtime.voxelize import linear_keys

GEOMETRIC_FREE, GEOMETRIC_OCCUPIED = 0, 1


def _flat_index(grid: VoxelGrid, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zyx, inside = grid.voxel_indices(xyz)
    coords = np.concatenate([np.zeros((inside.sum(), 1), np.int64), zyx[inside]], axis=1)
    return linear_keys(coords, grid.grid_shape), inside


def semantic_occupancy(grid: VoxelGrid, xyz: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(Z, Y, X) int64: majority class of each occupied voxel, `num_classes` (= empty) elsewhere.

    Voxels whose points are all unlabeled are `IGNORE_INDEX`: something is there, but not what.
    """
    target = np.full(grid.grid_shape, num_classes, dtype=np.int64)
    flat, inside = _flat_index(grid, xyz)
    labels = np.asarray(labels, np.int64)[inside]
    occupied = np.unique(flat)
    target.reshape(-1)[occupied] = IGNORE_INDEX
    labelled = labels != IGNORE_INDEX
    if labelled.any():
        # Majority vote: count (voxel, class) pairs, then keep the most frequent class per voxel.
        pair = flat[labelled] * num_classes + labels[labelled]
        pairs, counts = np.unique(pair, return_counts=True)
        voxel, label = pairs // num_classes, pairs % num_classes
        order = np.lexsort((-counts, voxel))
        first = np.ones(len(order), bool)
        first[1:] = voxel[order][1:] != voxel[order][:-1]
        target.reshape(-1)[voxel[order][first]] = label[order][first]
    return target


def geometric_occupancy(
    grid: VoxelGrid,
    xyz: np.ndarray,
    origins: np.ndarray,
    max_rays: int | None = 20000,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """(Z, Y, X) int64: `GEOMETRIC_OCCUPIED` where points are, `GEOMETRIC_FREE` where rays pass, else ignore.

    `origins` (N, 3) or (3,): the sensor position each point was seen from (frames aggregated with their poses
    have different origins). Rays are carved from the origin to one voxel short of the return, sampled every
    half voxel; `max_rays` subsamples the rays (free space is dense, so a fraction suffices) when given.
    """
    target = np.full(grid.grid_shape, IGNORE_INDEX, dtype=np.int64)
    xyz = np.asarray(xyz, np.float64)
    origins = np.broadcast_to(np.asarray(origins, np.float64), xyz.shape)
    rays = np.arange(len(xyz))
    if max_rays is not None and len(rays) > max_rays:
        rays = (rng or np.random.default_rng(0)).choice(len(rays), size=max_rays, replace=False)
    step = min(grid.voxel_size) / 2
    direction = xyz[rays] - origins[rays]
    length = np.linalg.norm(direction, axis=1)
    direction /= np.maximum(length, 1e-9)[:, None]
    stop = length - max(grid.voxel_size)
    steps = np.arange(step, max(stop.max(initial=0.0), step) + step, step)  # every ray samples a prefix of these
    low, size = (np.array(values, np.float64) for values in (grid.point_cloud_range[:3], grid.voxel_size))
    cells = np.array(grid.grid_shape[::-1], np.int64)  # x, y, z
    _carve(np.ascontiguousarray(origins[rays]), direction, stop, steps, low, size, cells, target.reshape(-1))
    flat, _ = _flat_index(grid, xyz)
    target.reshape(-1)[flat] = GEOMETRIC_OCCUPIED
    return target


@compiled()
def _carve(origins, direction, stop, steps, low, size, cells, target):  # pragma: no cover - compiled
    """Mark `GEOMETRIC_FREE` the voxel of every sample `origin + t * direction`, t in `steps` below the ray's
    `stop`, that lies inside the grid: `VoxelGrid.voxel_indices`' `floor((coordinate - min) / size)` in float64,
    sample by sample (compiled: millions of samples per scan; numpy's temporaries made this 70 % of a SPOT step).
    """
    for ray in range(origins.shape[0]):
        for i in range(steps.shape[0]):
            t = steps[i]
            if not t < stop[ray]:
                break
            key = 0
            for axis in (2, 1, 0):
                index = np.floor((origins[ray, axis] + t * direction[ray, axis] - low[axis]) / size[axis])
                if not (index >= 0 and index < cells[axis]):
                    key = -1
                    break
                key = key * cells[axis] + np.int64(index)
            if key >= 0:
                target[key] = GEOMETRIC_FREE
