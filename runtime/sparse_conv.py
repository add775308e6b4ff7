"""Sparse convolution in numpy over a kernel map: the CPU reference semantics of the `spot` custom ops.

The plugin-flavour graph carries each sparse layer as one custom node; this is what such a node computes
(spconv 2.x semantics, weight layout [C_out, k_z, k_y, k_x, C_in]), written once so that the ONNX reference
evaluator, tests and any engine's plugin are checked against the same numbers.
"""

from __future__ import annotations

import numpy as np

from .kernel_map import KernelMap


def sparse_conv(features: np.ndarray, weight: np.ndarray, kernel_map: KernelMap) -> np.ndarray:
    """(V_in, C_in) features through `weight` along `kernel_map` -> float32 (V_out, C_out)."""
    c_out, c_in = weight.shape[0], weight.shape[-1]
    kernel = np.asarray(weight, dtype=np.float32).reshape(c_out, -1, c_in).transpose(1, 2, 0)  # (K, C_in, C_out)
    out = np.zeros((kernel_map.num_outputs, c_out), dtype=np.float32)
    for k in range(kernel.shape[0]):
        in_rows, out_rows = kernel_map.pairs(k)  # output rows are unique within an offset
        if len(in_rows):
            out[out_rows] += features[in_rows] @ kernel[k]
    return out
