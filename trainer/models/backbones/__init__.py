"""Sparse 3D backbones, one file per family, variants by config; configs name them via `spot.trainer.components`."""

from __future__ import annotations

from .sparse_bev_encoder import SparseBEVEncoder, SparseBEVEncoderConfig
from .sparse_unet import SparseUNet, SparseUNetConfig

__all__ = ["SparseBEVEncoder", "SparseBEVEncoderConfig", "SparseUNet", "SparseUNetConfig"]
