import numpy as np
import pytest

from spot.runtime import SpotInputError, VoxelGrid, voxelize
from spot.runtime.voxelize import decode_keys, linear_keys

GRID = VoxelGrid((-4.0, -4.0, -2.0, 4.0, 4.0, 2.0), (0.5, 0.5, 0.25))


def test_grid_shape_is_z_y_x():
    assert GRID.grid_shape == (16, 16, 16)
    assert VoxelGrid((0, 0, 0, 10, 4, 1), (0.5, 0.25, 0.1)).grid_shape == (10, 16, 20)


def test_hand_computed_voxels():
    points = np.array(
        [
            [0.1, 0.1, 0.1, 0.2],  # voxel (z=8, y=8, x=8)
            [0.3, 0.4, 0.2, 0.4],  # same voxel
            [-3.9, 3.9, -1.9, 1.0],  # voxel (0, 15, 0)
            [9.0, 0.0, 0.0, 0.5],  # outside
        ],
        dtype=np.float32,
    )
    voxels = voxelize(GRID, points)
    np.testing.assert_array_equal(voxels.coords, [[0, 0, 15, 0], [0, 8, 8, 8]])
    np.testing.assert_array_equal(voxels.point_to_voxel, [1, 1, 0, -1])
    np.testing.assert_array_equal(voxels.num_points, [1, 2])
    np.testing.assert_allclose(voxels.features[1], [0.2, 0.25, 0.15, 0.3], rtol=1e-6)
    assert voxels.coords.dtype == np.int32 and voxels.features.dtype == np.float32


def test_batch_coords_unique_sorted_and_means_exact():
    rng = np.random.default_rng(0)
    scans = [rng.uniform(-5, 5, size=(n, 4)).astype(np.float32) for n in (500, 800)]
    voxels = voxelize(GRID, scans)
    keys = linear_keys(voxels.coords, GRID.grid_shape)
    assert np.all(np.diff(keys) > 0), "coordinates must be unique and sorted by linear key"
    assert set(np.unique(voxels.coords[:, 0])) == {0, 1}
    points = np.concatenate(scans)
    for row in rng.choice(len(voxels), size=20, replace=False):
        members = points[voxels.point_to_voxel == row]
        np.testing.assert_allclose(voxels.features[row], members.mean(axis=0), rtol=1e-5, atol=1e-6)
        assert voxels.num_points[row] == len(members)
    inside = voxels.point_to_voxel >= 0
    expected_inside = (np.abs(points[:, :2]) < 4).all(1) & (np.abs(points[:, 2]) < 2)
    np.testing.assert_array_equal(inside, expected_inside)


def test_non_finite_and_far_points_are_outside():
    points = np.array([[np.nan, 0, 0, 1], [np.inf, 0, 0, 1], [0, -np.inf, 0, 1], [1e12, 0, 0, 1], [0.1, 0.1, 0.1, 1]],
                      dtype=np.float32)  # fmt: skip
    voxels = voxelize(GRID, points)
    np.testing.assert_array_equal(voxels.point_to_voxel, [-1, -1, -1, -1, 0])
    zyx, inside = GRID.voxel_indices(points[4:])
    np.testing.assert_array_equal(zyx, [[8, 8, 8]])
    assert inside.tolist() == [True]


def test_decode_keys_inverts_linear_keys():
    rng = np.random.default_rng(1)
    coords = np.column_stack([rng.integers(0, 3, 200), rng.integers(0, 16, (200, 3))]).astype(np.int32)
    np.testing.assert_array_equal(decode_keys(linear_keys(coords, GRID.grid_shape), GRID.grid_shape), coords)
    assert decode_keys(np.zeros(0, np.int64), GRID.grid_shape).shape == (0, 4)


def test_voxel_centers_round_trip():
    coords = np.array([[0, 8, 8, 8]], np.int32)
    np.testing.assert_allclose(GRID.voxel_centers(coords), [[0.25, 0.25, 0.125]])


@pytest.mark.parametrize(
    ("pcr", "size"),
    [
        ((0, 0, 0, 1, 1), (0.1, 0.1, 0.1)),
        ((0, 0, 0, 1, 1, 1), (0.1, 0, 0.1)),
        ((0, 0, 0, -1, 1, 1), (1, 1, 1)),
        ((0, 0, 0, 1, 1, 1), (0.1, float("nan"), 0.1)),
        ((-50, -50, -3, 50, 50, 2), (1e-6, 1e-6, 1e-6)),  # 1e23 cells: int64 keys overflow (issue 14.13)
        ((0, 0, 0, 1, 1, 0.2), (0.1, 0.1, 0.5)),  # no whole voxel along z
    ],
)
def test_bad_grid_is_refused(pcr, size):
    with pytest.raises(SpotInputError, match="voxel grid"):
        VoxelGrid(pcr, size)


def test_bad_points_are_refused():
    with pytest.raises(SpotInputError, match="2-D scans"):
        voxelize(GRID, np.zeros(4, np.float32))


def test_bev_extent_is_the_farthest_x_y_bound():
    assert VoxelGrid((-25.6, -20.0, -3.0, 30.0, 10.0, 1.8), (0.2, 0.2, 0.2)).bev_extent_m == 30.0
    assert VoxelGrid((0.0, -39.68, -3.0, 69.12, 39.68, 1.0), (0.16, 0.16, 4.0)).bev_extent_m == 69.12
