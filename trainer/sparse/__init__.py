"""Sparse 3D convolution for the trainer: `SparseTensor`, spconv-2.x-compatible layers, backends.

from spot.trainer.sparse import SparseTensor, SubMConv3d, SparseConv3d, SparseInverseConv3d
"""

from .backends import BACKENDS, get_backend
from .conv import SparseConv3d, SparseConvolution, SparseInverseConv3d, SubMConv3d, set_backend
from .functional import sparse_conv
from .kernel_map import build_kernel_map, inverse_kernel_map
from .modules import ConvKind, SparseModule, SparseSequential, SubMResidualBlock, conv_norm_act
from .tensor import SparseTensor

__all__ = [
    "BACKENDS",
    "ConvKind",
    "SparseConv3d",
    "SparseConvolution",
    "SparseInverseConv3d",
    "SparseModule",
    "SparseSequential",
    "SparseTensor",
    "SubMConv3d",
    "SubMResidualBlock",
    "build_kernel_map",
    "conv_norm_act",
    "get_backend",
    "inverse_kernel_map",
    "set_backend",
    "sparse_conv",
]
