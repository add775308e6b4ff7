"""A trained task as a traceable graph: the sparse-layer plan, BatchNorm folding, and graph sparse layers.

`record_plan` runs the task once and reads the kernel maps its layers built (by indice key, in build order)
into a `SparsePlan`. `export_copy` returns a copy of the model in which every sparse convolution is a
`GraphSparseConv` (BatchNorm after it folded into its weights) that reads its kernel map from the graph
inputs (portable: pairs; fused: neighbour tables, in a custom node) or builds it with Autoware's plugin ops
(autoware). `GraphModel` is the module that is traced: graph inputs in, `task.infer`'s outputs out.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from spot.runtime.errors import SpotInputError
from spot.runtime.kernel_map import KernelMap
from spot.runtime.sparse_plan import ROOT_SET, MapSpec, SparsePlan
from spot.trainer.sparse import SparseConvolution, SparseModule, SparseSequential, SparseTensor

from .sparse_ops import (
    AutowareImplicitGemm,
    AutowareIndicePairs,
    AutowareInversePairs,
    FusedSparseConv,
    PortableSparseConv,
)

FEATURES = "voxel_features"


def record_plan(run: Callable[[SparseTensor], object], x: SparseTensor) -> SparsePlan:
    """The plan of the maps that `run(x)` builds (native backend), in build order.

    Each map's source voxel set is found by identity of its input coordinates: the root coordinates, or the
    output coordinates of an earlier strided map (the native backend passes them on unchanged).
    """
    with torch.no_grad():
        run(x)
    sets = {id(x.coords): ROOT_SET}
    specs = []
    for key, kernel_map in x.kernel_maps.items():
        if not isinstance(kernel_map, KernelMap) or key.endswith("/inverse"):
            continue
        source = sets.get(id(kernel_map.in_coords))
        if source is None:
            raise SpotInputError(f"kernel map {key!r} is built on voxels that no earlier layer produced")
        specs.append(MapSpec(key, source, kernel_map.geometry))
        if not kernel_map.geometry.subm:
            sets[id(kernel_map.out_coords)] = key
    return SparsePlan(tuple(specs))


def input_names(plan: SparsePlan, flavour: str) -> list[str]:
    """Graph inputs in order (unused ones are dropped by the exporter; spot.json lists those kept)."""
    if flavour == "autoware":
        return [FEATURES, f"coords.{ROOT_SET}"]
    if flavour == "fused":
        tables = [f"neighbors.{spec.name}" for spec in plan.maps]
        tables += [f"inverse_neighbors.{spec.name}" for spec in plan.maps if not spec.geometry.subm]
        return [FEATURES, *(f"coords.{s}" for s in plan.voxel_sets), *tables]
    maps = [name for spec in plan.maps for name in (f"pairs.{spec.name}", f"counts.{spec.name}")]
    return [FEATURES, *(f"coords.{s}" for s in plan.voxel_sets), *maps]


@dataclass
class GraphContext:
    """What graph sparse layers share during one traced forward: the plan, its graph tensors by name, each
    voxel set's grid, and (autoware) the pair tables built so far, by indice key."""

    plan: SparsePlan
    flavour: str
    spatial_shapes: dict[str, tuple[int, int, int]]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    pair_tables: dict[str, tuple[torch.Tensor, ...]] = field(default_factory=dict)

    def spec(self, key: str) -> MapSpec:
        for spec in self.plan.maps:
            if spec.name == key:
                return spec
        raise SpotInputError(f"no kernel map {key!r} in the plan {[s.name for s in self.plan.maps]}")


class GraphSparseConv(SparseModule):
    """A sparse convolution (BatchNorm folded in) written into the graph by `context.flavour`."""

    def __init__(self, layer: SparseConvolution, weight: torch.Tensor, bias: torch.Tensor | None, context):
        super().__init__()
        self.geometry, self.key, self.inverse, self.context = layer.geometry, layer.indice_key, layer.inverse, context
        c_out, c_in = weight.shape[0], weight.shape[-1]
        self.register_buffer("weight", weight.detach().clone())  # [C_out, kz, ky, kx, C_in], spconv layout
        self.register_buffer("kernel", weight.detach().reshape(c_out, -1, c_in).permute(1, 2, 0).contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    def forward(self, x: SparseTensor) -> SparseTensor:
        spec = self.context.spec(self.key)
        out_set = spec.source if self.inverse or self.geometry.subm else spec.name
        tensors, shape = self.context.tensors, self.context.spatial_shapes[out_set]
        if self.context.flavour == "portable":
            out_coords = tensors[f"coords.{out_set}"]
            pairs, counts = tensors[f"pairs.{self.key}"], tensors[f"counts.{self.key}"]
            one_term = self.inverse and spec.geometry.tiles  # every output row gets exactly one pair
            features = PortableSparseConv.apply(x.features, self.kernel, self.bias, pairs, counts, out_coords,
                                                self.geometry.subm, self.inverse, one_term)  # fmt: skip
        elif self.context.flavour == "fused":
            out_coords = tensors[f"coords.{out_set}"]
            table = tensors[f"{'inverse_' if self.inverse else ''}neighbors.{self.key}"]
            features = FusedSparseConv.apply(x.features, self.kernel, self.bias, table)
        else:
            features, out_coords = self._autoware(x, spec, tensors)
        return x.with_coords(features, out_coords, shape)

    def _autoware(self, x: SparseTensor, spec: MapSpec, tensors: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """ImplicitGemm on this layer's pair table (built by GetIndicePairsImplicitGemm at the key's first use,
        turned around for an inverse convolution) + the bias; -> (features, out_coords)."""
        tables = self.context.pair_tables
        if self.inverse:
            out_coords = tensors[f"coords.{spec.source}"]
            key = f"{self.key}/inverse"
            if key not in tables:
                tables[key] = AutowareInversePairs.apply(tables[self.key][1], out_coords, self.geometry.volume)
            pair_fwd, pair_mask, mask_argsort = tables[key]
        else:
            if self.key not in tables:
                tables[self.key] = AutowareIndicePairs.apply(x.coords, self.geometry, x.spatial_shape)
            out_coords, pair_fwd, pair_mask, mask_argsort, _ = tables[self.key]
            if self.geometry.subm:
                out_coords = x.coords  # the node repeats its input coordinates
            else:
                tensors[f"coords.{spec.name}"] = out_coords
        features = AutowareImplicitGemm.apply(x.features, self.weight, pair_fwd, pair_mask, mask_argsort,
                                              self.geometry.subm)  # fmt: skip
        return (features if self.bias is None else features + self.bias), out_coords


def export_copy(model: nn.Module, context: GraphContext) -> nn.Module:
    """A copy of `model` in eval mode whose sparse convolutions are `GraphSparseConv`, BatchNorm folded."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, SparseSequential):
            _fold_sequential(module, context)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SparseConvolution):
                _require_key(child)
                setattr(parent, name, GraphSparseConv(child, child.weight, child.bias, context))
    return model


def _fold_sequential(sequential: SparseSequential, context: GraphContext) -> None:
    """conv, BatchNorm1d -> one GraphSparseConv with folded weights, Identity (inference statistics)."""
    children = list(sequential.children())
    for i, (layer, norm) in enumerate(itertools.pairwise(children)):
        if isinstance(layer, SparseConvolution) and isinstance(norm, nn.BatchNorm1d) and norm.track_running_stats:
            _require_key(layer)
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (C_out,)
            bias = layer.bias if layer.bias is not None else torch.zeros_like(norm.running_mean)
            weight = layer.weight * scale.view(-1, 1, 1, 1, 1)
            folded = (bias - norm.running_mean) * scale + norm.bias
            sequential[i] = GraphSparseConv(layer, weight, folded, context)
            sequential[i + 1] = nn.Identity()


def _require_key(layer: SparseConvolution) -> None:
    if layer.indice_key is None:
        raise SpotInputError(
            f"export needs every sparse convolution to name its kernel map; {layer!r} has no indice_key"
        )


class GraphModel(nn.Module):
    """Graph inputs (in `input_names` order) -> the outputs of the task's `infer` (the task's own inference path)."""

    def __init__(self, task: nn.Module, context: GraphContext, names: list[str]):
        super().__init__()
        self.task, self.context, self.names = task, context, names

    def forward(self, *inputs: torch.Tensor):
        self.context.tensors = dict(zip(self.names, inputs, strict=True))
        self.context.pair_tables = {}
        coords = self.context.tensors[f"coords.{ROOT_SET}"]
        x = SparseTensor(self.context.tensors[FEATURES], coords, self.context.spatial_shapes[ROOT_SET], 1)
        return self.task.infer(x)
