"""Sparse convolution in numpy over a kernel map: the CPU reference semantics of sparse layers in exported graphs.

The autoware-flavour graph carries each sparse layer as custom nodes whose convolution (`ImplicitGemm`) reads
an output-stationary neighbour table; this is what such a node computes (spconv 2.x semantics, weight layout
[C_out, k_z, k_y, k_x, C_in]), written once so that the ONNX reference evaluator, tests and any engine are
checked against the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .kernel_map import KernelMap


def sparse_conv(features: np.ndarray, weight: np.ndarray, kernel_map: KernelMap) -> np.ndarray:
    """(V_in, C_in) features through `weight` along `kernel_map` -> float32 (V_out, C_out)."""
    volume = kernel_map.neighbors.shape[0]
    return _gather_gemm_scatter(features, weight, map(kernel_map.pairs, range(volume)), kernel_map.num_outputs)


def neighbor_table_conv(features: np.ndarray, weight: np.ndarray, neighbors: np.ndarray) -> np.ndarray:
    """The same over a bare (K, V_out) table of input rows (-1 where a neighbour is empty) -> float32 (V_out, C_out)."""
    pairs = ((neighbors[k][rows], rows) for k, rows in enumerate(np.flatnonzero(row >= 0) for row in neighbors))
    return _gather_gemm_scatter(features, weight, pairs, neighbors.shape[1])


def _gather_gemm_scatter(features, weight, pairs: Iterable[tuple[np.ndarray, np.ndarray]], num_outputs: int):
    """Per offset k: gather its input rows, multiply by its (C_in, C_out) weight, add onto its output rows (unique
    within an offset, so a fancy-index `+=` is exact)."""
    c_out, c_in = weight.shape[0], weight.shape[-1]
    kernel = np.asarray(weight, dtype=np.float32).reshape(c_out, -1, c_in).transpose(1, 2, 0)  # (K, C_in, C_out)
    features = np.asarray(features, dtype=np.float32)
    out = np.zeros((num_outputs, c_out), dtype=np.float32)
    for k, (in_rows, out_rows) in enumerate(pairs):
        if len(in_rows):
            out[out_rows] += features[in_rows] @ kernel[k]
    return out
