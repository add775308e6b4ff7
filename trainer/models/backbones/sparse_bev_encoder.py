"""Sparse encoder to a bird's-eye-view map (SECOND / OpenPCDet VoxelBackBone8x) for detection and SPOT's BEV
occupancy decoder.

Stage s > 0 halves the grid with a 3x3x3 stride-2 convolution (spconv padding rules) and refines with
submanifold blocks; a last (3, 1, 1) stride-(2, 1, 1) convolution squeezes height, and the result is
densified and its height folded into channels: (B, C * Z', Y', X').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from spot.runtime.kernel_map import ConvGeometry, output_spatial_shape
from spot.trainer.sparse import ConvKind, SparseModule, SparseSequential, SparseTensor, conv_norm_act
from spot.trainer.sparse.backends import BackendName

from ...schema import BEV_MAP, Invalid, bounded
from ..norms import NormConfig, norm_layer


@dataclass(frozen=True)
class SparseBEVEncoderConfig:
    """channels / blocks: width and convolutions per stage (the first stage keeps the input grid);
    last_padding: padding of the last stride-2 stage (OpenPCDet uses (0, 1, 1) so 41 height cells end as 2);
    out_channels: width before the height fold."""

    FEATURES: ClassVar[str] = BEV_MAP

    in_channels: int = bounded(4, ge=1)
    channels: tuple[int, ...] = bounded((16, 32, 64, 64), ge=1, min_length=2)
    blocks: tuple[int, ...] = bounded((2, 3, 3, 3), ge=1)
    last_padding: tuple[int, int, int] = bounded((0, 1, 1), ge=0, length=3)
    out_channels: int = bounded(128, ge=1)
    backend: BackendName = BackendName.native
    norm: NormConfig = field(default_factory=NormConfig)  # plain BatchNorm, or PDNorm over the data's domains

    def check_experiment(self, experiment, key: str) -> None:
        self.norm.check_domains(experiment, key)

    def check(self) -> None:
        if len(self.blocks) != len(self.channels):
            raise Invalid("blocks", f"expected one block count per stage ({len(self.channels)} channels)",
                          list(self.blocks))  # fmt: skip

    def stage_geometry(self, stage: int) -> ConvGeometry:
        padding = self.last_padding if stage == len(self.channels) - 1 else (1, 1, 1)
        return ConvGeometry.make(3, 2, padding)

    @property
    def height_geometry(self) -> ConvGeometry:
        return ConvGeometry.make((3, 1, 1), (2, 1, 1), 0)

    @property
    def bev_stride(self) -> int:
        return 2 ** (len(self.channels) - 1)


class SparseBEVEncoder(SparseModule):
    """(V, in_channels) voxels -> dense BEV map (B, out_channels * Z', Y / stride, X / stride)."""

    def __init__(self, config: SparseBEVEncoderConfig, num_domains: int = 0):
        super().__init__()
        self.config = config
        self.make_norm = norm_layer(config.norm, num_domains)
        c = config.channels
        stages = []
        for stage, width in enumerate(c):
            if stage == 0:
                first = self._block(ConvKind.subm, config.in_channels, width, ConvGeometry.make(3, subm=True), "subm0")
            else:
                first = self._block(ConvKind.conv, c[stage - 1], width, config.stage_geometry(stage), f"down{stage}")
            refine = [self._block(ConvKind.subm, width, width, ConvGeometry.make(3, subm=True), f"subm{stage}")
                      for _ in range(config.blocks[stage] - 1)]  # fmt: skip
            stages.append(SparseSequential(first, *refine))
        self.stages = torch.nn.ModuleList(stages)
        self.height_conv = self._block(ConvKind.conv, c[-1], config.out_channels, config.height_geometry, "height")

    def _block(self, kind: ConvKind, c_in: int, c_out: int, g: ConvGeometry, key: str) -> SparseSequential:
        return conv_norm_act(kind, c_in, c_out, g.kernel_size, g.stride, g.padding, key, self.config.backend,
                             self.make_norm)  # fmt: skip

    def output_grid(self, spatial_shape) -> tuple[int, int, int]:
        """(Z', Y', X') of the sparse output before the height fold."""
        shape = tuple(spatial_shape)
        for stage in range(1, len(self.config.channels)):
            shape = output_spatial_shape(shape, self.config.stage_geometry(stage))
        return output_spatial_shape(shape, self.config.height_geometry)

    def bev_channels(self, spatial_shape) -> int:
        """Channels of the BEV map for an input grid: out_channels * Z'."""
        return self.config.out_channels * self.output_grid(spatial_shape)[0]

    def forward(self, x: SparseTensor) -> dict:
        """Reads (V, in_channels) voxels on a (Z, Y, X) grid; returns {"bev": (B, C * Z', Y', X'), "stride": s,
        "sparse": the last sparse tensor}. For KITTI's (41, 1600, 1408) grid: [41, 1600, 1408] -> [21, 800, 704]
        -> [11, 400, 352] -> [5, 200, 176] -> height conv [2, 200, 176] -> BEV (B, 256, 200, 176)."""
        for stage in self.stages:
            x = stage(x)
        x = self.height_conv(x)  # [V', out_channels] on (Z', Y', X')
        dense = x.dense()  # (B, C, Z', Y', X')
        b, c, z, y, w = dense.shape
        return {"bev": dense.reshape(b, c * z, y, w), "stride": self.config.bev_stride, "sparse": x}
