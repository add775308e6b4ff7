"""A small convolutional image encoder trained from scratch (no downloaded weights): CLAP's camera branch.

CLAP and UniPAD use a ConvNeXt-S (BEVFusion's Swin-T in CLAP) pre-trained on ImageNet; spot trains on CPU from
scratch, so the camera branch is a plain stack of stride-2 3x3 conv + BN + ReLU stages followed by a 3x3
refinement (reconstructed scale: `channels` (16, 32, 64) gives stride 8, 64 channels).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from ..schema import bounded


@dataclass
class ImageEncoderConfig:
    channels: list[int] = bounded(default_factory=lambda: [16, 32, 64], ge=1, min_length=1)

    @property
    def stride(self) -> int:
        return 2 ** len(self.channels)


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ImageEncoder(nn.Module):
    """(N, 3, H, W) images in [0, 1] -> (N, channels[-1], ceil(H / stride), ceil(W / stride)) features."""

    def __init__(self, config: ImageEncoderConfig):
        super().__init__()
        widths = [3, *config.channels]
        stages = [_conv_bn_relu(a, b, 2) for a, b in itertools.pairwise(widths)]
        self.stages = nn.Sequential(*stages, _conv_bn_relu(widths[-1], widths[-1], 1))
        self.stride = config.stride
        self.out_channels = widths[-1]
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.stages(images - self.mean)
