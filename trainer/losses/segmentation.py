"""Class-weighted cross-entropy + λ·Lovász-softmax: the loss of SPOT's occupancy decoder and of segmentation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from spot.runtime import IGNORE_INDEX

from .lovasz import lovasz_softmax


class CrossEntropyLovasz(nn.Module):
    """`CE(logits, labels; class_weights) + lovasz_weight * Lovász(softmax(logits), labels)`.

    logits (P, C), labels (P,) with `ignore_index` for unlabeled. `class_weights` (C,) rebalance CE: SPOT uses
    2.0 for foreground things, 1.0 for background stuff and 0.01 for empty space.
    """

    def __init__(
        self,
        num_classes: int,
        class_weights: Sequence[float] | None = None,
        lovasz_weight: float = 1.0,
        ignore_index: int = IGNORE_INDEX,
    ):
        super().__init__()
        weights = (
            torch.ones(num_classes) if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        )
        if weights.shape != (num_classes,):
            raise ValueError(f"class_weights has {weights.numel()} values, expected one per class ({num_classes})")
        self.register_buffer("class_weights", weights, persistent=False)
        self.lovasz_weight = lovasz_weight
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Returns `loss` and its parts `loss_ce`, `loss_lovasz` (all scalars)."""
        weight = self.class_weights.to(logits.dtype)
        ce = F.cross_entropy(logits, labels, weight=weight, ignore_index=self.ignore_index)
        if torch.all(labels == self.ignore_index):
            ce = logits.sum() * 0.0  # cross_entropy gives NaN when every point is ignored
        lovasz = lovasz_softmax(logits.float().softmax(dim=1), labels, self.ignore_index)
        return {"loss": ce + self.lovasz_weight * lovasz, "loss_ce": ce.detach(), "loss_lovasz": lovasz.detach()}
