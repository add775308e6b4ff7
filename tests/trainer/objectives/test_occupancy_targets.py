import numpy as np

from spot.runtime import IGNORE_INDEX, VoxelGrid
from spot.trainer.objectives.spot.targets import (
    GEOMETRIC_FREE,
    GEOMETRIC_OCCUPIED,
    _flat_index,
    geometric_occupancy,
    semantic_occupancy,
)

GRID = VoxelGrid((0.0, -2.0, -1.0, 8.0, 2.0, 1.0), (1.0, 1.0, 1.0))  # (Z, Y, X) = (2, 4, 8)


def test_semantic_occupancy_majority_empty_and_ignore():
    xyz = np.array([[0.5, 0.5, 0.5], [0.6, 0.6, 0.6], [0.7, 0.5, 0.5], [5.5, -1.5, -0.5], [3.5, 0.5, 0.5]])
    labels = np.array([2, 2, 1, 0, IGNORE_INDEX])
    target = semantic_occupancy(GRID, xyz, labels, num_classes=3)
    assert target.shape == (2, 4, 8)
    assert target[1, 2, 0] == 2  # two votes for 2, one for 1
    assert target[0, 0, 5] == 0
    assert target[1, 2, 3] == IGNORE_INDEX  # occupied by an unlabeled point
    assert (target == 3).sum() == 64 - 3  # everything else is empty


def test_geometric_occupancy_carves_free_space_along_rays():
    xyz = np.array([[7.5, 0.5, 0.5]])
    target = geometric_occupancy(GRID, xyz, origins=np.array([0.0, 0.5, 0.5]))
    assert target[1, 2, 7] == GEOMETRIC_OCCUPIED
    # Carving stops one voxel (1 m) short of the return at x = 7.5, so x in [0, 6.5) is free.
    np.testing.assert_array_equal(target[1, 2, :7], GEOMETRIC_FREE)
    assert (target == IGNORE_INDEX).sum() == 64 - 8


def _numpy_carving(grid, xyz, origins, max_rays, rng):
    """The former numpy implementation (chunks of rays sampled at once): what the compiled carving must equal."""
    target = np.full(grid.grid_shape, IGNORE_INDEX, dtype=np.int64)
    xyz = np.asarray(xyz, np.float64)
    origins = np.broadcast_to(np.asarray(origins, np.float64), xyz.shape)
    rays = np.arange(len(xyz))
    if len(rays) > max_rays:
        rays = rng.choice(len(rays), size=max_rays, replace=False)
    step = min(grid.voxel_size) / 2
    direction = xyz[rays] - origins[rays]
    length = np.linalg.norm(direction, axis=1)
    direction /= np.maximum(length, 1e-9)[:, None]
    stop = length - max(grid.voxel_size)
    for chunk in np.array_split(np.arange(len(rays)), max(1, len(rays) // 4096)):
        steps = np.arange(step, max(stop[chunk].max(initial=0.0), step) + step, step)
        t = np.broadcast_to(steps, (len(chunk), len(steps)))
        valid = t < stop[chunk, None]
        samples = origins[rays[chunk], None, :] + t[..., None] * direction[chunk, None, :]
        flat, _ = _flat_index(grid, samples[valid])
        target.reshape(-1)[flat] = GEOMETRIC_FREE
    flat, _ = _flat_index(grid, xyz)
    target.reshape(-1)[flat] = GEOMETRIC_OCCUPIED
    return target


def test_compiled_carving_equals_the_numpy_sampling_voxel_for_voxel():
    rng = np.random.default_rng(0)
    grid = VoxelGrid((-25.6, -25.6, -3.0, 25.6, 25.6, 1.8), (0.2, 0.2, 0.2))
    xyz = rng.uniform([-40, -40, -4], [40, 40, 3], (30000, 3))  # returns inside and outside the grid
    origins = np.where(rng.random((30000, 1)) < 0.5, 0.0, rng.normal(0, 3, (30000, 3)))  # aggregated frames
    expected = _numpy_carving(grid, xyz, origins, 20000, np.random.default_rng(1))
    actual = geometric_occupancy(grid, xyz, origins, 20000, np.random.default_rng(1))
    assert (expected == GEOMETRIC_FREE).sum() > 100_000
    np.testing.assert_array_equal(actual, expected)
