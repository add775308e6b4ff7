"""PPT's per-voxel classifiers over several label sets, one domain per batch (Pointcept `PPT-v1m2`, `PPT-v1m1`).

- `DecoupledClassifier`: one linear layer per domain (v1m2, what Pointcept released for outdoor data).
- `LanguageClassifier`: language-guided categorical alignment (v1m1). Voxel features are projected into the
  text-embedding space and L2-normalised; a domain's logits are `scale * cos(feature, class text embedding)` over
  that domain's classes. Classes of different label sets meet through their texts alone: "car" in two label sets is
  the same row, "man made" lies near "building". The class embeddings are a persistent buffer (saved in the
  checkpoint), so nothing downstream needs the text encoder; the scale is fixed (Pointcept freezes CLIP's logit
  scale, exp(4.6052) = 100).

`for_domain(d)` gives the plain head of one domain, a `SparseTensor`'s voxel features -> logits (V, K_d), as the
`semantic_segmentation` head (`VoxelClassifier`) is: what export traces and ordinary fine-tuning starts from.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from spot.trainer.sparse import SparseTensor

from .segmentation import VoxelClassifier

LOGIT_SCALE = 100.0  # CLIP's trained logit scale, exp(4.6052), frozen in Pointcept's PPT-v1m1


class DecoupledClassifier(nn.Module):
    """One `nn.Linear(in_channels, K_d)` per domain."""

    def __init__(self, in_channels: int, num_classes: Sequence[int]):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(in_channels, k) for k in num_classes)

    def forward(self, features: torch.Tensor, domain: int) -> torch.Tensor:
        return self.heads[domain](features)

    def for_domain(self, domain: int) -> VoxelClassifier:
        head = VoxelClassifier(self.heads[domain].in_features, self.heads[domain].out_features)
        head.load_state_dict(self.heads[domain].state_dict())
        return head.to(self.heads[domain].weight.device)


class CosineClassifier(nn.Module):
    """features -> Linear -> L2-normalise -> `@ class_weights.T`, the class weights being scale x unit rows."""

    def __init__(self, projection: nn.Linear, class_weights: torch.Tensor):
        super().__init__()
        self.projection = projection
        self.register_buffer("class_weights", class_weights.detach().clone())

    def forward(self, x: SparseTensor) -> torch.Tensor:
        return F.normalize(self.projection(x.features), dim=1) @ self.class_weights.T


class LanguageClassifier(nn.Module):
    """Projection into the text space, scored by cosine against the batch domain's class embeddings.

    class_embeddings: (sum K_d, D), the domains' class rows one after another; `num_classes[d]` = K_d.
    """

    def __init__(self, in_channels: int, class_embeddings: torch.Tensor, num_classes: Sequence[int],
                 logit_scale: float = LOGIT_SCALE):  # fmt: skip
        super().__init__()
        if class_embeddings.shape[0] != sum(num_classes):
            raise ValueError(f"{class_embeddings.shape[0]} class embeddings for {sum(num_classes)} classes")
        self.projection = nn.Linear(in_channels, class_embeddings.shape[1])
        self.register_buffer("class_embeddings", F.normalize(class_embeddings.float(), dim=1))
        ends = torch.tensor(list(num_classes)).cumsum(0).tolist()
        self.slices = [slice(end - k, end) for end, k in zip(ends, num_classes, strict=True)]
        self.logit_scale = float(logit_scale)

    def domain_embeddings(self, domain: int) -> torch.Tensor:
        """(K_d, D) unit rows of the domain's classes."""
        return self.class_embeddings[self.slices[domain]]

    def forward(self, features: torch.Tensor, domain: int) -> torch.Tensor:
        return self.logit_scale * (F.normalize(self.projection(features), dim=1) @ self.domain_embeddings(domain).T)

    def for_domain(self, domain: int) -> CosineClassifier:
        return self.for_unit_rows(self.domain_embeddings(domain))

    def for_unit_rows(self, class_embeddings: torch.Tensor) -> CosineClassifier:
        """The plain head scoring any classes given by their unit embedding rows (K, D), e.g. of a label set this
        head never trained on."""
        return CosineClassifier(copy.deepcopy(self.projection), self.logit_scale * class_embeddings)
