"""The torch build of the kernel maps is bit-identical to the numpy build (random and real scans)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spot.runtime import VoxelGrid, voxelize
from spot.runtime import kernel_map as numpy_maps
from spot.runtime.io.binary import read_kitti_bin
from spot.runtime.kernel_map import ConvGeometry
from spot.trainer.sparse import build_kernel_map, inverse_kernel_map

from .grids import random_coords

GEOMETRIES = [
    ConvGeometry.make(3, subm=True),
    ConvGeometry.make(3, subm=True, dilation=(1, 2, 3)),
    ConvGeometry.make((1, 3, 5), subm=True),
    ConvGeometry.make(2, 2),
    ConvGeometry.make(3, 2, 1),
    ConvGeometry.make(3, 2, (0, 1, 1)),
    ConvGeometry.make((3, 1, 1), (2, 1, 1)),
]


def assert_identical(coords: np.ndarray, shape, geometry: ConvGeometry, device="cpu") -> None:
    expected = numpy_maps.build_kernel_map(coords, shape, geometry)
    actual = build_kernel_map(torch.from_numpy(coords).to(device), shape, geometry)
    np.testing.assert_array_equal(actual.neighbors.cpu().numpy(), expected.neighbors)
    np.testing.assert_array_equal(actual.out_coords.cpu().numpy(), expected.out_coords)
    assert actual.out_coords.dtype == torch.int32 and actual.neighbors.dtype == torch.int64
    assert actual.out_spatial_shape == expected.out_spatial_shape
    if not geometry.subm:
        inverse, expected_inverse = inverse_kernel_map(actual), numpy_maps.inverse_kernel_map(expected)
        np.testing.assert_array_equal(inverse.neighbors.cpu().numpy(), expected_inverse.neighbors)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_torch_maps_equal_numpy_maps_on_random_grids(rng, geometry):
    for shape, density in (((6, 7, 8), 0.3), ((9, 5, 11), 0.05)):
        assert_identical(random_coords(rng, shape, batch_size=3, density=density), shape, geometry)


@pytest.mark.gpu
@pytest.mark.parametrize("geometry", GEOMETRIES[:5], ids=str)
def test_cuda_maps_equal_numpy_maps(rng, geometry):
    assert_identical(random_coords(rng, (6, 7, 8), batch_size=3), (6, 7, 8), geometry, device="cuda")


@pytest.mark.realdata
def test_torch_maps_equal_numpy_maps_on_a_real_scan(lidar_data):
    scan = read_kitti_bin(lidar_data / "kitti_object/training/velodyne/000000.bin")
    grid = VoxelGrid((0.0, -40.0, -3.0, 70.4, 40.0, 1.0), (0.1, 0.1, 0.1))
    voxels = voxelize(grid, scan.points)
    assert len(voxels) > 10_000
    for geometry in (ConvGeometry.make(3, subm=True), ConvGeometry.make(2, 2), ConvGeometry.make(3, 2, 1)):
        assert_identical(voxels.coords, grid.grid_shape, geometry)
