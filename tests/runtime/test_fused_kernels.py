"""spot.runtime.fused: compiled voxelization, kernel maps and point labels equal the numpy builds; the fused
convolution equals the numpy one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from test_kernel_map import GEOMETRIES, random_coords  # tests/runtime is on sys.path (no package)

from spot.runtime import SpotInputError, fused
from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map, transpose_neighbors
from spot.runtime.sparse_conv import sparse_conv as numpy_sparse_conv
from spot.runtime.voxelize import VoxelGrid, voxelize

pytest.importorskip("numba")
compiled = pytest.importorskip("spot.runtime.fused.kernel_map")
kernels = pytest.importorskip("spot.runtime.fused.kernels")
compiled_voxelize = pytest.importorskip("spot.runtime.fused.voxelize")
compiled_labels = pytest.importorskip("spot.runtime.fused.labels")
KITTI_SCAN = Path(__file__).resolve().parents[3] / "shared/data/lidar/kitti_object/training/velodyne/000001.bin"


def _assert_same_voxels(actual, expected):
    for field in ("coords", "features", "num_points", "point_to_voxel"):
        a, e = getattr(actual, field), getattr(expected, field)
        assert a.dtype == e.dtype, field
        np.testing.assert_array_equal(a, e, err_msg=field)  # bit for bit, features included
    assert actual.batch_size == expected.batch_size == 1


@pytest.mark.parametrize("voxel_size", [(0.5, 0.5, 0.25), (0.05, 0.05, 0.05), (7.0, 7.0, 7.0)])
def test_compiled_voxelize_equals_the_numpy_build(voxel_size):
    rng = np.random.default_rng(7)
    grid = VoxelGrid((-10.0, -8.0, -2.0, 10.0, 8.0, 2.0), voxel_size)
    points = rng.uniform(-12, 12, (20_000, 5)).astype(np.float32)
    points[::7, :3] = np.round(points[::7, :3] / 0.5) * 0.5  # points on voxel faces
    points[::97, 0] = np.nan
    points[1::97, 2] = np.inf
    points[:3000] = points[3000:6000]  # duplicates: many points per voxel
    _assert_same_voxels(compiled_voxelize.voxelize(grid, points), voxelize(grid, points))


def test_compiled_voxelize_of_scans_with_no_point_inside():
    grid = VoxelGrid((0, 0, 0, 1, 1, 1), (0.5, 0.5, 0.5))
    for points in (np.full((4, 4), 5.0, np.float32), np.full((1, 3), np.nan, np.float32)):
        actual = compiled_voxelize.voxelize(grid, points)
        _assert_same_voxels(actual, voxelize(grid, points))
        assert len(actual) == 0 and (actual.point_to_voxel == -1).all()


@pytest.mark.skipif(not KITTI_SCAN.is_file(), reason="needs ../shared/data/lidar (real KITTI scans)")
def test_compiled_voxelize_of_a_real_scan():
    points = np.fromfile(KITTI_SCAN, dtype=np.float32).reshape(-1, 4)
    grid = VoxelGrid((-51.2, -51.2, -3.0, 51.2, 51.2, 1.8), (0.2, 0.2, 0.2))
    _assert_same_voxels(compiled_voxelize.voxelize(grid, points), voxelize(grid, points))


def test_compiled_point_labels_equal_the_numpy_ones():
    from spot.runtime.perception import _numpy_point_labels

    rng = np.random.default_rng(8)
    logits = rng.standard_normal((500, 19)).astype(np.float32) * 4
    logits[::11, 3] = logits[::11, 5] = 50.0  # ties: the first maximum wins
    point_to_voxel = rng.integers(-1, 500, 3000)
    kept = np.sort(rng.choice(4000, 3000, replace=False))
    results = []
    for fill in (compiled_labels.point_labels, _numpy_point_labels):
        labels, scores = np.full(4000, -100, np.int32), np.zeros(4000, np.float32)
        fill(logits, point_to_voxel, kept, labels, scores)
        results.append((labels, scores))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)
    tied = (point_to_voxel >= 0) & (point_to_voxel % 11 == 0)
    assert (results[0][0][kept[tied]] == 3).all() and (results[0][0][kept[point_to_voxel < 0]] == -100).all()


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_compiled_maps_equal_the_numpy_build(geometry):
    rng = np.random.default_rng(3)
    shape = (6, 7, 9)
    coords = random_coords(rng, shape, batch_size=3)
    expected, actual = build_kernel_map(coords, shape, geometry), compiled.build_kernel_map(coords, shape, geometry)

    np.testing.assert_array_equal(actual.neighbors, expected.neighbors)
    np.testing.assert_array_equal(actual.out_coords, expected.out_coords)
    assert actual.out_coords.dtype == np.int32 and actual.neighbors.dtype == np.int64
    assert actual.out_spatial_shape == expected.out_spatial_shape
    np.testing.assert_array_equal(compiled.transpose_neighbors(actual), transpose_neighbors(expected))


@pytest.mark.parametrize("geometry", [g for g in GEOMETRIES if g.subm], ids=str)
def test_compiled_submanifold_maps_split_into_parallel_chunks_equal_the_numpy_build(geometry):
    coords = random_coords(np.random.default_rng(9), (10, 30, 40), batch_size=3, density=0.3)
    assert len(coords) > 2 * compiled.SUBMANIFOLD_CHUNK  # walks that start mid-table, by binary search
    expected = build_kernel_map(coords, (10, 30, 40), geometry)
    np.testing.assert_array_equal(compiled.build_kernel_map(coords, (10, 30, 40), geometry).neighbors,
                                  expected.neighbors)  # fmt: skip


def test_compiled_maps_of_empty_and_single_voxel_sets():
    for coords in (np.zeros((0, 4), np.int32), np.array([[0, 2, 2, 2]], np.int32)):
        for geometry in (ConvGeometry.make(3, subm=True), ConvGeometry.make(3, 2, 1)):
            expected = build_kernel_map(coords, (4, 4, 4), geometry)
            actual = compiled.build_kernel_map(coords, (4, 4, 4), geometry)
            np.testing.assert_array_equal(actual.neighbors, expected.neighbors)
            np.testing.assert_array_equal(actual.out_coords, expected.out_coords)


def _layer(rng, kind: str, c_in: int, c_out: int):
    shape = (8, 12, 12)
    coords = random_coords(rng, shape, batch_size=2, density=0.3)
    geometry = ConvGeometry.make(3, subm=True) if kind == "subm" else ConvGeometry.make(3, 2, 1)
    kernel_map = build_kernel_map(coords, shape, geometry)
    if kind == "inverse":
        kernel_map = inverse_kernel_map(kernel_map)
    weight = rng.standard_normal((c_out, *geometry.kernel_size, c_in)).astype(np.float32)
    features = rng.standard_normal((kernel_map.num_inputs, c_in)).astype(np.float32)
    return features, weight, kernel_map


@pytest.mark.parametrize("kind", ["subm", "strided", "inverse"])
@pytest.mark.parametrize(("c_in", "c_out"), [(4, 16), (32, 16), (64, 128)])
def test_fused_convolution_equals_the_numpy_reference(kind, c_in, c_out):
    rng = np.random.default_rng(4)
    features, weight, kernel_map = _layer(rng, kind, c_in, c_out)
    kernel = np.ascontiguousarray(weight.reshape(c_out, -1, c_in).transpose(1, 2, 0))  # (K, C_in, C_out)
    bias = rng.standard_normal(c_out).astype(np.float32)
    expected = numpy_sparse_conv(features, weight, kernel_map) + bias

    out = kernels.sparse_conv(features, kernel, bias, kernel_map.neighbors)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(kernels.sparse_conv(features, kernel, bias, kernel_map.neighbors, relu=True),
                                  np.maximum(out, 0))  # fmt: skip


def test_concat_columns_equals_numpy_and_refuses_rows_that_differ():
    rng = np.random.default_rng(10)
    first, second = rng.standard_normal((5000, 32)).astype(np.float32), rng.standard_normal((5000, 16))
    np.testing.assert_array_equal(kernels.concat_columns(first, second),
                                  np.concatenate([first, second.astype(np.float32)], axis=1))  # fmt: skip
    with pytest.raises(ValueError, match="do not fit together"):
        kernels.concat_columns(first, second[:-1])


def test_results_do_not_depend_on_the_thread_count():
    import numba

    features, weight, kernel_map = _layer(np.random.default_rng(5), "subm", 32, 32)
    kernel = np.ascontiguousarray(weight.reshape(32, -1, 32).transpose(1, 2, 0))
    bias = np.zeros(32, np.float32)
    outputs = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        numba.set_num_threads(threads)
        outputs.append(kernels.sparse_conv(features, kernel, bias, kernel_map.neighbors))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])  # each output row is summed in the same order


def test_mismatched_shapes_are_refused():
    features, _, kernel_map = _layer(np.random.default_rng(6), "subm", 4, 8)
    kernel = np.zeros((27, 5, 8), np.float32)
    with pytest.raises(ValueError, match="do not fit together"):
        kernels.sparse_conv(features, kernel, np.zeros(8, np.float32), kernel_map.neighbors)


def test_missing_dependencies_are_one_error_saying_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba" else real(name, *a))
    assert not fused.available()
    with pytest.raises(SpotInputError, match=r"model needs numba \(the fused CPU path\): pip install 'spot-lidar\[cpu"):
        fused.require("model")


def test_kernels_compile_in_memory_where_no_cache_folder_is_writable(monkeypatch, caplog):
    from numba.core.caching import CacheImpl

    from spot.runtime.fused.jit import compiled as jit

    monkeypatch.setattr(CacheImpl, "_locator_classes", [])  # what numba finds with a read-only install and home

    @jit()
    def add_one(x):
        return x + 1

    assert add_one(41) == 42
    assert "compiling it in memory" in caplog.text and "NUMBA_CACHE_DIR" in caplog.text
