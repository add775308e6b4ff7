"""Fused sparse convolution on the CPU: numba-compiled kernel maps and gather-GEMM-scatter kernels, and the
engine that runs `fused`-flavour artifacts with them (dense layers in onnxruntime).

Needs the `cpu` extra (numba, scipy for the BLAS that numba calls, threadpoolctl, onnx); `available()` says
whether it is installed, `require()` raises the one error that says how to get it.
"""

from __future__ import annotations

import importlib.util

from ..errors import SpotInputError

REQUIREMENTS = ("numba", "scipy", "threadpoolctl", "onnx")
INSTALL_HINT = "pip install 'spot-lidar[cpu]'"


def available() -> bool:
    """True where every package of the fused path is importable (nothing is imported to find out)."""
    return all(importlib.util.find_spec(name) is not None for name in REQUIREMENTS)


def require(what: str) -> None:
    """Raise a `SpotInputError` naming what needs the fused path and how to install it, where it is absent."""
    missing = [name for name in REQUIREMENTS if importlib.util.find_spec(name) is None]
    if missing:
        raise SpotInputError(f"{what} needs {', '.join(missing)} (the fused CPU path): {INSTALL_HINT}")
