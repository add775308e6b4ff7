"""Kernel maps of sparse 3D convolution (DESIGN §3), built from voxel coordinates alone.

A kernel map says, for every output voxel and every kernel offset, which input voxel feeds it. It is stored
output-stationary as `neighbors`, int64 (K, V_out): the input row that reaches output row `o` through offset
`k`, or -1 where that neighbour is empty. That table is the whole convolution plan: the trainer's native
backend gathers with it, the exported graph takes it as an input, and the per-offset (input row, output row)
pairs of a gather-GEMM-scatter are `KernelMap.pairs(k)`.

Semantics are spconv 2.x's, so weights trained with spconv load unchanged:
- offsets are ordered z-major, then y, then x: offset `k` is the flat index of `[k_z, k_y, k_x]`, the same
  flattening as the weight `[C_out, k_z, k_y, k_x, C_in]`;
- a strided (regular) convolution links input `i` to output `o = (i + padding - offset * dilation) / stride`
  wherever that is a whole number inside the output grid `(in + 2p - d(k-1) - 1) // s + 1`, exactly like a
  dense `conv3d` (cross-correlation); its output voxels are every `o` reached, sorted by linear key;
- a submanifold convolution keeps the input voxels and links `o` to `i = o + (offset - (k - 1) / 2) * dilation`;
- an inverse convolution runs the map of the strided convolution it undoes backwards (`transpose`).

The algorithm is written once against a small array namespace (`ArrayOps`), so the numpy build here (no
torch, for the vehicle runtime) and the torch build in `spot.trainer.sparse.kernel_map` (CPU and CUDA) run the
same steps and give bit-identical maps. Lookups hash nothing: input coordinates are sorted by linear key
(the voxelization contract), so a neighbour is found by `searchsorted`; along x with unit dilation the next
neighbour's position follows from the previous one without a search, so a 3x3x3 map costs nine searches.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import SpotInputError
from .voxelize import linear_keys

Triple = tuple[int, int, int]
Array = Any  # numpy.ndarray here, torch.Tensor in the trainer's build
KEY_SENTINEL = np.iinfo(np.int64).max


def as_triple(value: int | Sequence[int], name: str) -> Triple:
    """Broadcast an int or a 3-sequence to a (z, y, x) triple of ints."""
    values = (value,) * 3 if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != 3:
        raise SpotInputError(f"{name} must be an int or 3 ints (z, y, x), got {value!r}")
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class ConvGeometry:
    """Kernel size, stride, padding and dilation per axis (z, y, x); `subm` for submanifold convolution."""

    kernel_size: Triple
    stride: Triple = (1, 1, 1)
    padding: Triple = (0, 0, 0)
    dilation: Triple = (1, 1, 1)
    subm: bool = False

    @classmethod
    def make(cls, kernel_size, stride=1, padding=0, dilation=1, subm=False) -> ConvGeometry:
        geometry = cls(
            as_triple(kernel_size, "kernel_size"),
            as_triple(stride, "stride"),
            as_triple(padding, "padding"),
            as_triple(dilation, "dilation"),
            bool(subm),
        )
        geometry.validate()
        return geometry

    def validate(self) -> None:
        if min(self.kernel_size + self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise SpotInputError(f"convolution geometry must be positive (padding >= 0), got {self}")
        if self.subm and (self.stride != (1, 1, 1) or any(k % 2 == 0 for k in self.kernel_size)):
            raise SpotInputError(f"submanifold convolution needs stride 1 and odd kernel sizes, got {self}")

    @property
    def volume(self) -> int:
        """K, the number of kernel offsets."""
        return int(np.prod(self.kernel_size))

    @property
    def tiles(self) -> bool:
        """Strided with kernel == stride, no padding or dilation: every input voxel reaches exactly one output
        (the kernel blocks tile the grid), so the inverse convolution gives every voxel exactly one term."""
        unit = (1, 1, 1)
        return not self.subm and self.kernel_size == self.stride and self.padding == (0, 0, 0) and self.dilation == unit


def kernel_offsets(kernel_size: Triple) -> np.ndarray:
    """int64 (K, 3) kernel offsets (k_z, k_y, k_x) in spconv's order (x fastest)."""
    return np.array(list(itertools.product(*(range(k) for k in kernel_size))), dtype=np.int64).reshape(-1, 3)


def output_spatial_shape(spatial_shape: Sequence[int], geometry: ConvGeometry) -> Triple:
    """spconv's output grid `(in + 2p - d(k-1) - 1) // s + 1` (the input grid for submanifold convolution)."""
    if geometry.subm:
        return tuple(int(s) for s in spatial_shape)
    shape = tuple(
        (int(n) + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(
            spatial_shape, geometry.kernel_size, geometry.stride, geometry.padding, geometry.dilation, strict=True
        )
    )
    if min(shape) < 1:
        raise SpotInputError(f"grid {tuple(spatial_shape)} is too small for {geometry}: output grid {shape}")
    return shape


class ArrayOps:
    """The few array functions the algorithm needs, for numpy; the trainer subclasses it for torch."""

    def arange(self, n: int) -> Array:
        return np.arange(n, dtype=np.int64)

    def full(self, shape: tuple[int, ...], value: int) -> Array:
        return np.full(shape, value, dtype=np.int64)

    def int64(self, array: Array) -> Array:
        return np.asarray(array, dtype=np.int64)

    def int32(self, array: Array) -> Array:
        return np.asarray(array, dtype=np.int32)

    def searchsorted(self, sorted_keys: Array, queries: Array) -> Array:
        return np.searchsorted(sorted_keys, queries, side="left")

    def unique_inverse(self, keys: Array) -> tuple[Array, Array]:
        """Sorted unique keys and, for each key, its row among them.

        A stable sort merges the sorted runs the candidates come in (several times faster than np.unique's).
        """
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        inverse = np.empty(len(keys), dtype=np.int64)
        inverse[order] = np.cumsum(first) - 1
        return ordered[first], inverse

    def concat(self, arrays: list[Array]) -> Array:
        return np.concatenate(arrays)

    def stack(self, arrays: list[Array], axis: int) -> Array:
        return np.stack(arrays, axis=axis)

    def nonzero(self, mask: Array) -> Array:
        return np.flatnonzero(mask)

    def where(self, mask: Array, values: Array, fill: Array | int) -> Array:
        return np.where(mask, values, fill)


NUMPY_OPS = ArrayOps()


@dataclass
class KernelMap:
    """Output-stationary kernel map of one convolution.

    neighbors         int64 (K, V_out)  input row feeding output row o through offset k; -1 where empty
    out_coords        int32 (V_out, 4)  (batch, z, y, x) of the outputs, sorted by linear key
    out_spatial_shape (Z, Y, X) of the output grid
    in_coords         int32 (V_in, 4)   the input coordinates it was built from (an inverse conv restores them)
    in_spatial_shape  (Z, Y, X) of the input grid
    geometry          the convolution it belongs to
    Arrays are numpy here and torch tensors in the trainer's build; `cache` holds forms derived from them.
    """

    neighbors: Array
    out_coords: Array
    out_spatial_shape: Triple
    in_coords: Array
    in_spatial_shape: Triple
    geometry: ConvGeometry
    ops: ArrayOps = field(default=NUMPY_OPS, repr=False, compare=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_inputs(self) -> int:
        return int(self.in_coords.shape[0])

    @property
    def num_outputs(self) -> int:
        return int(self.out_coords.shape[0])

    def pairs(self, k: int) -> tuple[Array, Array]:
        """(input rows, output rows) linked by offset k, in increasing output row.

        A submanifold map keeps the pairs its search found (`cache["pairs"]`), so they cost no pass over the
        (K, V_out) table."""
        if "pairs" in self.cache:
            return self.cache["pairs"][k]
        inputs = self.neighbors[k]  # (V_out,) input row per output row, -1 where empty
        out_rows = self.ops.nonzero(inputs >= 0)
        return inputs[out_rows], out_rows


def _decode_keys(keys: Array, shape: Triple, ops: ArrayOps) -> Array:
    z, y, x = shape
    columns = [keys % x, (keys // x) % y, (keys // (x * y)) % z, keys // (x * y * z)]
    return ops.int32(ops.stack(columns[::-1], axis=1))


def _axis_masks(column: Array, shifts: list[int], size: int) -> dict[int, Array]:
    """For each shift, the mask of `column + shift` inside [0, size) (`True` for no shift: always inside)."""
    return {shift: True if shift == 0 else (column >= -shift) & (column < size - shift) for shift in set(shifts)}


def _submanifold_neighbors(
    coords: Array, shape: Triple, geometry: ConvGeometry, ops: ArrayOps
) -> tuple[Array, list[tuple[Array, Array]]]:
    """(K, V) table of `coords` itself, linking o to o + (offset - centre) * dilation, and its pairs per offset.

    Offsets k and K-1-k are mirror images (o reaches i through one exactly when i reaches o through the
    other), so only the first half is searched; the centre links every voxel to itself. The rows found for
    an offset increase with the output row (keys are sorted), so both halves' pairs come out in output order.
    """
    keys = linear_keys(coords, shape)
    keys_ext = ops.concat([keys, ops.full((1,), KEY_SENTINEL)])  # position V never matches
    offsets = kernel_offsets(geometry.kernel_size)
    deltas = (offsets - (np.asarray(geometry.kernel_size) - 1) // 2) * np.asarray(geometry.dilation)
    volume, centre = len(deltas), len(deltas) // 2
    inside = [_axis_masks(coords[:, a + 1], deltas[:centre, a].tolist(), shape[a]) for a in range(3)]
    rows_all = ops.arange(keys.shape[0])
    keys_before = ops.concat([ops.full((1,), KEY_SENTINEL), keys[:-1]])
    neighbors = ops.full((volume, keys.shape[0]), -1)
    neighbors[centre] = rows_all
    pairs: list = [None] * volume
    pairs[centre] = (rows_all, rows_all)
    position = hit = None
    for k, (dz, dy, dx) in enumerate(deltas[:centre].tolist()):
        query = keys + ((dz * shape[1] + dy) * shape[2] + dx)
        if offsets[k, 2] == 0:
            inside_zy = inside[0][dz] & inside[1][dy]
        if (dz, dy, dx) == (0, 0, -1):  # the voxel before in key order, where it is the x-neighbour
            position = ops.where(keys_before == query, rows_all - 1, rows_all)
        elif offsets[k, 2] != 0 and geometry.dilation[2] == 1:  # the first key >= query is one past the last hit
            position = position + hit
        else:
            position = ops.searchsorted(keys, query)
        hit = keys_ext[position] == query
        rows = ops.nonzero(hit & inside_zy & inside[2][dx])
        found = position[rows]
        neighbors[k, rows] = found
        neighbors[volume - 1 - k, found] = rows
        pairs[k], pairs[volume - 1 - k] = (found, rows), (rows, found)
    return neighbors, pairs


def _strided_axis(column: Array, axis: int, out_shape: Triple, geometry: ConvGeometry) -> list[tuple[Array, Array]]:
    """Per kernel index along one axis: (valid mask, output coordinate) of `(in + p - k * d) / s`."""
    stride, padding, dilation = geometry.stride[axis], geometry.padding[axis], geometry.dilation[axis]
    result = []
    for k in range(geometry.kernel_size[axis]):
        numerator = column + (padding - k * dilation)
        out = numerator // stride
        result.append(((out * stride == numerator) & (numerator >= 0) & (out < out_shape[axis]), out))
    return result


def _strided_neighbors(coords: Array, out_shape: Triple, geometry: ConvGeometry, ops: ArrayOps) -> tuple[Array, Array]:
    """(K, V_out) table and sorted output keys of a regular convolution with spconv's output rule."""
    z_axis, y_axis, x_axis = (_strided_axis(coords[:, a + 1], a, out_shape, geometry) for a in range(3))
    batch_key = coords[:, 0] * out_shape[0]
    candidates = []
    for valid_z, out_z in z_axis:
        for valid_y, out_y in y_axis:
            valid_zy, key_zy = valid_z & valid_y, ((batch_key + out_z) * out_shape[1] + out_y) * out_shape[2]
            for valid_x, out_x in x_axis:
                rows = ops.nonzero(valid_zy & valid_x)
                candidates.append((rows, (key_zy + out_x)[rows]))
    out_keys, out_rows = ops.unique_inverse(ops.concat([keys for _, keys in candidates]))
    neighbors = ops.full((geometry.volume, out_keys.shape[0]), -1)
    start = 0
    for k, (rows, _) in enumerate(candidates):
        neighbors[k, out_rows[start : start + rows.shape[0]]] = rows
        start += rows.shape[0]
    return neighbors, out_keys


def build_kernel_map(
    coords: Array, spatial_shape: Sequence[int], geometry: ConvGeometry, ops: ArrayOps = NUMPY_OPS
) -> KernelMap:
    """Kernel map of a submanifold or strided convolution over `(batch, z, y, x)` coordinates.

    `coords` follow the voxelization contract (unique, sorted by linear key); the output of a strided map
    follows it too, so maps chain level after level.
    """
    in_shape = tuple(int(s) for s in spatial_shape)
    coords64 = ops.int64(coords)
    out_shape = output_spatial_shape(in_shape, geometry)
    if geometry.subm:
        neighbors, pairs = _submanifold_neighbors(coords64, in_shape, geometry, ops)
        return KernelMap(neighbors, coords, out_shape, coords, in_shape, geometry, ops, cache={"pairs": pairs})
    neighbors, out_keys = _strided_neighbors(coords64, out_shape, geometry, ops)
    return KernelMap(neighbors, _decode_keys(out_keys, out_shape, ops), out_shape, coords, in_shape, geometry, ops)


def transpose_neighbors(kernel_map: KernelMap, ops: ArrayOps = NUMPY_OPS) -> Array:
    """(K, V_in) table of the same pairs seen from the inputs: the output row each input feeds through k.

    It is the map of the inverse convolution, and the backward pass of the forward one. Each (input, offset)
    reaches at most one output, so the table is well defined.
    """
    volume, num_outputs, num_inputs = kernel_map.neighbors.shape[0], kernel_map.num_outputs, kernel_map.num_inputs
    flat = kernel_map.neighbors.reshape(-1)
    linked = ops.nonzero(flat >= 0)  # offset-major, then output row
    table = ops.full((volume * num_inputs,), -1)
    table[(linked // num_outputs) * num_inputs + flat[linked]] = linked % num_outputs
    return table.reshape(volume, num_inputs)


def inverse_kernel_map(forward: KernelMap, ops: ArrayOps = NUMPY_OPS) -> KernelMap:
    """Map of the inverse convolution of `forward`: from its outputs back to its input coordinates."""
    return KernelMap(
        transpose_neighbors(forward, ops),
        forward.in_coords,
        forward.in_spatial_shape,
        forward.out_coords,
        forward.out_spatial_shape,
        forward.geometry,
        ops,
    )


def check_coords(coords: Array, spatial_shape: Sequence[int], *, name: str = "coords") -> Array:
    """Check what the kernel-map search relies on: integer (V, 4) `(batch, z, y, x)` coordinates inside the
    grid, unique and sorted by linear key. numpy input comes back as int32; torch tensors (the trainer's, checked
    on their device) come back as they are.

    Run it where coordinates come from outside (a user's arrays, `SparseTensor.from_voxels`), not in every
    layer: the layers keep the order.
    """
    tensor = hasattr(coords, "long")
    coords = coords if tensor else np.asarray(coords)
    dtype = coords.dtype
    integer = not (dtype.is_floating_point or dtype.is_complex) if tensor else np.issubdtype(dtype, np.integer)
    if coords.ndim != 2 or coords.shape[1] != 4 or not integer:
        raise SpotInputError(f"{name} must be integer (V, 4) (batch, z, y, x), got {dtype} {tuple(coords.shape)}")
    shape = tuple(int(s) for s in spatial_shape)
    beyond = [bool((coords[:, axis] >= size).any()) for axis, size in enumerate(shape, start=1)]
    if len(coords) and (bool((coords < 0).any()) or any(beyond)):
        raise SpotInputError(f"{name} must lie inside the grid {shape} with batch >= 0")
    keys = linear_keys(coords.long() if tensor else coords, shape)
    ordered = keys[1:] > keys[:-1]
    if not bool(ordered.all()):
        row = int((~ordered).nonzero()[0][0]) + 1  # numpy: a tuple of index arrays; torch: (n, 1) indices
        what = "repeats" if bool(keys[row] == keys[row - 1]) else "sorts before"
        raise SpotInputError(
            f"{name} must be unique and sorted by linear key (see spot.runtime.voxelize): row {row} "
            f"{coords[row].tolist()} {what} row {row - 1} {coords[row - 1].tolist()}"
        )
    return coords if tensor else coords.astype(np.int32, copy=False)
