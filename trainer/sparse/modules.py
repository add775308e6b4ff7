"""Containers and blocks: `SparseSequential` runs sparse layers on the tensor and plain modules (norms,
activations) on its features, like `spconv.SparseSequential`, so a block's state-dict keys match spconv's."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from torch import nn

from .conv import SparseConv3d, SparseConvolution, SparseInverseConv3d, SubMConv3d
from .tensor import SparseTensor


class SparseSequential(nn.Sequential):
    """Sequential over a `SparseTensor`: sparse modules take the tensor, other modules its (V, C) features."""

    def forward(self, x: SparseTensor) -> SparseTensor:
        for module in self:
            x = module(x) if _is_sparse(module) else x.replace_features(module(x.features))
        return x


def _is_sparse(module: nn.Module) -> bool:
    return isinstance(module, SparseConvolution | SparseSequential | SparseModule)


class SparseModule(nn.Module):
    """Base of modules that take and return a `SparseTensor` (blocks built from the layers here)."""


class ConvKind(StrEnum):
    subm = "subm"  # submanifold: the output voxels are the input's
    conv = "conv"  # strided: coarser output voxels
    inverse = "inverse"  # the transpose of the strided convolution under the same indice key


def conv_norm_act(kind: ConvKind, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                  indice_key: str | None = None, backend: str = "native",
                  norm: Callable[[int], nn.Module] | None = None) -> SparseSequential:  # fmt: skip
    """Convolution (no bias) + norm + ReLU, OpenPCDet's block. `norm(channels)` makes the norm; default
    BatchNorm1d(eps=1e-3, momentum=0.01) (PPT's PDNorm: `spot.trainer.models.norms`)."""
    kind = ConvKind(kind)
    if kind is ConvKind.subm:
        conv = SubMConv3d(in_channels, out_channels, kernel_size, bias=False, indice_key=indice_key, backend=backend)
    elif kind is ConvKind.conv:
        conv = SparseConv3d(in_channels, out_channels, kernel_size, stride, padding, bias=False,
                            indice_key=indice_key, backend=backend)  # fmt: skip
    else:
        conv = SparseInverseConv3d(in_channels, out_channels, kernel_size, indice_key, bias=False, backend=backend)
    layer = nn.BatchNorm1d(out_channels, eps=1e-3, momentum=0.01) if norm is None else norm(out_channels)
    return SparseSequential(conv, layer, nn.ReLU(inplace=True))


class SubMResidualBlock(SparseModule):
    """Two 3x3x3 submanifold conv+BN with a residual connection (spconv/OpenPCDet `SparseBasicBlock`)."""

    def __init__(self, channels: int, indice_key: str, backend: str = "native"):
        super().__init__()
        self.conv1 = SubMConv3d(channels, channels, 3, bias=False, indice_key=indice_key, backend=backend)
        self.bn1 = nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)
        self.conv2 = SubMConv3d(channels, channels, 3, bias=False, indice_key=indice_key, backend=backend)
        self.bn2 = nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: SparseTensor) -> SparseTensor:
        """(V, C) -> (V, C) on the same voxels."""
        out = self.conv1(x)
        out = out.replace_features(self.relu(self.bn1(out.features)))
        out = self.conv2(out)
        return out.replace_features(self.relu(self.bn2(out.features) + x.features))
