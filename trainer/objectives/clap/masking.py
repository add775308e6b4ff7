"""UniPAD's masked input: whole blocks of voxels are removed before the backbone sees the scan.

UniPAD masks LiDAR voxels in blocks of 8x-downsampled cells at ratio 0.8 (CLAP's notes: 0.9); the rendering
targets keep every return, so the backbone must complete what the mask hid.
"""

from __future__ import annotations

import numpy as np

from spot.runtime import VoxelGrid


def block_mask(
    xyz: np.ndarray, grid: VoxelGrid, block_voxels: int, ratio: float, rng: np.random.Generator
) -> np.ndarray:
    """(N,) bool: the points whose block (`block_voxels` voxels a side) is kept; a share `ratio` of the occupied
    blocks is dropped, never all of them."""
    block = np.asarray(grid.voxel_size, np.float64) * block_voxels
    cells = np.floor((np.asarray(xyz, np.float64) - grid.point_cloud_range[:3]) / block).astype(np.int64)
    _, which = np.unique(cells, axis=0, return_inverse=True)
    which = which.reshape(-1)
    kept = rng.random(which.max() + 1 if len(which) else 0) >= ratio
    if len(which) and not kept.any():
        kept[rng.integers(len(kept))] = True
    return kept[which]
