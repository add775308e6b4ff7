"""ALSO's loss on the implicit surface decoder's predictions (`spot.trainer.models.heads.implicit_surface`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def surface_loss(
    occupancy_logit: torch.Tensor,
    intensity: torch.Tensor,
    occupancy_target: torch.Tensor,
    intensity_target: torch.Tensor,
    intensity_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """BCE on occupancy for every query + L1 on intensity where the query is occupied (ALSO)."""
    bce = F.binary_cross_entropy_with_logits(occupancy_logit, occupancy_target)
    occupied = occupancy_target > 0.5
    l1 = (intensity[occupied] - intensity_target[occupied]).abs().mean() if occupied.any() else intensity.sum() * 0
    return {"loss": bce + intensity_weight * l1, "loss_occupancy": bce.detach(), "loss_intensity": l1.detach()}
