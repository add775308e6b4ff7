"""Turning a list of samples into the sparse network input every objective and head shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spot.runtime import REQUIRED_COLUMNS, Sample, SpotInputError, VoxelGrid, voxelize


def voxel_batch(samples: Sequence[Sample], grid: VoxelGrid) -> dict[str, torch.Tensor]:
    """coords int32 (V, 4), features float32 (V, 4) (mean x y z intensity), point_to_voxel int64 (N_total,)."""
    points = [sample.scan.with_columns(REQUIRED_COLUMNS).points for sample in samples]
    voxels = voxelize(grid, points)
    return {
        "coords": torch.from_numpy(voxels.coords),
        "features": torch.from_numpy(voxels.features),
        "point_to_voxel": torch.from_numpy(voxels.point_to_voxel),
        "batch_size": torch.tensor(len(samples)),
    }


def grid_stride(voxel_size: Sequence[float], fine_voxel_size: Sequence[float]) -> tuple[int, int, int] | None:
    """The (z, y, x) stride of `voxel_size` in voxels of `fine_voxel_size`; None unless a whole multiple >= 1."""
    ratio = np.asarray(voxel_size, np.float64) / np.asarray(fine_voxel_size, np.float64)
    if not np.allclose(ratio, np.round(ratio)) or (np.round(ratio) < 1).any():
        return None
    x, y, z = (int(r) for r in np.round(ratio))
    return z, y, x


def coarser_grid(grid: VoxelGrid, voxel_size: Sequence[float]) -> tuple[VoxelGrid, tuple[int, int, int]]:
    """The grid over the same range with `voxel_size`, and its (z, y, x) stride in fine voxels (whole numbers)."""
    stride = grid_stride(voxel_size, grid.voxel_size)
    if stride is None:
        raise SpotInputError(f"voxel size {tuple(voxel_size)} is not a whole multiple of the grid's {grid.voxel_size}")
    return VoxelGrid(grid.point_cloud_range, tuple(voxel_size)), stride
