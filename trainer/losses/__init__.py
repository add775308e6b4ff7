"""Losses shared by the objectives and the fine-tuning heads."""

from .lovasz import lovasz_softmax
from .segmentation import CrossEntropyLovasz

__all__ = ["CrossEntropyLovasz", "lovasz_softmax"]
