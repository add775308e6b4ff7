"""spot.runtime.fused: compiled kernel maps equal the numpy build; the fused convolution equals the numpy one."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from test_kernel_map import GEOMETRIES, random_coords  # tests/runtime is on sys.path (no package)

from spot.runtime import SpotInputError, fused
from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map, transpose_neighbors
from spot.runtime.sparse_conv import sparse_conv as numpy_sparse_conv

pytest.importorskip("numba")
compiled = pytest.importorskip("spot.runtime.fused.kernel_map")
kernels = pytest.importorskip("spot.runtime.fused.kernels")


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
