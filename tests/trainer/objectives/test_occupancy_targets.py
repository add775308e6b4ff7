import numpy as np

from spot.runtime import IGNORE_INDEX, VoxelGrid
from spot.trainer.objectives.spot.targets import (
    GEOMETRIC_FREE,
    GEOMETRIC_OCCUPIED,
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
