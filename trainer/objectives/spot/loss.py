"""SPOT's occupancy loss and its class weights, on the logits of the occupancy decoder
(`spot.trainer.models.heads.occupancy`): K = C semantic classes + empty, or (free, occupied) for geometric
occupancy, per voxel of the occupancy grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from spot.runtime import IGNORE_INDEX

from ...losses import lovasz_softmax
from ...schema import bounded


@dataclass
class OccupancyLossConfig:
    foreground_weight: float = bounded(2.0, ge=0)  # thing classes (cars, people, ...)
    background_weight: float = bounded(1.0, ge=0)  # stuff classes (road, building, vegetation, ...)
    empty_weight: float = bounded(0.01, ge=0)  # empty voxels vastly outnumber occupied ones
    lovasz_weight: float = bounded(1.0, ge=0)
    lovasz_max_voxels: int = bounded(60000, ge=1)  # Lovász sorts per class: a random subset keeps it cheap
    foreground_classes: list[int] = bounded(default_factory=list, ge=0)  # empty: the dataset's thing classes


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
