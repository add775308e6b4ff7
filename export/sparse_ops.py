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
autoware  Autoware's sparse-convolution TensorRT plugins (`export.autoware_ops` has the table and its sources):
          per kernel map one `autoware::GetIndicePairsImplicitGemm` on the voxel set's coordinates (the graph
          builds its maps where the data is; layers with the same indice key share it), per convolution one
          `autoware::ImplicitGemm` and a standard Add of its bias; an inverse convolution turns its strided map
          around in standard ops. The graph takes only the voxel features and the input coordinates.
fused     one `spot.fused::SparseConv` node per layer: features (V_in, C_in), the output-stationary neighbour
          table (K, V_out) of its kernel map (a graph input: `neighbors.<map>`, or `inverse_neighbors.<map>`
          for an inverse convolution), kernel (K, C_in, C_out), bias. `spot.runtime.fused` runs these nodes
          with its compiled kernels and the rest of the graph in onnxruntime.
"""

from __future__ import annotations

import numpy as np
import torch

from spot.runtime.kernel_map import ConvGeometry

from . import autoware_ops

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


class AutowareIndicePairs(torch.autograd.Function):
    """`autoware::GetIndicePairsImplicitGemm`: coords int32 (V, 4) (batch, z, y, x) on grid `shape` ->
    out_coords int32 (V_out, 4) (the input coordinates when submanifold), pair_fwd int32 (K, V_out), pair_mask
    int32 (V_out, 1), mask_argsort int32 (V_out,), num_act_out int32 (); computed by the numpy reference."""

    @staticmethod
    def forward(ctx, coords, geometry: ConvGeometry, shape: tuple):
        return tuple(torch.from_numpy(a) for a in autoware_ops.indice_pairs(coords.numpy(), geometry, shape))

    @staticmethod
    def symbolic(g, coords, geometry: ConvGeometry, shape: tuple):
        spec = autoware_ops.GET_INDICE_PAIRS
        attributes = autoware_ops.symbolic_attributes(spec, autoware_ops.indice_pairs_attributes(geometry, shape))
        outputs = g.op(f"{autoware_ops.DOMAIN}::{spec.name}", coords, outputs=5, **attributes)
        sizes = ([None, 4], [geometry.volume, None], [None, 1], [None], [])
        for value, size in zip(outputs, sizes, strict=True):
            value.setType(coords.type().with_sizes(size))
        return outputs


class AutowareImplicitGemm(torch.autograd.Function):
    """`autoware::ImplicitGemm`: features (V_in, C_in), weight [C_out, k_z, k_y, k_x, C_in] and a map's pair_fwd,
    pair_mask, mask_argsort -> (V_out, C_out); computed by the numpy reference."""

    @staticmethod
    def forward(ctx, features, weight, pair_fwd, pair_mask, mask_argsort, subm: bool):
        arrays = (t.numpy() for t in (features, weight, pair_fwd, pair_mask, mask_argsort))
        return torch.from_numpy(autoware_ops.implicit_gemm(*arrays))

    @staticmethod
    def symbolic(g, features, weight, pair_fwd, pair_mask, mask_argsort, subm: bool):
        spec = autoware_ops.IMPLICIT_GEMM
        attributes = autoware_ops.symbolic_attributes(spec, autoware_ops.implicit_gemm_attributes(subm))
        out = g.op(f"{autoware_ops.DOMAIN}::{spec.name}", features, weight, pair_fwd, pair_mask, mask_argsort,
                   **attributes)  # fmt: skip
        out.setType(features.type().with_sizes([None, weight.type().sizes()[0]]))
        return out


class AutowareInversePairs(torch.autograd.Function):
    """The inverse convolution's (pair_fwd, pair_mask, mask_argsort) from its strided map's pair_fwd (K, V_coarse)
    (K = `volume`) and the fine coordinates (V_fine, 4) it returns to, in standard ONNX: ScatterElements turns
    the table around (empty entries land in a spare column that is sliced off), the mask is the sum of 2^k over
    the linked offsets and the schedule an arange (spconv's `do_sort=0`)."""

    @staticmethod
    def forward(ctx, pair_fwd, fine_coords, volume: int):
        table = autoware_ops.transposed_pairs(pair_fwd.numpy(), fine_coords.shape[0])
        argsort = np.arange(table.shape[1], dtype=np.int32)
        return tuple(torch.from_numpy(a) for a in (table, autoware_ops.offset_mask(table), argsort))

    @staticmethod
    def symbolic(g, pair_fwd, fine_coords, volume: int):
        fine = g.op("Gather", g.op("Shape", fine_coords), _int64(g, [0]), axis_i=0)  # (1,) V_fine
        coarse = g.op("Gather", g.op("Shape", pair_fwd), _int64(g, [1]), axis_i=0)  # (1,) V_coarse
        padded = g.op("Concat", _int64(g, [volume]), g.op("Add", fine, _int64(g, [1])), axis_i=0)
        empty = g.op("ConstantOfShape", padded, value_t=torch.tensor([-1], dtype=torch.int32))  # (K, V_fine + 1)
        targets = g.op("Where", _linked(g, pair_fwd), g.op("Cast", pair_fwd, to_i=_INT64), fine)
        rows = g.op("Unsqueeze", _range(g, coarse), _int64(g, [0]))  # (1, V_coarse)
        updates = g.op("Expand", rows, g.op("Concat", _int64(g, [volume]), coarse, axis_i=0))
        scattered = g.op("ScatterElements", empty, targets, updates, axis_i=1)
        table = g.op("Slice", scattered, _int64(g, [0]), fine, _int64(g, [1]))  # (K, V_fine)
        bits = g.op("Constant", value_t=torch.tensor([[1 << k] for k in range(volume)], dtype=torch.int32))
        weighted = g.op("Mul", g.op("Cast", _linked(g, table), to_i=_INT32), bits)
        mask = g.op("Unsqueeze", g.op("ReduceSum", weighted, _int64(g, [0]), keepdims_i=0), _int64(g, [1]))
        argsort = _range(g, fine)
        for value, size in ((table, [volume, None]), (mask, [None, 1]), (argsort, [None])):
            value.setType(pair_fwd.type().with_sizes(size))
        return table, mask, argsort


_INT32, _INT64 = torch.onnx.TensorProtoDataType.INT32, torch.onnx.TensorProtoDataType.INT64


def _linked(g, table):
    """bool: the entries of an int32 pair table that hold a row (not -1)."""
    return g.op("GreaterOrEqual", table, g.op("Constant", value_t=torch.tensor(0, dtype=torch.int32)))


def _range(g, count):
    """int32 (n,) 0 .. n-1 for a (1,) int64 count n."""
    limit = g.op("Cast", g.op("Squeeze", count, _int64(g, [0])), to_i=_INT32)
    zero, one = (g.op("Constant", value_t=torch.tensor(v, dtype=torch.int32)) for v in (0, 1))
    return g.op("Range", zero, limit, one)


def _is_none(value) -> bool:
    return value is None or (hasattr(value, "node") and value.node().mustBeNone())
