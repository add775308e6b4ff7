"""Turning a list of samples into the sparse network input every objective and head shares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spot.runtime import REQUIRED_COLUMNS, Sample, VoxelGrid, voxelize


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


def coarser_grid(grid: VoxelGrid, voxel_size: Sequence[float]) -> tuple[VoxelGrid, tuple[int, int, int]]:
    """The grid over the same range with `voxel_size`, and its (z, y, x) stride in fine voxels (whole numbers)."""
    coarse = VoxelGrid(grid.point_cloud_range, tuple(voxel_size))
    ratio = np.asarray(coarse.voxel_size) / np.asarray(grid.voxel_size)
    if not np.allclose(ratio, np.round(ratio)) or (np.round(ratio) < 1).any():
        raise ValueError(f"voxel size {coarse.voxel_size} must be a whole multiple of the input's {grid.voxel_size}")
    x, y, z = (int(r) for r in np.round(ratio))
    return coarse, (z, y, x)
