"""Sparse convolution as gather-GEMM-scatter over a kernel map, with its own autograd (native backend).

Per kernel map the (input row, output row) pairs of every offset are laid out once, offset after offset
(`ConvPlan`), so a convolution is one gather of all pairs, one small GEMM per offset on contiguous slices,
and one scatter-add; the backward pass reuses the plan. A submanifold convolution's centre offset links
every voxel to itself, so it is a dense GEMM with no gather or scatter. Runs on any device torch runs on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

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
        counts = linked.sum(1).tolist()
        bounds = [0]
        for count in counts:
            bounds.append(bounds[-1] + count)
        kernel_map.cache["conv_plan"] = ConvPlan(
            neighbors.reshape(-1)[flat], flat % num_outputs, bounds, identity, num_outputs
        )
    return kernel_map.cache["conv_plan"]


def _per_offset_mm(rows: torch.Tensor, weights: torch.Tensor, bounds: list[int], skip: int | None) -> torch.Tensor:
    """rows (P, A) @ weights[k] (A, B) on each offset's slice -> (P, B)."""
    out = rows.new_empty(rows.shape[0], weights.shape[2])
    for k in range(weights.shape[0]):
        start, end = bounds[k], bounds[k + 1]
        if k != skip and end > start:
            torch.mm(rows[start:end], weights[k], out=out[start:end])
    return out


class SparseConvFunction(torch.autograd.Function):
    """features (V_in, C_in), weight (C_out, k_z, k_y, k_x, C_in) -> (V_out, C_out) over a `ConvPlan`."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, weight: torch.Tensor, plan: ConvPlan) -> torch.Tensor:
        c_out, c_in = weight.shape[0], weight.shape[-1]
        kernel = weight.reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous()  # (K, C_in, C_out)
        if plan.identity_offset is not None:
            out = torch.mm(features, kernel[plan.identity_offset])
        else:
            out = features.new_zeros(plan.num_outputs, c_out)
        gathered = features.index_select(0, plan.in_rows)  # (P, C_in)
        out.index_add_(0, plan.out_rows, _per_offset_mm(gathered, kernel, plan.bounds, plan.identity_offset))
        ctx.save_for_backward(features, kernel)
        ctx.plan, ctx.weight_shape = plan, weight.shape
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        features, kernel = ctx.saved_tensors
        plan: ConvPlan = ctx.plan
        grad_out = grad_out.contiguous()
        grad_rows = grad_out.index_select(0, plan.out_rows)  # (P, C_out)
        grad_features = grad_weight = None
        if ctx.needs_input_grad[0]:
            kernel_t = kernel.transpose(1, 2).contiguous()  # (K, C_out, C_in)
            if plan.identity_offset is not None:
                grad_features = torch.mm(grad_out, kernel_t[plan.identity_offset])
            else:
                grad_features = features.new_zeros(features.shape)
            grad_features.index_add_(
                0, plan.in_rows, _per_offset_mm(grad_rows, kernel_t, plan.bounds, plan.identity_offset)
            )
        if ctx.needs_input_grad[1]:
            grad_kernel = torch.zeros_like(kernel)
            gathered = features.index_select(0, plan.in_rows)
            for k in range(kernel.shape[0]):
                start, end = plan.bounds[k], plan.bounds[k + 1]
                if k == plan.identity_offset:
                    torch.mm(features.t(), grad_out, out=grad_kernel[k])
                elif end > start:
                    torch.mm(gathered[start:end].t(), grad_rows[start:end], out=grad_kernel[k])
            grad_weight = grad_kernel.permute(2, 0, 1).reshape(ctx.weight_shape)
        return grad_features, grad_weight, None


def sparse_conv(features: torch.Tensor, weight: torch.Tensor, kernel_map: KernelMap) -> torch.Tensor:
    """(V_in, C_in) features through `weight` [C_out, k_z, k_y, k_x, C_in] along `kernel_map` -> (V_out, C_out)."""
    return SparseConvFunction.apply(features, weight, conv_plan(kernel_map))
