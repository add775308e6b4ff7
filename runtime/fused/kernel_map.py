"""Kernel maps in compiled code: the algorithm of `spot.runtime.kernel_map`, written as numba loops.

The result is the same `KernelMap` (identical tables, tested against the numpy build), so every consumer of a
map is unchanged. The steps are those of the numpy build, without its temporaries:

- submanifold: input keys are sorted (the voxelization contract), so the neighbour of output `o` through an
  offset is found by a search for `key(o) + shift` in the keys. The queries of one (z, y) shift increase with
  `o`, so the search is a merge walk (one pointer per shift, never moving back) instead of a binary search,
  and the x-neighbours follow the pointer a few positions on: nine walks for a 3x3x3 map;
- strided: every input proposes its output `(in + padding - offset * dilation) / stride` for every offset
  where that is a whole number inside the output grid. One offset's proposals increase with the input row
  (the map is monotonic per axis), so the K sorted runs are merged (the numpy build's stable sort does the
  same), unique keys become the output voxels (sorted by key, so maps chain level after level) and each
  proposal fills its table entry;
- inverse: the transpose of the strided table (`transpose_neighbors`).

Every function is serial and releases the GIL (`nogil`): `sparse_plan.build_plan_maps` overlaps the
submanifold maps on a helper thread with the chain of strided ones, as it does for the numpy build. Compiled
code is cached on disk (`jit.compiled`), so only the first process on a machine compiles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from ..kernel_map import KEY_SENTINEL, ConvGeometry, KernelMap, output_spatial_shape
from ..voxelize import linear_keys
from .jit import compiled

SUBMANIFOLD_CHUNK = 4096  # outputs per parallel task of a submanifold map


@compiled(parallel=True)
def _submanifold_table(coords, keys, shape, kernel_size, dilation):  # pragma: no cover - compiled
    """(K, V) table: row of the voxel at `coords[o] + (offset - centre) * dilation`, or -1. `keys` ends with
    a sentinel larger than every key (V + 1 entries), so the walks need no bounds checks. The outputs split
    into chunks walked in parallel, each walk starting from a binary search."""
    count = keys.shape[0] - 1
    kz, ky, kx = kernel_size
    table = np.empty((kz * ky * kx, count), dtype=np.int64)
    first_dx = -((kx - 1) // 2) * dilation[2]
    for chunk in numba.prange((count + SUBMANIFOLD_CHUNK - 1) // SUBMANIFOLD_CHUNK):
        begin, end = chunk * SUBMANIFOLD_CHUNK, min((chunk + 1) * SUBMANIFOLD_CHUNK, count)
        for a in range(kz):
            dz = (a - (kz - 1) // 2) * dilation[0]
            for b in range(ky):
                dy = (b - (ky - 1) // 2) * dilation[1]
                shift = (dz * shape[1] + dy) * shape[2]
                row = (a * ky + b) * kx
                # first key >= the smallest query of output o; queries increase with o
                pointer = np.searchsorted(keys, keys[begin] + shift + first_dx)
                for o in range(begin, end):
                    base = keys[o] + shift
                    while keys[pointer] < base + first_dx:
                        pointer += 1
                    z, y = coords[o, 1] + dz, coords[o, 2] + dy
                    row_inside = z >= 0 and z < shape[0] and y >= 0 and y < shape[1]
                    position = pointer
                    for c in range(kx):
                        dx = first_dx + c * dilation[2]
                        query = base + dx
                        while keys[position] < query:
                            position += 1
                        x = coords[o, 3] + dx
                        hit = row_inside and x >= 0 and x < shape[2] and keys[position] == query
                        table[row + c, o] = position if hit else -1
    return table


@compiled()
def _strided_table(coords, out_shape, kernel_size, stride, padding, dilation):  # pragma: no cover - compiled
    """(K, V_out) table and sorted output keys of a regular convolution (spconv's output rule)."""
    count = coords.shape[0]
    kz, ky, kx = kernel_size
    volume = kz * ky * kx
    in_extent = np.zeros(3, dtype=np.int64)
    for i in range(count):
        for axis in range(3):
            in_extent[axis] = max(in_extent[axis], coords[i, axis + 1] + 1)
    # output coordinate along each axis per kernel index and input coordinate, -1 where there is none
    along = np.full((3, max(kz, ky, kx), in_extent.max()), -1, dtype=np.int64)
    for axis in range(3):
        for k in range(kernel_size[axis]):
            for c in range(in_extent[axis]):
                numerator = c + padding[axis] - k * dilation[axis]
                out = numerator // stride[axis]
                if numerator >= 0 and out * stride[axis] == numerator and out < out_shape[axis]:
                    along[axis, k, c] = out
    proposed = np.empty(count * volume, dtype=np.int64)
    rows = np.empty(count * volume, dtype=np.int64)
    starts = np.zeros(volume + 1, dtype=np.int64)
    n = 0
    for k in range(volume):  # one run per offset, increasing with the input row
        a, b, c = k // (ky * kx), (k // kx) % ky, k % kx
        for i in range(count):
            z, y, x = along[0, a, coords[i, 1]], along[1, b, coords[i, 2]], along[2, c, coords[i, 3]]
            if z >= 0 and y >= 0 and x >= 0:
                proposed[n] = ((coords[i, 0] * out_shape[0] + z) * out_shape[1] + y) * out_shape[2] + x
                rows[n] = i
                n += 1
        starts[k + 1] = n
    sorted_keys, order = _merge_runs(proposed[:n], starts)
    unique = np.empty(n, dtype=np.int64)
    slot = np.empty(n, dtype=np.int64)  # output row of each proposal, in proposal order
    m = -1
    for j in range(n):
        if m < 0 or unique[m] != sorted_keys[j]:
            m += 1
            unique[m] = sorted_keys[j]
        slot[order[j]] = m
    table = np.full((volume, m + 1), -1, dtype=np.int64)
    for k in range(volume):  # run after run: each fills one table row, left to right
        for j in range(starts[k], starts[k + 1]):
            table[k, slot[j]] = rows[j]
    return table, unique[: m + 1]


@compiled()
def _merge_runs(keys, starts):  # pragma: no cover - compiled
    """(sorted keys, their positions in `keys`) for `keys` made of sorted runs `keys[starts[r]:starts[r + 1]]`
    (stable): runs are merged pairwise, keys carried along, in log2(runs) linear passes."""
    n = keys.shape[0]
    keys, order = keys.copy(), np.arange(n)
    spare_keys, spare_order = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    bounds = starts.copy()
    while bounds.shape[0] > 2:
        merged = np.empty((bounds.shape[0] + 1) // 2 + 1, dtype=np.int64)
        count = 0
        for r in range(0, bounds.shape[0] - 1, 2):
            lo, mid = bounds[r], bounds[r + 1]
            hi = bounds[r + 2] if r + 2 < bounds.shape[0] else mid
            a, b = lo, mid
            for out in range(lo, hi):
                if b >= hi or (a < mid and keys[a] <= keys[b]):
                    spare_keys[out], spare_order[out] = keys[a], order[a]
                    a += 1
                else:
                    spare_keys[out], spare_order[out] = keys[b], order[b]
                    b += 1
            merged[count] = lo
            count += 1
        merged[count] = bounds[bounds.shape[0] - 1]
        bounds = merged[: count + 1]
        keys, spare_keys = spare_keys, keys
        order, spare_order = spare_order, order
    return keys, order


@compiled()
def decode_keys(keys, shape):  # pragma: no cover - compiled
    """int32 (V, 4) `(batch, z, y, x)` of int64 linear keys (`spot.runtime.voxelize.decode_keys`, compiled)."""
    coords = np.empty((keys.shape[0], 4), dtype=np.int32)
    for row in range(keys.shape[0]):
        key = keys[row]
        coords[row, 3] = key % shape[2]
        key //= shape[2]
        coords[row, 2] = key % shape[1]
        key //= shape[1]
        coords[row, 1] = key % shape[0]
        coords[row, 0] = key // shape[0]
    return coords


@compiled()
def _transpose_table(neighbors, num_inputs):  # pragma: no cover - compiled
    volume, num_outputs = neighbors.shape
    table = np.full((volume, num_inputs), -1, dtype=np.int64)
    for k in range(volume):
        for o in range(num_outputs):
            i = neighbors[k, o]
            if i >= 0:
                table[k, i] = o
    return table


def build_kernel_map(coords: np.ndarray, spatial_shape: Sequence[int], geometry: ConvGeometry) -> KernelMap:
    """`spot.runtime.kernel_map.build_kernel_map` (numpy) in compiled code: the same `KernelMap`."""
    in_shape = tuple(int(s) for s in spatial_shape)
    out_shape = output_spatial_shape(in_shape, geometry)
    coords64 = np.ascontiguousarray(coords, dtype=np.int64)
    g = geometry
    if g.subm:
        keys = np.append(linear_keys(coords64, in_shape), KEY_SENTINEL)
        table = _submanifold_table(coords64, keys, in_shape, g.kernel_size, g.dilation)
        return KernelMap(table, coords, out_shape, coords, in_shape, geometry)
    table, out_keys = _strided_table(coords64, out_shape, g.kernel_size, g.stride, g.padding, g.dilation)
    return KernelMap(table, decode_keys(out_keys, out_shape), out_shape, coords, in_shape, geometry)


def transpose_neighbors(kernel_map: KernelMap) -> np.ndarray:
    """(K, V_in) table of the inverse convolution: `spot.runtime.kernel_map.transpose_neighbors`, compiled."""
    return _transpose_table(kernel_map.neighbors, kernel_map.num_inputs)


def warm_up() -> None:
    """Compile (or load from numba's cache) every function above with the argument types scans use."""
    coords = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 1, 1]], dtype=np.int32)
    for geometry in (ConvGeometry.make(3, subm=True), ConvGeometry.make(2, 2)):
        transpose_neighbors(build_kernel_map(coords, (2, 2, 2), geometry))
