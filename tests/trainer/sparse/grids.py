"""Random sparse grids shared by the sparse-layer tests."""

from __future__ import annotations

import numpy as np

from spot.runtime.voxelize import linear_keys


def random_coords(rng: np.random.Generator, shape, batch_size: int = 2, density: float = 0.3) -> np.ndarray:
    """int32 (V, 4) unique coordinates sorted by linear key, about `density` of the grid."""
    grid = np.stack(np.meshgrid(np.arange(batch_size), *(np.arange(s) for s in shape), indexing="ij"), -1)
    grid = grid.reshape(-1, 4)
    coords = grid[rng.random(len(grid)) < density]
    return coords[np.argsort(linear_keys(coords, shape))].astype(np.int32)
