"""Kernel maps (numpy): spconv's offset order and output rule, checked by hand and against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spot.runtime import SpotInputError
from spot.runtime.kernel_map import (
    ConvGeometry,
    build_kernel_map,
    check_coords,
    inverse_kernel_map,
    kernel_offsets,
    output_spatial_shape,
    transpose_neighbors,
)
from spot.runtime.voxelize import linear_keys


def random_coords(rng, shape, batch_size=2, density=0.25) -> np.ndarray:
    grid = np.array(list(itertools.product(range(batch_size), *(range(s) for s in shape))))
    coords = grid[rng.random(len(grid)) < density]
    return coords[np.argsort(linear_keys(coords, shape))].astype(np.int32)


def brute_force(coords, shape, g: ConvGeometry):
    """{(output coordinate tuple, k): input row} straight from the definition, one pair at a time."""
    pairs = {}
    out_shape = output_spatial_shape(shape, g)
    for row, (b, *position) in enumerate(coords.tolist()):
        for k, offset in enumerate(kernel_offsets(g.kernel_size).tolist()):
            if g.subm:
                out = [
                    p - (o - (ks - 1) // 2) * d
                    for p, o, ks, d in zip(position, offset, g.kernel_size, g.dilation, strict=True)
                ]
            else:
                numerators = [
                    p + pad - o * d for p, o, pad, d in zip(position, offset, g.padding, g.dilation, strict=True)
                ]
                if any(n % s for n, s in zip(numerators, g.stride, strict=True)):
                    continue
                out = [n // s for n, s in zip(numerators, g.stride, strict=True)]
            if all(0 <= o < n for o, n in zip(out, out_shape, strict=True)):
                pairs[((b, *out), k)] = row
    if g.subm:  # submanifold outputs are the inputs only
        inputs = {tuple(c) for c in coords.tolist()}
        pairs = {key: row for key, row in pairs.items() if key[0] in inputs}
    return pairs


def as_pairs(kernel_map) -> dict:
    out_coords = [tuple(c) for c in kernel_map.out_coords.tolist()]
    return {
        (out_coords[o], k): int(i)
        for k in range(kernel_map.neighbors.shape[0])
        for i, o in zip(*kernel_map.pairs(k), strict=True)
    }


def test_offsets_are_z_major_like_the_weight_layout():
    offsets = kernel_offsets((3, 2, 2))
    assert offsets.shape == (12, 3)
    np.testing.assert_array_equal(offsets[:3], [[0, 0, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(offsets[11], [2, 1, 1])
    weight = np.arange(12).reshape(3, 2, 2)  # the [k_z, k_y, k_x] block of a [C_out, k_z, k_y, k_x, C_in] weight
    assert all(weight[tuple(o)] == k for k, o in enumerate(offsets))


def test_output_shape_follows_spconv():
    assert output_spatial_shape((41, 1600, 1408), ConvGeometry.make(3, 2, 1)) == (21, 800, 704)
    assert output_spatial_shape((11, 400, 352), ConvGeometry.make(3, 2, (0, 1, 1))) == (5, 200, 176)
    assert output_spatial_shape((5, 200, 176), ConvGeometry.make((3, 1, 1), (2, 1, 1))) == (2, 200, 176)
    assert output_spatial_shape((7, 8, 9), ConvGeometry.make(2, 2)) == (3, 4, 4)
    assert output_spatial_shape((7, 8, 9), ConvGeometry.make(3, subm=True)) == (7, 8, 9)
    with pytest.raises(SpotInputError, match="too small"):
        output_spatial_shape((1, 8, 8), ConvGeometry.make(3, 1, 0))


def test_hand_computed_strided_map():
    # one batch, a 1 x 1 x 4 row of voxels at x = 1, 2, 3; kernel (1, 1, 3), stride 2, padding 1
    coords = np.array([[0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 3]], dtype=np.int32)
    g = ConvGeometry.make((1, 1, 3), (1, 1, 2), (0, 0, 1))
    kernel_map = build_kernel_map(coords, (1, 1, 4), g)
    # grid (4 + 2 - 2 - 1) // 2 + 1 = 2; out x = (in + 1 - k) / 2: in 1 -> (k=0: 1), (k=2: 0);
    # in 2 -> (k=1: 1); in 3 -> (k=2: 1), (k=0: 2 is outside the grid)
    np.testing.assert_array_equal(kernel_map.out_coords, [[0, 0, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(kernel_map.neighbors, [[-1, 0], [-1, 1], [0, 2]])
    assert kernel_map.out_spatial_shape == (1, 1, 2)


def test_hand_computed_submanifold_map():
    coords = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.int32)
    kernel_map = build_kernel_map(coords, (1, 2, 2), ConvGeometry.make(3, subm=True))
    centre = 13
    np.testing.assert_array_equal(kernel_map.neighbors[centre], [0, 1, 2, 3])
    # offset (1, 1, 0) reads x - 1: voxel 1 reads voxel 0; batch 1 never reads batch 0
    np.testing.assert_array_equal(kernel_map.neighbors[12], [-1, 0, -1, -1])
    np.testing.assert_array_equal(kernel_map.neighbors[14], [1, -1, -1, -1])
    # offset (1, 2, 2) reads (y + 1, x + 1): voxel 0 reads voxel 2
    np.testing.assert_array_equal(kernel_map.neighbors[17], [2, -1, -1, -1])
    assert (kernel_map.neighbors >= 0).sum() == 4 + 2 * 3


GEOMETRIES = [
    ConvGeometry.make(3, subm=True),
    ConvGeometry.make((1, 3, 5), subm=True),
    ConvGeometry.make(3, subm=True, dilation=2),
    ConvGeometry.make(2, 2),
    ConvGeometry.make(3, 2, 1),
    ConvGeometry.make(3, 2, (0, 1, 1)),
    ConvGeometry.make((3, 1, 1), (2, 1, 1)),
    ConvGeometry.make(3, 1, 1, 2),
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_matches_brute_force(geometry):
    rng = np.random.default_rng(1)
    shape = (5, 6, 7)
    coords = random_coords(rng, shape)
    kernel_map = build_kernel_map(coords, shape, geometry)
    assert as_pairs(kernel_map) == brute_force(coords, shape, geometry)
    out_keys = linear_keys(kernel_map.out_coords, kernel_map.out_spatial_shape)
    assert (np.diff(out_keys) > 0).all(), "outputs follow the voxel contract: unique, sorted by linear key"
    assert kernel_map.neighbors.dtype == np.int64 and kernel_map.out_coords.dtype == np.int32


def test_inverse_map_reverses_every_pair():
    rng = np.random.default_rng(2)
    coords = random_coords(rng, (6, 6, 6))
    forward = build_kernel_map(coords, (6, 6, 6), ConvGeometry.make(3, 2, 1))
    inverse = inverse_kernel_map(forward)
    np.testing.assert_array_equal(inverse.out_coords, coords)
    assert inverse.out_spatial_shape == (6, 6, 6) and inverse.in_spatial_shape == forward.out_spatial_shape
    forward_pairs = {(int(i), int(o), k) for k in range(27) for i, o in zip(*forward.pairs(k), strict=True)}
    inverse_pairs = {(int(i), int(o), k) for k in range(27) for o, i in zip(*inverse.pairs(k), strict=True)}
    assert forward_pairs == inverse_pairs
    np.testing.assert_array_equal(transpose_neighbors(inverse), forward.neighbors)


@pytest.mark.parametrize("geometry", [g for g in GEOMETRIES if g.subm], ids=str)
def test_submanifold_pairs_kept_from_the_search_are_the_table(geometry):
    coords = random_coords(np.random.default_rng(4), (5, 6, 7))
    kernel_map = build_kernel_map(coords, (5, 6, 7), geometry)
    for k in range(geometry.volume):
        out_rows = np.flatnonzero(kernel_map.neighbors[k] >= 0)
        in_rows, cached_out_rows = kernel_map.pairs(k)
        np.testing.assert_array_equal(cached_out_rows, out_rows)
        np.testing.assert_array_equal(in_rows, kernel_map.neighbors[k, out_rows])


@pytest.mark.parametrize(
    ("geometry", "tiles"),
    [(ConvGeometry.make(2, 2), True), (ConvGeometry.make((1, 2, 2), (1, 2, 2)), True),
     (ConvGeometry.make(3, 2, 1), False), (ConvGeometry.make(2, 1), False), (ConvGeometry.make(3, subm=True), False)],
    ids=str,
)  # fmt: skip
def test_a_tiling_convolution_links_every_input_exactly_once(geometry, tiles):
    coords = random_coords(np.random.default_rng(5), (6, 6, 6))
    links_per_input = np.bincount(
        build_kernel_map(coords, (6, 6, 6), geometry).neighbors.ravel() + 1, minlength=len(coords) + 1
    )[1:]
    assert geometry.tiles == tiles
    assert (links_per_input == 1).all() == tiles


def test_submanifold_offsets_mirror():
    coords = random_coords(np.random.default_rng(3), (5, 5, 5))
    kernel_map = build_kernel_map(coords, (5, 5, 5), ConvGeometry.make(3, subm=True))
    np.testing.assert_array_equal(transpose_neighbors(kernel_map), kernel_map.neighbors[::-1])


def test_bad_geometry_and_coordinates_are_refused():
    with pytest.raises(SpotInputError, match="odd kernel"):
        ConvGeometry.make(2, subm=True)
    with pytest.raises(SpotInputError, match="3 ints"):
        ConvGeometry.make((3, 3))
    with pytest.raises(SpotInputError, match="sorted by linear key"):
        check_coords(np.array([[0, 0, 0, 2], [0, 0, 0, 1]]), (1, 1, 4))
    with pytest.raises(SpotInputError, match="inside the grid"):
        check_coords(np.array([[0, 0, 0, 4]]), (1, 1, 4))
    with pytest.raises(SpotInputError, match=r"\(V, 4\)"):
        check_coords(np.zeros((3, 3), dtype=np.int32), (1, 1, 4))
    assert check_coords(np.array([[0, 0, 0, 1], [1, 0, 0, 0]]), (1, 1, 4)).dtype == np.int32


def test_empty_coordinates_give_empty_maps():
    empty = np.zeros((0, 4), dtype=np.int32)
    for geometry in (ConvGeometry.make(3, subm=True), ConvGeometry.make(3, 2, 1)):
        kernel_map = build_kernel_map(empty, (4, 4, 4), geometry)
        assert kernel_map.neighbors.shape == (27, 0) and kernel_map.num_outputs == 0
