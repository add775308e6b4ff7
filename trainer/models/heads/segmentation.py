"""The segmentation head: class logits for every voxel of the backbone's output, one linear layer (as in
Pointcept's and OpenPCDet's sparse segmentors; the UNet's decoder already mixes the context)."""

from __future__ import annotations

import torch
from torch import nn

from spot.trainer.sparse import SparseTensor


class VoxelClassifier(nn.Linear):
    """Voxel features (V, in_channels) of a `SparseTensor` -> class logits (V, num_classes).

    An `nn.Linear` underneath, so its parameters are `weight` and `bias` and its initialisation is torch's.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__(in_channels, num_classes)

    def forward(self, x: SparseTensor) -> torch.Tensor:
        """Reads the backbone's voxel features; returns logits (V, num_classes) in its voxel order."""
        return super().forward(x.features)
