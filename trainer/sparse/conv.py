"""Sparse convolution layers with spconv 2.x's signatures, parameters and semantics.

`SubMConv3d`, `SparseConv3d` and `SparseInverseConv3d` hold `weight` [C_out, k_z, k_y, k_x, C_in] and `bias`
[C_out] exactly as spconv 2.x does, so a state dict saved from an spconv model loads without conversion. The
arithmetic is delegated to a backend (`spot.trainer.sparse.backends`): `native` by default, `spconv` where
installed and selected, per layer or for a whole model with `set_backend`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spot.runtime.errors import SpotInputError
from spot.runtime.kernel_map import ConvGeometry, as_triple

from .backends import backend_name, get_backend
from .tensor import SparseTensor


class SparseConvolution(nn.Module):
    """The body shared by the three layer types; `subm` / `inverse` pick the kind of kernel map."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
        indice_key: str | None = None,
        *,
        subm: bool = False,
        inverse: bool = False,
        backend: str = "native",
    ):
        super().__init__()
        if inverse and indice_key is None:
            raise SpotInputError("SparseInverseConv3d needs the indice_key of the SparseConv3d it inverts")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.geometry = ConvGeometry.make(kernel_size, stride, padding, dilation, subm)
        self.inverse, self.indice_key = inverse, indice_key
        self.backend = backend_name(backend)  # checked to exist; whether it runs here is checked on use
        self.backend_state: dict = {}  # a backend's per-layer helpers (never parameters: no state-dict entries)
        self.weight = nn.Parameter(torch.empty(self.out_channels, *self.geometry.kernel_size, self.in_channels))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    @property
    def kernel_size(self) -> tuple[int, int, int]:
        return self.geometry.kernel_size

    def reset_parameters(self) -> None:
        """spconv's initialisation: Kaiming-uniform with a = sqrt(5) over fan_in = C_in * K."""
        fan_in = self.in_channels * self.geometry.volume
        bound = math.sqrt(3.0) * nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, x: SparseTensor) -> SparseTensor:
        """(V_in, C_in) voxels -> (V_out, C_out) voxels on the output coordinates of this convolution."""
        if x.features.shape[1] != self.in_channels:
            raise SpotInputError(
                f"{type(self).__name__} expects {self.in_channels} input channels, got {x.features.shape[1]}"
            )
        return get_backend(self.backend).convolve(self, x)

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={g.kernel_size}, stride={g.stride}, "
            f"padding={g.padding}, dilation={g.dilation}, indice_key={self.indice_key!r}, backend={self.backend!r}"
        )


class SubMConv3d(SparseConvolution):
    """Submanifold convolution: output voxels = input voxels (spconv.SubMConv3d)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=0, dilation=1, bias=True,
                 indice_key=None, *, backend="native"):  # fmt: skip
        if as_triple(stride, "stride") != (1, 1, 1):
            raise SpotInputError(f"SubMConv3d keeps the voxel set, so stride must be 1, got {stride}")
        super().__init__(in_channels, out_channels, kernel_size, 1, padding, dilation, bias, indice_key,
                         subm=True, backend=backend)  # fmt: skip


class SparseConv3d(SparseConvolution):
    """Regular (strided) sparse convolution: spconv's output voxels and grid (spconv.SparseConv3d)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True,
                 indice_key=None, *, backend="native"):  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, bias, indice_key,
                         backend=backend)  # fmt: skip


class SparseInverseConv3d(SparseConvolution):
    """Undoes the `SparseConv3d` with the same `indice_key`: back to its input voxels (spconv's signature)."""

    def __init__(self, in_channels, out_channels, kernel_size, indice_key, bias=True, *, backend="native"):
        super().__init__(in_channels, out_channels, kernel_size, 1, 0, 1, bias, indice_key, inverse=True,
                         backend=backend)  # fmt: skip


def set_backend(model: nn.Module, name: str) -> nn.Module:
    """Switch every sparse convolution of `model` to backend `name` (weights unchanged); returns `model`."""
    backend = get_backend(name)
    for module in model.modules():
        if isinstance(module, SparseConvolution):
            module.backend = backend.name
    return model
