"""`SparseTensor`, the one sparse data type of the trainer (DESIGN §3: voxel coordinates contract).

features     float (V, C)   one row per active voxel
coords       int32 (V, 4)   (batch, z, y, x), unique and sorted by linear key: voxelization gives that
                            order, `from_voxels` checks it, the native backend keeps it through every layer
spatial_shape (Z, Y, X)     the grid the coordinates live in
batch_size   int
kernel_maps  dict           kernel maps by indice key, shared by every tensor derived from this one, so
                            each map is built once per forward and inverse convolutions find theirs
domain       int | None     the batch's domain (PPT: one per batch), read by domain-conditioned norms
                            (`spot.trainer.models.norms`) and kept by every tensor derived from this one
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from spot.runtime.errors import SpotInputError
from spot.runtime.kernel_map import check_coords


@dataclass
class SparseTensor:
    features: torch.Tensor
    coords: torch.Tensor
    spatial_shape: tuple[int, int, int]
    batch_size: int
    kernel_maps: dict[str, Any] = field(default_factory=dict, repr=False)
    domain: int | None = None

    def __post_init__(self) -> None:
        self.spatial_shape = tuple(int(s) for s in self.spatial_shape)
        if self.features.ndim != 2 or self.coords.ndim != 2 or self.coords.shape[1] != 4:
            raise SpotInputError(
                f"SparseTensor needs features (V, C) and coords (V, 4), got {tuple(self.features.shape)} "
                f"and {tuple(self.coords.shape)}"
            )
        if self.features.shape[0] != self.coords.shape[0] or len(self.spatial_shape) != 3:
            raise SpotInputError(
                f"SparseTensor needs one coordinate row per feature row and a (Z, Y, X) grid, got "
                f"{self.features.shape[0]} features, {self.coords.shape[0]} coords, grid {self.spatial_shape}"
            )
        if self.coords.dtype != torch.int32:
            raise SpotInputError(f"SparseTensor coords must be int32 (batch, z, y, x), got {self.coords.dtype}")

    @classmethod
    def from_voxels(cls, features, coords, spatial_shape: Sequence[int], batch_size: int, device=None):
        """The network input from voxels made outside the sparse layers (numpy or tensors, e.g.
        `spot.runtime.voxelize.Voxels` or a collated batch): their coordinates are checked against the order
        the kernel-map search relies on (`spot.runtime.kernel_map.check_coords`), once, here."""
        features = torch.as_tensor(features, device=device)
        x = cls(features, torch.as_tensor(coords, device=features.device), tuple(spatial_shape), batch_size)
        check_coords(x.coords, x.spatial_shape)
        return x

    def __len__(self) -> int:
        return self.features.shape[0]

    def replace_features(self, features: torch.Tensor) -> SparseTensor:
        """Same voxels (and the same kernel-map cache) with new (V, C') features."""
        return SparseTensor(features, self.coords, self.spatial_shape, self.batch_size, self.kernel_maps, self.domain)

    def with_coords(self, features: torch.Tensor, coords: torch.Tensor, spatial_shape: Sequence[int]) -> SparseTensor:
        """A tensor on another voxel set that shares this one's kernel-map cache."""
        return SparseTensor(features, coords, tuple(spatial_shape), self.batch_size, self.kernel_maps, self.domain)

    def dense(self) -> torch.Tensor:
        """Dense (B, C, Z, Y, X) grid, zeros where no voxel is active (for tests and BEV heads)."""
        b, z, y, x = self.coords.long().unbind(1)
        out = self.features.new_zeros(self.batch_size, *self.spatial_shape, self.features.shape[1])
        out[b, z, y, x] = self.features
        return out.permute(0, 4, 1, 2, 3).contiguous()
