"""Sparse convolution as traced graph operations: what each flavour writes into the ONNX graph.

Each is a `torch.autograd.Function` whose `forward` computes the real result (so tracing sees real shapes and
the layers after it run) and whose `symbolic` writes the graph:

portable  kernel maps are graph inputs (`pairs` (2, P) grouped by offset, `counts` (K,)); per convolution:
          the accumulator starts as the submanifold centre's dense GEMM plus bias (the bias alone for a strided
          / inverse convolution), then per offset a Gather of its input rows, a MatMul with its (C_in, C_out)
          weight and a ScatterND(add) onto its output rows. Standard ONNX (opset >= 16 for ScatterND's
          reduction), so it runs in any onnxruntime and in TensorRT unchanged.
          An inverse convolution whose strided partner tiles the grid (kernel == stride) gives every output
          row exactly one pair: its products are concatenated and written with one plain ScatterND (a row
          copy), not K accumulating ones (each of which copies the whole accumulator in onnxruntime).
          One ScatterND per offset, not one for all pairs: within an offset every output row is distinct, and
          onnxruntime splits a ScatterND's indices over its threads, so duplicate rows in one node race (wrong
          sums with 2+ threads). Per-offset nodes also need no Concat of the products; onnxruntime runs them in
          place. An implicit GEMM over the dense (V_out, K) neighbour table (one Gather, one MatMul of depth
          K * C_in, no scatter) was measured 2-3x slower per layer on CPU: LiDAR neighbourhoods are 27-43 %
          occupied, so it moves and multiplies 2-4x more data.
plugin    one custom node per layer in the `spot` domain, carrying features and coordinates, so an engine can
          build the kernel maps where the data is (see `export.plugin_ops` for the schemas and a CPU reference).
fused     one `spot.fused::SparseConv` node per layer: features (V_in, C_in), the output-stationary neighbour
          table (K, V_out) of its kernel map (a graph input: `neighbors.<map>`, or `inverse_neighbors.<map>`
          for an inverse convolution), kernel (K, C_in, C_out), bias. `spot.runtime.fused` runs these nodes
          with its compiled kernels and the rest of the graph in onnxruntime.
"""

from __future__ import annotations

import torch

from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map
from spot.runtime.sparse_conv import sparse_conv

DOMAIN = "spot"
FUSED_DOMAIN = "spot.fused"  # spot.runtime.fused.engine.FUSED_DOMAIN reads it


def _int64(g, values):
    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))


class PortableSparseConv(torch.autograd.Function):
    """features (V_in, C_in), kernel (K, C_in, C_out), bias (C_out,) or None, pairs (2, P), counts (K,),
    out_coords (V_out, 4) (only its row count is read) -> (V_out, C_out). `inverse` runs the pairs backwards;
    `one_term` promises every output row exactly one pair."""

    @staticmethod
    def forward(ctx, features, kernel, bias, pairs, counts, out_coords, subm: bool, inverse: bool, one_term: bool):
        in_rows, out_rows = (pairs[1], pairs[0]) if inverse else (pairs[0], pairs[1])
        if subm:
            out = features @ kernel[kernel.shape[0] // 2]
        else:
            out = features.new_zeros(out_coords.shape[0], kernel.shape[2])
        start = 0
        for k, count in enumerate(counts.tolist()):
            rows = slice(start, start + count)
            out.index_add_(0, out_rows[rows], features[in_rows[rows]] @ kernel[k])
            start += count
        return out if bias is None else out + bias

    @staticmethod
    def symbolic(g, features, kernel, bias, pairs, counts, out_coords, subm: bool, inverse: bool, one_term: bool):
        volume = kernel.type().sizes()[0]
        in_rows = g.op("Gather", pairs, _int64(g, 1 if inverse else 0), axis_i=0)  # (P,)
        out_rows = g.op("Gather", pairs, _int64(g, [0] if inverse else [1]), axis_i=0)  # (1, P)
        out_rows = g.op("Transpose", out_rows, perm_i=[1, 0])  # (P, 1): ScatterND indices
        in_per_offset = g.op("Split", in_rows, counts, axis_i=0, outputs=volume)  # K x (P_k,)
        if one_term:
            products = [_offset_product(g, features, in_per_offset[k], kernel, k) for k in range(volume)]
            out = g.op("ScatterND", _accumulator(g, features, kernel, None, out_coords, subm), out_rows,
                       g.op("Concat", *products, axis_i=0))  # fmt: skip
            return out if _is_none(bias) else g.op("Add", out, bias)
        out_per_offset = g.op("Split", out_rows, counts, axis_i=0, outputs=volume)  # K x (P_k, 1)
        out = _accumulator(g, features, kernel, bias, out_coords, subm)  # (V_out, C_out)
        for k in range(volume):
            if subm and k == volume // 2:
                continue  # the centre links every voxel to itself: the dense GEMM in the accumulator
            product = _offset_product(g, features, in_per_offset[k], kernel, k)
            out = g.op("ScatterND", out, out_per_offset[k], product, reduction_s="add")
        return out


def _offset_product(g, features, in_rows, kernel, k: int):
    """(P_k, C_out): the input rows of offset k times its weight."""
    return g.op("MatMul", g.op("Gather", features, in_rows, axis_i=0), _offset_kernel(g, kernel, k))


def _offset_kernel(g, kernel, k: int):
    return g.op("Gather", kernel, _int64(g, k), axis_i=0)  # (C_in, C_out), folded into a constant


def _accumulator(g, features, kernel, bias, out_coords, subm: bool):
    """(V_out, C_out) start of the sum: centre GEMM (+ bias) when submanifold, else the bias (or zeros)."""
    if subm:
        out = g.op("MatMul", features, _offset_kernel(g, kernel, kernel.type().sizes()[0] // 2))
        return out if _is_none(bias) else g.op("Add", out, bias)
    rows = g.op("Gather", g.op("Shape", out_coords), _int64(g, [0]), axis_i=0)
    shape = g.op("Concat", rows, _int64(g, [kernel.type().sizes()[2]]), axis_i=0)
    if _is_none(bias):
        return g.op("ConstantOfShape", shape, value_t=torch.zeros(1, dtype=torch.float32))
    return g.op("Expand", bias, shape)


class FusedSparseConv(torch.autograd.Function):
    """features (V_in, C_in), kernel (K, C_in, C_out), bias (C_out,) or None, neighbors int64 (K, V_out) (-1 where
    empty) -> (V_out, C_out): what `spot.runtime.fused.kernels.sparse_conv` computes."""

    @staticmethod
    def forward(ctx, features, kernel, bias, neighbors):
        out = features.new_zeros(neighbors.shape[1], kernel.shape[2])
        for k in range(neighbors.shape[0]):
            rows = torch.nonzero(neighbors[k] >= 0).squeeze(1)
            out.index_add_(0, rows, features[neighbors[k, rows]] @ kernel[k])
        return out if bias is None else out + bias

    @staticmethod
    def symbolic(g, features, kernel, bias, neighbors):
        inputs = [features, neighbors, kernel] + ([] if _is_none(bias) else [bias])
        out = g.op(f"{FUSED_DOMAIN}::SparseConv", *inputs)
        out.setType(features.type().with_sizes([None, kernel.type().sizes()[2]]))
        return out


class PluginSparseConv(torch.autograd.Function):
    """Computed by the runtime's numpy kernels (what the node means).
    `spot::SparseConv3d`: features (V_in, C_in), coords int32 (V_in, 4), weight [C_out, kz, ky, kx, C_in],
    bias -> features (V_out, C_out), out_coords int32 (V_out, 4) (the input coordinates when submanifold)."""

    @staticmethod
    def forward(ctx, features, coords, weight, bias, geometry: ConvGeometry, key: str, shape: tuple):
        kernel_map = build_kernel_map(coords.numpy(), shape, geometry)
        out = torch.from_numpy(sparse_conv(features.numpy(), weight.numpy(), kernel_map))
        return (out if bias is None else out + bias), torch.from_numpy(kernel_map.out_coords)

    @staticmethod
    def symbolic(g, features, coords, weight, bias, geometry: ConvGeometry, key: str, shape: tuple):
        inputs = [features, coords, weight] + ([] if _is_none(bias) else [bias])
        out, out_coords = g.op(f"{DOMAIN}::SparseConv3d", *inputs, outputs=2, indice_key_s=key,
                               spatial_shape_i=list(shape), subm_i=int(geometry.subm),
                               **_geometry_attributes(geometry))  # fmt: skip
        out.setType(features.type().with_sizes([None, weight.type().sizes()[0]]))
        out_coords.setType(coords.type().with_sizes([None, 4]))
        return out, out_coords


class PluginSparseInverseConv(torch.autograd.Function):
    """`spot::SparseInverseConv3d`: features (V_in, C_in) on the coarse voxels `coords`, back to the fine voxels
    `out_coords` (those the strided convolution `key` started from) -> (V_out, C_out)."""

    @staticmethod
    def forward(ctx, features, coords, out_coords, weight, bias, geometry: ConvGeometry, key: str, shape: tuple):
        kernel_map = inverse_kernel_map(build_kernel_map(out_coords.numpy(), shape, geometry))
        out = torch.from_numpy(sparse_conv(features.numpy(), weight.numpy(), kernel_map))
        return out if bias is None else out + bias

    @staticmethod
    def symbolic(g, features, coords, out_coords, weight, bias, geometry: ConvGeometry, key: str, shape: tuple):
        inputs = [features, coords, out_coords, weight] + ([] if _is_none(bias) else [bias])
        out = g.op(f"{DOMAIN}::SparseInverseConv3d", *inputs, indice_key_s=key, spatial_shape_i=list(shape),
                   **_geometry_attributes(geometry))  # fmt: skip
        out.setType(features.type().with_sizes([None, weight.type().sizes()[0]]))
        return out


def _geometry_attributes(geometry: ConvGeometry) -> dict:
    return {
        "kernel_size_i": list(geometry.kernel_size),
        "stride_i": list(geometry.stride),
        "padding_i": list(geometry.padding),
        "dilation_i": list(geometry.dilation),
    }


def _is_none(value) -> bool:
    return value is None or (hasattr(value, "node") and value.node().mustBeNone())
