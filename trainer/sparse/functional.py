"""Sparse convolution as gather-GEMM-scatter over a kernel map, with its own autograd (native backend).

Per kernel map the (input row, output row) pairs of every offset are laid out once, offset after offset
(`ConvPlan`); a convolution then runs, per offset, a gather into a kept scratch buffer, a GEMM and a
scatter-add (`index_add_`, deterministic on CPU), and the backward pass the same with the pairs reversed.
A submanifold convolution's centre offset links every voxel to itself, so it is a dense GEMM with no gather
or scatter. Runs on any device torch runs on. Under autocast (the trainer's bf16 on CUDA) the GEMMs run in the
autocast dtype and the sums over offsets in float32; the output is in the autocast dtype, as a dense conv's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from spot.runtime.kernel_map import KernelMap


@dataclass(frozen=True)
class ConvPlan:
    """The pairs of a kernel map grouped by offset.

    in_rows, out_rows  int64 (P,)  pairs, offset-major then output row (the identity centre left out)
    bounds             list[int]   pairs of offset k are rows bounds[k]:bounds[k+1]
    identity_offset    int | None  the submanifold centre offset, computed as a dense GEMM
    num_outputs        int
    """

    in_rows: torch.Tensor
    out_rows: torch.Tensor
    bounds: list[int]
    identity_offset: int | None
    num_outputs: int


def conv_plan(kernel_map: KernelMap) -> ConvPlan:
    """The map's `ConvPlan`, built on first use and cached on the map."""
    if "conv_plan" not in kernel_map.cache:
        neighbors = kernel_map.neighbors  # (K, V_out)
        volume, num_outputs = neighbors.shape
        identity = volume // 2 if kernel_map.geometry.subm else None
        linked = neighbors >= 0
        if identity is not None:
            linked[identity] = False
        flat = torch.nonzero(linked.reshape(-1)).flatten()
        bounds = [0, *itertools.accumulate(linked.sum(1).tolist())]
        kernel_map.cache["conv_plan"] = ConvPlan(
            neighbors.reshape(-1)[flat], flat % num_outputs, bounds, identity, num_outputs
        )
    return kernel_map.cache["conv_plan"]


class _Workspace:
    """Scratch buffers reused from call to call on CPU.

    A fresh CPU allocation of tens of megabytes is mapped anew by the C allocator and page-faults on first
    touch, which costs more than the gather that fills it; per-offset slices of a kept buffer also stay in
    cache between the gather, the GEMM and the scatter. CUDA's caching allocator already reuses memory.
    Three slots of the largest (pairs of one offset x channels) seen; one convolution at a time per process
    (training runs one thread of convolutions; DDP uses processes).
    """

    def __init__(self):
        self._buffers: dict[tuple, torch.Tensor] = {}

    def get(self, slot: int, rows: int, cols: int, like: torch.Tensor) -> torch.Tensor:
        if like.device.type != "cpu":
            return like.new_empty(rows, cols)
        key = (slot, like.dtype)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < rows * cols:
            buffer = self._buffers[key] = like.new_empty(rows * cols)
        return buffer[: rows * cols].view(rows, cols)


WORKSPACE = _Workspace()


def _offsets(plan: ConvPlan):
    """(k, input rows, output rows) of every offset with pairs, the identity centre left out."""
    for k in range(len(plan.bounds) - 1):
        start, end = plan.bounds[k], plan.bounds[k + 1]
        if k != plan.identity_offset and end > start:
            yield k, plan.in_rows[start:end], plan.out_rows[start:end]


class SparseConvFunction(torch.autograd.Function):
    """features (V_in, C_in), weight (C_out, k_z, k_y, k_x, C_in) -> (V_out, C_out) over a `ConvPlan`."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, weight: torch.Tensor, plan: ConvPlan) -> torch.Tensor:
        ctx.input_dtypes = (features.dtype, weight.dtype)
        low = _autocast_dtype(features)
        if low is not None:  # autocast: GEMMs in its dtype (bf16 / fp16), sums over offsets in float32
            features, weight = features.to(low), weight.to(low)
        c_out, c_in = weight.shape[0], weight.shape[-1]
        kernel = weight.reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous()  # (K, C_in, C_out)
        total = _accumulator_dtype(features)
        if plan.identity_offset is not None:
            out = torch.mm(features, kernel[plan.identity_offset]).to(total)
        else:
            out = features.new_zeros(plan.num_outputs, c_out, dtype=total)
        for k, in_rows, out_rows in _offsets(plan):
            gathered = torch.index_select(features, 0, in_rows, out=WORKSPACE.get(0, len(in_rows), c_in, features))
            product = torch.mm(gathered, kernel[k], out=WORKSPACE.get(1, len(in_rows), c_out, features))
            out.index_add_(0, out_rows, product.to(total))
        ctx.save_for_backward(features, kernel)
        ctx.plan, ctx.weight_shape = plan, weight.shape
        return out.to(features.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        features, kernel = ctx.saved_tensors
        plan: ConvPlan = ctx.plan
        grad_out = grad_out.to(features.dtype).contiguous()
        want_features, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        c_in, c_out = kernel.shape[1], kernel.shape[2]
        total = _accumulator_dtype(features)
        grad_features = grad_kernel = None
        if want_features:
            kernel_t = kernel.transpose(1, 2).contiguous()  # (K, C_out, C_in)
            if plan.identity_offset is not None:
                grad_features = torch.mm(grad_out, kernel_t[plan.identity_offset]).to(total)
            else:
                grad_features = features.new_zeros(features.shape, dtype=total)
        if want_weight:
            grad_kernel = torch.zeros_like(kernel)  # one GEMM per offset: nothing to sum across offsets
            if plan.identity_offset is not None:
                torch.mm(features.t(), grad_out, out=grad_kernel[plan.identity_offset])
        for k, in_rows, out_rows in _offsets(plan):
            grad_rows = torch.index_select(grad_out, 0, out_rows, out=WORKSPACE.get(0, len(out_rows), c_out, grad_out))
            if want_weight:
                gathered = torch.index_select(features, 0, in_rows, out=WORKSPACE.get(1, len(in_rows), c_in, features))
                torch.mm(gathered.t(), grad_rows, out=grad_kernel[k])
            if want_features:
                product = torch.mm(grad_rows, kernel_t[k], out=WORKSPACE.get(2, len(in_rows), c_in, features))
                grad_features.index_add_(0, in_rows, product.to(total))
        features_dtype, weight_dtype = ctx.input_dtypes
        grad_weight = grad_kernel.permute(2, 0, 1).reshape(ctx.weight_shape).to(weight_dtype) if want_weight else None
        return (grad_features.to(features_dtype) if want_features else None), grad_weight, None


def _autocast_dtype(features: torch.Tensor) -> torch.dtype | None:
    """The autocast dtype where autocast is on for the features' device (the trainer's bf16 on CUDA), else None."""
    device = features.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None


def _accumulator_dtype(features: torch.Tensor) -> torch.dtype:
    """float32 sums for 16-bit features: bf16 keeps 8 mantissa bits, too few to add up to 27 offsets."""
    return torch.float32 if features.dtype in (torch.float16, torch.bfloat16) else features.dtype


def sparse_conv(features: torch.Tensor, weight: torch.Tensor, kernel_map: KernelMap) -> torch.Tensor:
    """(V_in, C_in) features through `weight` [C_out, k_z, k_y, k_x, C_in] along `kernel_map` -> (V_out, C_out)."""
    return SparseConvFunction.apply(features, weight, conv_plan(kernel_map))
