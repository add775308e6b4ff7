"""Torch build of the kernel maps (CPU and CUDA): the algorithm of `spot.runtime.kernel_map`, run on tensors.

The steps are the runtime's own (`build_kernel_map` takes an array namespace), so both builds give
bit-identical maps; only the array functions below differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spot.runtime.kernel_map import ArrayOps, ConvGeometry, KernelMap
from spot.runtime.kernel_map import build_kernel_map as _build
from spot.runtime.kernel_map import inverse_kernel_map as _inverse


class TorchOps(ArrayOps):
    """`ArrayOps` on torch tensors of one device."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)

    def arange(self, n: int) -> torch.Tensor:
        return torch.arange(n, dtype=torch.int64, device=self.device)

    def full(self, shape: tuple[int, ...], value: int) -> torch.Tensor:
        return torch.full(shape, value, dtype=torch.int64, device=self.device)

    def int64(self, array) -> torch.Tensor:
        if isinstance(array, np.ndarray):
            return torch.from_numpy(array.astype(np.int64)).to(self.device)
        return array.to(device=self.device, dtype=torch.int64)

    def int32(self, array) -> torch.Tensor:
        return array.to(torch.int32)

    def searchsorted(self, sorted_keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        return torch.searchsorted(sorted_keys, queries)

    def unique_inverse(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.unique(keys, sorted=True, return_inverse=True)

    def concat(self, arrays: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(arrays)

    def stack(self, arrays: list[torch.Tensor], axis: int) -> torch.Tensor:
        return torch.stack(arrays, dim=axis)

    def nonzero(self, mask: torch.Tensor) -> torch.Tensor:
        return torch.nonzero(mask).flatten()

    def where(self, mask: torch.Tensor, values: torch.Tensor, fill: torch.Tensor | int) -> torch.Tensor:
        return torch.where(mask, values, fill)


def build_kernel_map(coords: torch.Tensor, spatial_shape: Sequence[int], geometry: ConvGeometry) -> KernelMap:
    """Kernel map (tensors on `coords.device`) of int32 (V, 4) coordinates sorted by linear key."""
    return _build(coords, spatial_shape, geometry, TorchOps(coords.device))


def inverse_kernel_map(forward: KernelMap) -> KernelMap:
    """Map of the inverse convolution of a torch-built `forward` map."""
    return _inverse(forward, TorchOps(forward.neighbors.device))
