"""The one place that imports spconv, so version and packaging differences stay here (as OpenPCDet's
`spconv_utils.py`). `spconv` (CPU wheel) and `spconv-cu120` install the same import folders: they are
mutually exclusive extras (`spconv-cpu`, `gpu`).

spconv 2.3's backward pass asks torch for the current CUDA stream even for CPU tensors, which fails on a
CPU-only torch; with no CUDA there is no stream to ask for, so the shim answers 0 (the null stream spconv
itself uses for CPU tensors in the forward pass), which makes CPU training work.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

import torch


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


def _null_stream() -> int:
    return 0
