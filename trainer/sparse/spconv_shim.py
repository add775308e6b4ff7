"""The one place that imports spconv and spconv-triton, so version and packaging differences stay here (as
OpenPCDet's `spconv_utils.py`). `spconv` (CPU wheel) and `spconv-cu120` install the same import folders: they
are mutually exclusive extras (`spconv-cpu`, `gpu`). spconv-triton (`spconv_triton`, extra `gpu`) is pure
Triton: it imports only where torch brings Triton (CUDA builds) and runs only on CUDA tensors.

spconv 2.3's backward pass asks torch for the current CUDA stream even for CPU tensors, which fails on a
CPU-only torch; with no CUDA there is no stream to ask for, so the shim answers 0 (the null stream spconv
itself uses for CPU tensors in the forward pass), which makes CPU training work.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

import torch

from spot.runtime.errors import SpotInputError


def spconv_available() -> bool:
    return importlib.util.find_spec("spconv") is not None


def require_spconv() -> ModuleType:
    """`spconv.pytorch`, or an error that says how to install it."""
    try:
        import spconv.pytorch as spconv
    except ImportError as error:
        raise ImportError(
            "the 'spconv' sparse backend needs spconv 2.x: pip install 'spot-lidar[spconv-cpu]' (CPU) or "
            "'spot-lidar[gpu]' (CUDA 12); or use backend='native'"
        ) from error
    if not torch.cuda.is_available():
        import spconv.pytorch.ops as spconv_ops

        spconv_ops.get_current_stream = _null_stream
    return spconv


def require_spconv_triton() -> ModuleType:
    """`spconv_triton.pytorch`, or an error that says what this machine lacks (a CUDA GPU, or the package)."""
    if not torch.cuda.is_available():
        raise SpotInputError(
            "the 'spconv-triton' sparse backend needs a CUDA GPU (its kernels are GPU-only Triton kernels); "
            "use backend='native' on CPU"
        )
    try:
        import spconv_triton.pytorch as spconv
    except ImportError as error:
        raise ImportError(
            "the 'spconv-triton' sparse backend needs spconv-triton and Triton: pip install spconv-triton (Triton "
            "comes with a CUDA build of torch); or use backend='native'"
        ) from error
    return spconv


def _null_stream() -> int:
    return 0
