"""Sparse convolution backends behind one layer API, chosen by name from an explicit registry.

native  pure PyTorch gather-GEMM-scatter (`functional.py`): CPU and CUDA, trains everywhere, the reference
        and what export traces. Default.
spconv  spconv 2.x (`spconv` CPU wheel or `spconv-cu120`), used where installed and selected. On CPU it
        runs with `algo=Native` and on one thread (its CPU scatter-add is wrong with several), and trains only
        through the shim's stream fix (`spconv_shim`).
spconv-triton  spconv-triton (pure Triton kernels with spconv 2.3.8's API), CUDA GPUs only: a clear error on CPU.

The spconv-like backends run spconv's own modules as "twins" that share the layer's parameters, so the state
dict is the same whichever backend trained it: weights move between all three unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from enum import StrEnum
from types import ModuleType
from typing import Protocol

import torch

from spot.runtime.errors import SpotInputError
from spot.runtime.kernel_map import ConvGeometry, KernelMap

from . import spconv_shim
from .functional import sparse_conv
from .kernel_map import build_kernel_map, inverse_kernel_map
from .tensor import SparseTensor


class ConvLayer(Protocol):
    """What a backend reads from a layer (`spot.trainer.sparse.conv.SparseConvolution` is the one kind)."""

    in_channels: int
    out_channels: int
    geometry: ConvGeometry
    inverse: bool
    indice_key: str | None
    weight: torch.Tensor
    bias: torch.Tensor | None
    backend_state: dict  # a backend's per-layer helpers, kept out of the state dict


class SparseBackend(Protocol):
    name: str

    def convolve(self, layer: ConvLayer, x: SparseTensor) -> SparseTensor: ...


def _cached(x: SparseTensor, key: str | None, build) -> KernelMap:
    """The map under `key` in the tensor's cache, built once; layers without a key build their own."""
    if key is None:
        return build()
    if key not in x.kernel_maps:
        x.kernel_maps[key] = build()
    return x.kernel_maps[key]


def layer_kernel_map(layer: ConvLayer, x: SparseTensor) -> KernelMap:
    """The kernel map `layer` runs on for input `x` (cached per indice key on the tensor)."""
    if layer.inverse:
        forward = x.kernel_maps.get(layer.indice_key)
        kernel_size = layer.geometry.kernel_size
        if forward is None or forward.geometry.subm or forward.geometry.kernel_size != kernel_size:
            raise SpotInputError(
                f"SparseInverseConv3d(indice_key={layer.indice_key!r}) needs an earlier SparseConv3d with that "
                f"key and kernel size {kernel_size} in the same forward pass; found "
                f"{forward.geometry if forward else 'no map'}"
            )
        kernel_map = _cached(x, f"{layer.indice_key}/inverse", lambda: inverse_kernel_map(forward))
    else:
        kernel_map = _cached(x, layer.indice_key, lambda: build_kernel_map(x.coords, x.spatial_shape, layer.geometry))
        if kernel_map.geometry != layer.geometry:
            raise SpotInputError(
                f"indice_key {layer.indice_key!r} is shared by convolutions of different geometry "
                f"({kernel_map.geometry} and {layer.geometry}): give each voxel level / kind its own key"
            )
    if kernel_map.num_inputs != len(x):
        raise SpotInputError(
            f"indice_key {layer.indice_key!r} was built for {kernel_map.num_inputs} voxels but the input has "
            f"{len(x)}: keys must name one voxel set"
        )
    return kernel_map


class NativeBackend:
    name = "native"

    def convolve(self, layer: ConvLayer, x: SparseTensor) -> SparseTensor:
        kernel_map = layer_kernel_map(layer, x)
        features = sparse_conv(x.features, layer.weight, kernel_map)
        if layer.bias is not None:
            features = features + layer.bias.to(features.dtype)  # stays in the autocast dtype, as a dense conv
        return x.with_coords(features, kernel_map.out_coords, kernel_map.out_spatial_shape)


class SpconvBackend:
    """A library with spconv 2.x's module API (`spconv.pytorch`, `spconv_triton.pytorch`), loaded by `load`."""

    def __init__(self, name: str, load: Callable[[], ModuleType], gpu_only: bool):
        self.name, self.load, self.gpu_only = name, load, gpu_only

    def convolve(self, layer: ConvLayer, x: SparseTensor) -> SparseTensor:
        spconv = self.load()
        on_cpu = x.features.device.type == "cpu"
        if on_cpu and self.gpu_only:
            raise SpotInputError(f"the {self.name!r} sparse backend runs on CUDA tensors only; this input is on CPU")
        twin = self._twin(layer, spconv)
        if not self.gpu_only:
            twin.algo = spconv.ConvAlgo.Native if on_cpu else None
        indice_dict = x.kernel_maps.setdefault(f"{self.name}:indice_dict", {})
        source = spconv.SparseConvTensor(x.features, x.coords, list(x.spatial_shape), x.batch_size)
        source.indice_dict = indice_dict
        with _single_thread() if on_cpu else contextlib.nullcontext():
            out = twin(source)
        indice_dict.update(out.indice_dict)  # spconv records new pairs on a copy of the dict
        return x.with_coords(out.features, out.indices, tuple(out.spatial_shape))

    def _twin(self, layer: ConvLayer, spconv):
        """A module of the library that shares `layer`'s parameters (kept out of the state dict).

        It stays in training mode, where spconv adds the bias after the convolution: in eval mode it fuses the
        bias into the kernel, which its CPU build refuses.
        """
        if self.name not in layer.backend_state:
            g, bias = layer.geometry, layer.bias is not None
            if layer.inverse:
                twin = spconv.SparseInverseConv3d(
                    layer.in_channels, layer.out_channels, g.kernel_size, layer.indice_key, bias=bias
                )
            else:
                kind = spconv.SubMConv3d if g.subm else spconv.SparseConv3d
                twin = kind(layer.in_channels, layer.out_channels, g.kernel_size, g.stride, g.padding, g.dilation,
                            bias=bias, indice_key=layer.indice_key)  # fmt: skip
            twin.weight, twin.bias = layer.weight, layer.bias
            layer.backend_state[self.name] = twin
        return layer.backend_state[self.name]


@contextlib.contextmanager
def _single_thread():
    """spconv's CPU scatter-add is only right on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


BACKENDS: dict[str, SparseBackend] = {
    "native": NativeBackend(),
    "spconv": SpconvBackend("spconv", spconv_shim.require_spconv, gpu_only=False),
    "spconv-triton": SpconvBackend("spconv-triton", spconv_shim.require_spconv_triton, gpu_only=True),
}


def backend_name(name: str) -> str:
    """`name` if it is a backend's (a checkpoint trained on spconv-triton builds on a CPU machine, for export)."""
    if name not in BACKENDS:
        raise SpotInputError(f"unknown sparse backend {name!r}; choose one of {sorted(BACKENDS)}")
    return name


def get_backend(name: str) -> SparseBackend:
    backend = BACKENDS[backend_name(name)]
    if isinstance(backend, SpconvBackend):
        backend.load()  # says what to install (or that a GPU is needed) when the library cannot run here
    return backend


BackendName = StrEnum("BackendName", {name: name for name in BACKENDS})  # for config fields that pick one
