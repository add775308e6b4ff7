"""SPOT's occupancy decoder: from a BEV feature map, a column of voxel-class logits per BEV cell.

For every BEV cell a light conv head predicts K logits for each of the Z voxels above it: K = C semantic
classes + empty, or (free, occupied) for geometric occupancy. Predicting a whole column from one BEV feature
forces the feature to encode the 3-D structure of the scene, which is what makes it transfer.
"""

from __future__ import annotations

import torch
from torch import nn


class OccupancyDecoder(nn.Module):
    """(B, C_in, H, W) BEV features -> (B, K, Z, H * upsample, W * upsample) occupancy logits."""

    def __init__(self, in_channels: int, num_outputs: int, z_bins: int, hidden: int = 64, upsample: int = 1):
        super().__init__()
        self.num_outputs, self.z_bins = num_outputs, z_bins
        layers: list[nn.Module] = []
        if upsample > 1:
            layers += [
                nn.ConvTranspose2d(in_channels, hidden, upsample, stride=upsample, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True),
            ]
            in_channels = hidden
        layers += [
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_outputs * z_bins, 1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, bev: torch.Tensor) -> torch.Tensor:
        """Reads the BEV map; returns logits (B, K, Z, Y, X)."""
        logits = self.layers(bev)  # (B, K * Z, Y, X)
        b, _, y, x = logits.shape
        return logits.view(b, self.num_outputs, self.z_bins, y, x)
