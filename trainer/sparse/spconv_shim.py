"""The one place that imports spconv, so version and packaging differences stay here (as OpenPCDet's
`spconv_utils.py`). `spconv` (CPU wheel) and `spconv-cu120` install the same import folders: they are
mutually exclusive extras (`spconv-cpu`, `gpu`).
"""

from __future__ import annotations

import importlib.util
from types import ModuleType


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
    return spconv
