"""Dense heads on a backbone's output, one file per family."""

from __future__ import annotations

from .center_head import CenterHead

__all__ = ["CenterHead"]
