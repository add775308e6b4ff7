"""CenterPoint's losses: a penalty-reduced focal loss on Gaussian heatmaps, weighted L1 on box regression."""

from __future__ import annotations

import torch


def gaussian_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's focal loss (Law & Deng 2018, Zhou et al. 2019) summed over cells / number of centres.

    logits, target (B, C, H, W); target is 1 at object centres and a Gaussian bump around them, which
    down-weights (by (1 - target)^beta) negatives next to a centre.
    """
    probability = torch.sigmoid(logits.float()).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    positive_loss = torch.log(probability) * (1 - probability).pow(alpha) * positive
    negative_loss = torch.log(1 - probability) * probability.pow(alpha) * (1 - target).pow(beta) * (1 - positive)
    return -(positive_loss.sum() + negative_loss.sum()) / positive.sum().clamp(min=1)


def weighted_l1(prediction: torch.Tensor, target: torch.Tensor, channel_weights: torch.Tensor) -> torch.Tensor:
    """Sum over channels of `channel_weights` * |prediction - target| (T, R), averaged over the T objects."""
    if prediction.shape[0] == 0:
        return prediction.sum() * 0.0  # keeps the graph (DDP needs every parameter used)
    return ((prediction.float() - target).abs() * channel_weights).sum() / prediction.shape[0]
