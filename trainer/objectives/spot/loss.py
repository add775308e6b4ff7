"""SPOT's occupancy decoder and loss: from a BEV feature map, predict a column of voxel classes per BEV cell.

The backbone's BEV map (B, C, H, W) is upsampled to the occupancy grid's (Y, X) and a light conv head predicts,
for every BEV cell, K logits for each of the Z voxels above it: K = C semantic classes + empty, or
(free, occupied) for geometric occupancy. Predicting a whole column from one BEV feature forces the
feature to encode the 3-D structure of the scene, which is what makes it transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from spot.runtime import IGNORE_INDEX

from ...losses import lovasz_softmax


@dataclass
class OccupancyLossConfig:
    foreground_weight: float = 2.0  # thing classes (cars, people, ...)
    background_weight: float = 1.0  # stuff classes (road, building, vegetation, ...)
    empty_weight: float = 0.01  # empty voxels vastly outnumber occupied ones
    lovasz_weight: float = 1.0
    lovasz_max_voxels: int = 60000  # Lovász sorts per class: a random subset keeps it cheap on big grids
    foreground_classes: list[int] = field(default_factory=list)  # empty: the dataset's thing classes


def occupancy_class_weights(
    num_classes: int, config: OccupancyLossConfig, default_foreground: list[int] = ()
) -> list[float]:
    """Weights for the K = num_classes + 1 targets (last = empty), SPOT's 2.0 / 1.0 / 0.01 by default.

    Foreground classes are `config.foreground_classes`, or `default_foreground` when the config names none.
    """
    weights = [config.background_weight] * num_classes + [config.empty_weight]
    for c in config.foreground_classes or default_foreground:
        weights[c] = config.foreground_weight
    return weights


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


class OccupancyLoss(nn.Module):
    """Class-weighted CE over every labelled voxel + λ·Lovász-softmax over a random subset of them."""

    def __init__(self, class_weights: Sequence[float], lovasz_weight: float, lovasz_max_voxels: int):
        super().__init__()
        self.register_buffer("class_weights", torch.as_tensor(class_weights, dtype=torch.float32), persistent=False)
        self.lovasz_weight, self.lovasz_max_voxels = lovasz_weight, lovasz_max_voxels

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """logits (B, K, Z, Y, X), target (B, Z, Y, X) with IGNORE_INDEX for unknown voxels."""
        flat_logits = logits.permute(0, 2, 3, 4, 1).reshape(-1, logits.shape[1])  # (B*Z*Y*X, K)
        flat_target = target.reshape(-1)
        labelled = torch.nonzero(flat_target != IGNORE_INDEX).squeeze(1)
        if labelled.numel() == 0:
            zero = logits.sum() * 0.0
            return {"loss": zero, "loss_ce": zero.detach(), "loss_lovasz": zero.detach()}
        weight = self.class_weights.to(logits.dtype)
        ce = F.cross_entropy(flat_logits[labelled], flat_target[labelled], weight=weight)
        if labelled.numel() > self.lovasz_max_voxels:
            pick = torch.randperm(labelled.numel(), device=labelled.device)[: self.lovasz_max_voxels]
            labelled = labelled[pick]
        lovasz = lovasz_softmax(flat_logits[labelled].float().softmax(dim=1), flat_target[labelled])
        return {"loss": ce + self.lovasz_weight * lovasz, "loss_ce": ce.detach(), "loss_lovasz": lovasz.detach()}
