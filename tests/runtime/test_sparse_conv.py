"""spot.runtime.sparse_conv and sparse_plan: the numpy convolution (the plugin ops' meaning) against torch."""

from __future__ import annotations

import numpy as np
import pytest

from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map
from spot.runtime.sparse_conv import sparse_conv
from spot.runtime.sparse_plan import grouped_pairs

torch = pytest.importorskip("torch")


def _coords(rng, n=400, shape=(8, 16, 16)):
    zyx = np.unique(np.column_stack([rng.integers(0, s, n) for s in shape]), axis=0)
    return np.column_stack([np.zeros(len(zyx), np.int64), zyx]).astype(np.int32), shape


@pytest.mark.parametrize("kind", ["subm", "strided", "inverse"])
def test_numpy_convolution_matches_the_trainer(kind):
    from spot.trainer.sparse import build_kernel_map as torch_map
    from spot.trainer.sparse import inverse_kernel_map as torch_inverse
    from spot.trainer.sparse import sparse_conv as torch_conv

    rng = np.random.default_rng(0)
    coords, shape = _coords(rng)
    geometry = ConvGeometry.make(3, subm=True) if kind == "subm" else ConvGeometry.make(2, stride=2)
    forward = build_kernel_map(coords, shape, geometry)
    kernel_map = inverse_kernel_map(forward) if kind == "inverse" else forward
    features = rng.standard_normal((kernel_map.num_inputs, 5)).astype(np.float32)
    weight = rng.standard_normal((7, *geometry.kernel_size, 5)).astype(np.float32)

    reference_map = torch_map(torch.from_numpy(coords), shape, geometry)
    reference_map = torch_inverse(reference_map) if kind == "inverse" else reference_map
    expected = torch_conv(torch.from_numpy(features), torch.from_numpy(weight), reference_map).numpy()
    np.testing.assert_allclose(sparse_conv(features, weight, kernel_map), expected, rtol=1e-5, atol=1e-5)


def test_grouped_pairs_are_the_map_without_its_centre():
    coords, shape = _coords(np.random.default_rng(1))
    kernel_map = build_kernel_map(coords, shape, ConvGeometry.make(3, subm=True))
    pairs, counts = grouped_pairs(kernel_map)
    assert counts[13] == 0 and counts.sum() == pairs.shape[1]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for k in (0, 12, 26):
        in_rows, out_rows = kernel_map.pairs(k)
        np.testing.assert_array_equal(pairs[:, bounds[k] : bounds[k + 1]], np.stack([in_rows, out_rows]))


def test_plan_maps_built_on_a_helper_thread_equal_the_serial_build():
    from concurrent.futures import ThreadPoolExecutor

    from spot.runtime.sparse_plan import MapSpec, SparsePlan, build_plan_maps

    coords, shape = _coords(np.random.default_rng(2), n=2000, shape=(16, 32, 32))
    subm, down = ConvGeometry.make(3, subm=True), ConvGeometry.make(2, stride=2)
    plan = SparsePlan((MapSpec("subm0", "input", subm), MapSpec("down1", "input", down),
                       MapSpec("subm1", "down1", subm), MapSpec("down2", "down1", down)))  # fmt: skip
    serial = build_plan_maps(plan, coords, shape)
    with ThreadPoolExecutor(1) as pool:
        threaded = build_plan_maps(plan, coords, shape, pool)
    assert set(threaded.maps) == set(serial.maps) and set(threaded.coords) == set(serial.coords)
    for name, kernel_map in serial.maps.items():
        np.testing.assert_array_equal(threaded.maps[name].neighbors, kernel_map.neighbors)
        np.testing.assert_array_equal(grouped_pairs(threaded.maps[name])[0], grouped_pairs(kernel_map)[0])
