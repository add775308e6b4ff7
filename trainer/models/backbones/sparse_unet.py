"""Sparse UNet (MinkUNet-style) for per-voxel tasks: segmentation, occupancy, ALSO's surface features.

Level l works at stride 2**l with `channels[l]` features: submanifold 3x3x3 blocks, a 2x2x2 stride-2
convolution down, and on the way up the inverse of that convolution (its kernel map, transposed) followed
by a concatenation with the skip features of the level. Every convolution is followed by BatchNorm (or PPT's
PDNorm, `norm`) and ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from spot.trainer.sparse import ConvKind, SparseModule, SparseSequential, SparseTensor, conv_norm_act
from spot.trainer.sparse.backends import BackendName

from ...schema import VOXEL_FEATURES, bounded
from ..norms import NormConfig, norm_layer


@dataclass(frozen=True)
class SparseUNetConfig:
    """in_channels: voxel feature width; channels: widths per level (its length is the number of levels);
    encoder_blocks / decoder_blocks: submanifold conv blocks per level; backend: sparse backend name."""

    FEATURES: ClassVar[str] = VOXEL_FEATURES

    in_channels: int = bounded(4, ge=1)
    channels: tuple[int, ...] = bounded((16, 32, 64, 128), ge=1, min_length=2)
    encoder_blocks: int = bounded(2, ge=1)
    decoder_blocks: int = bounded(1, ge=1)
    backend: BackendName = BackendName.native
    norm: NormConfig = field(default_factory=NormConfig)  # plain BatchNorm, or PDNorm over the data's domains

    def check_experiment(self, experiment, key: str) -> None:
        self.norm.check_domains(experiment, key)


class SparseUNet(SparseModule):
    """(V, in_channels) voxels -> (V, channels[0]) features on the same voxels."""

    def __init__(self, config: SparseUNetConfig, num_domains: int = 0):
        super().__init__()
        self.config = config
        self.make_norm = norm_layer(config.norm, num_domains)
        c = config.channels
        self.stem = self._block(ConvKind.subm, config.in_channels, c[0], 3, "subm0")
        self.encoder = nn.ModuleList()
        for level, width in enumerate(c):
            down = [] if level == 0 else [self._block(ConvKind.conv, c[level - 1], width, 2, f"down{level}", stride=2)]
            refine = [self._block(ConvKind.subm, width, width, 3, f"subm{level}") for _ in range(config.encoder_blocks)]
            self.encoder.append(SparseSequential(*down, *refine))
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(len(c) - 2, -1, -1):
            self.up.append(self._block(ConvKind.inverse, c[level + 1], c[level], 2, f"down{level + 1}"))
            widths = [2 * c[level]] + [c[level]] * (config.decoder_blocks - 1)  # the first block takes the skip too
            self.decoder.append(
                SparseSequential(*(self._block(ConvKind.subm, w, c[level], 3, f"subm{level}") for w in widths))
            )

    def _block(self, kind: ConvKind, c_in: int, c_out: int, kernel: int, key: str, stride: int = 1) -> SparseSequential:
        return conv_norm_act(kind, c_in, c_out, kernel, stride, indice_key=key, backend=self.config.backend,
                             norm=self.make_norm)  # fmt: skip

    @property
    def out_channels(self) -> int:
        return self.config.channels[0]

    def forward(self, x: SparseTensor) -> SparseTensor:
        """Reads (V, in_channels) voxel features; returns (V, channels[0]) features on the input voxels.

        For a 4-level UNet on V voxels: [V, 16] -> [V/3, 32] -> [V/9, 64] -> [V/27, 128] (typical LiDAR
        ratios) and back up through the same voxel sets.
        """
        x = self.stem(x)  # [V, c0] at stride 1
        skips = []
        for stage in self.encoder:
            x = stage(x)  # [V_l, c_l] at stride 2**l
            skips.append(x)
        for up, decode, skip in zip(self.up, self.decoder, reversed(skips[:-1]), strict=True):
            x = up(x)  # [V_l, c_l] on the skip's voxels
            x = decode(x.replace_features(torch.cat([x.features, skip.features], dim=1)))  # [V_l, 2c_l] -> [V_l, c_l]
        return x
