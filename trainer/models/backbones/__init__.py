"""Sparse 3D backbones, one file per family, variants by config; built by name from `BACKBONES`."""

from __future__ import annotations

from .sparse_bev_encoder import SparseBEVEncoder, SparseBEVEncoderConfig
from .sparse_unet import SparseUNet, SparseUNetConfig

BACKBONES: dict[str, tuple[type, type]] = {
    "sparse_unet": (SparseUNet, SparseUNetConfig),
    "sparse_bev_encoder": (SparseBEVEncoder, SparseBEVEncoderConfig),
}


def build_backbone(name: str, **config):
    """A backbone by registry name; `config` holds its config dataclass's fields (unknown keys are errors)."""
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    model, config_type = BACKBONES[name]
    return model(config_type(**config))


__all__ = [
    "BACKBONES",
    "SparseBEVEncoder",
    "SparseBEVEncoderConfig",
    "SparseUNet",
    "SparseUNetConfig",
    "build_backbone",
]
