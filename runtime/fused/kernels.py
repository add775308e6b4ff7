"""The fused sparse convolution: gather, GEMM and scatter in one compiled, multi-threaded kernel per layer.

A layer is `out[o] = bias + sum over offsets k of features[neighbors[k, o]] @ kernel[k]` (rows where the
table says -1 contribute nothing), with an optional ReLU. The table is output-stationary (one row per offset,
one column per output voxel: `KernelMap.neighbors`, or its transpose for an inverse convolution), so the
outputs split into tiles of `TILE_ROWS` consecutive rows and each thread owns the tiles it takes: no two
threads ever write the same row, without atomics or locks, and every output row sums its terms in the same
order whatever the thread count (results do not depend on it). Tiles are handed out one at a time (dynamic
scheduling): on a shared machine a thread that loses its core does not hold back half the layer.

Within a tile, per offset, the kernel walks the tile's slice of the offset's table row, gathers the input
rows it names into a small contiguous block, multiplies it by the offset's (C_in, C_out) weight in one BLAS
call (numba's `np.dot`, single-threaded inside the tile) and adds the products in place to the tile's output
rows, which stay in cache across the offsets. Reading the table directly costs about what reading its pairs
regrouped by tile would (8 bytes per entry against 16 per pair, at 27-43 % occupancy) and saves the
regrouping pass per map and scan (about 2 ms of 45 on the benchmark scan, measured A/B in one process).

Measured alternatives, all slower on the 2-core benchmark machine: per-pair vector-matrix loops (numba cannot
tell LLVM that the output and weight arrays do not alias, so the accumulators never stay in registers: 2-4x
slower per layer than the tiled BLAS calls, which reach 50-70 GFLOP/s at 16 channels and 150-170 at 64-128),
one GEMM over the dense (tile, K * C_in) neighbourhood (LiDAR neighbourhoods are 27-43 % occupied: 2-4x the
arithmetic), whole-layer per-offset GEMMs (BLAS's own threads stall on a shared machine: one synchronisation
per offset instead of one per layer), and tiles of 64-1024 rows (within 3 % of 256 over the network).
"""

from __future__ import annotations

import numba
import numpy as np

from .jit import compiled

TILE_ROWS = 256  # output rows per tile: the gathered rows and products of an offset stay within L1 / L2


@compiled(parallel=True)
def _convolve(features, kernel, bias, neighbors, tile_rows, relu, out):  # pragma: no cover - compiled
    volume, c_in, c_out = kernel.shape
    num_outputs = out.shape[0]
    for tile in numba.prange((num_outputs + tile_rows - 1) // tile_rows):
        first = tile * tile_rows
        last = min(first + tile_rows, num_outputs)
        gathered = np.empty((tile_rows, c_in), dtype=np.float32)
        products = np.empty((tile_rows, c_out), dtype=np.float32)
        rows = np.empty(tile_rows, dtype=np.int64)
        for o in range(first, last):
            for d in range(c_out):
                out[o, d] = bias[d]
        for k in range(volume):
            n = 0
            for o in range(first, last):
                i = neighbors[k, o]
                if i >= 0:
                    for c in range(c_in):
                        gathered[n, c] = features[i, c]
                    rows[n] = o
                    n += 1
            if n == 0:
                continue
            np.dot(gathered[:n], kernel[k], products[:n])
            for r in range(n):
                o = rows[r]
                for d in range(c_out):
                    out[o, d] += products[r, d]
        if relu:
            for o in range(first, last):
                for d in range(c_out):
                    out[o, d] = max(out[o, d], np.float32(0.0))


def sparse_conv(
    features: np.ndarray, kernel: np.ndarray, bias: np.ndarray, neighbors: np.ndarray, relu: bool = False
) -> np.ndarray:
    """features float32 (V_in, C_in), kernel float32 (K, C_in, C_out), bias float32 (C_out,), the int64
    (K, V_out) neighbour table -> float32 (V_out, C_out), ReLU applied when `relu`. Runs on
    `numba.get_num_threads()` threads."""
    volume, c_in, c_out = kernel.shape
    if features.shape[1] != c_in or neighbors.ndim != 2 or neighbors.shape[0] != volume or bias.shape != (c_out,):
        raise ValueError(
            f"sparse_conv: features {features.shape}, kernel {kernel.shape}, bias {bias.shape} and a neighbour "
            f"table of shape {neighbors.shape} do not fit together"
        )
    out = np.empty((neighbors.shape[1], c_out), dtype=np.float32)
    with _dynamic_scheduling():
        _convolve(np.ascontiguousarray(features, dtype=np.float32), kernel, bias,
                  np.ascontiguousarray(neighbors, dtype=np.int64), TILE_ROWS, relu, out)  # fmt: skip
    return out


@compiled(parallel=True)
def _concat_columns(first, second, out):  # pragma: no cover - compiled
    width = first.shape[1]
    for row in numba.prange(first.shape[0]):
        for c in range(width):
            out[row, c] = first[row, c]
        for c in range(second.shape[1]):
            out[row, width + c] = second[row, c]


def concat_columns(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """float32 (V, C1) and (V, C2) -> (V, C1 + C2): a UNet's skip concatenation, row-parallel. Copying first
    and gathering from one array is faster than gathering each row from two (0.6-1.1 ms slower per decoder
    layer, measured), and this copy costs a third of an onnxruntime session running the same `Concat`."""
    if first.ndim != 2 or second.ndim != 2 or len(first) != len(second):
        raise ValueError(f"concat_columns: shapes {first.shape} and {second.shape} do not fit together")
    out = np.empty((len(first), first.shape[1] + second.shape[1]), dtype=np.float32)
    _concat_columns(np.ascontiguousarray(first, dtype=np.float32), np.ascontiguousarray(second, dtype=np.float32),
                    out)  # fmt: skip
    return out


class _dynamic_scheduling:
    """prange hands out one iteration (tile) at a time in this block (numba's default splits them evenly)."""

    def __enter__(self):
        self._previous = numba.set_parallel_chunksize(1)

    def __exit__(self, *exc):
        numba.set_parallel_chunksize(self._previous)
