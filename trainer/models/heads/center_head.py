"""CenterPoint's head (Yin et al. 2021) on a BEV map: a small 2D neck, then a class heatmap and box regression.

The outputs are exactly what the exported graph returns and `spot.runtime.detection.decode_center_heatmaps`
reads (after a sigmoid on the heatmap): heatmap logits (B, C, H, W) and regression (B, R, H, W) in
`REGRESSION_LAYOUT` order, on the BEV map's own cells.
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from torch import nn

HEATMAP_PRIOR = 0.1  # initial centre probability everywhere (CenterNet's focal-loss bias init, -2.19)


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CenterHead(nn.Module):
    """BEV (B, in_channels, H, W) -> (heatmap logits (B, num_classes, H, W), regression (B, R, H, W)).

    neck: `neck_blocks` 3x3 conv-BN-ReLU at `neck_channels` (mixes context over a few metres, as SECOND's 2D
    backbone does); then one 3x3 conv-BN-ReLU + 1x1 conv per output, as CenterPoint's separate heads.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        regression_channels: int,
        neck_channels: int = 64,
        neck_blocks: int = 2,
        head_channels: int = 64,
    ):
        super().__init__()
        widths = [in_channels] + [neck_channels] * neck_blocks
        self.neck = nn.Sequential(*(conv_bn_relu(a, b) for a, b in pairwise(widths)))
        self.heatmap = nn.Sequential(conv_bn_relu(widths[-1], head_channels), nn.Conv2d(head_channels, num_classes, 1))
        self.regression = nn.Sequential(
            conv_bn_relu(widths[-1], head_channels), nn.Conv2d(head_channels, regression_channels, 1)
        )
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR))

    def forward(self, bev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reads the BEV map (B, C_in, H, W); returns heatmap logits (B, C, H, W) and regression (B, R, H, W)."""
        features = self.neck(bev)
        return self.heatmap(features), self.regression(features)
