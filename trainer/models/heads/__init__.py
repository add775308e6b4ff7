"""Heads on a backbone's output, one file per family: what each objective puts on top of the backbone.

Modules:
    occupancy         SPOT's occupancy decoder (BEV map -> voxel-column logits)
    implicit_surface  ALSO's implicit surface decoder (voxel features -> occupancy and intensity at queries)
    segmentation      the per-voxel classifier of semantic segmentation
    domain_classifiers  PPT's classifiers over several label sets: one linear head per domain, or language-guided
    center_head       CenterPoint's heatmap and box-regression head (BEV map)
"""

from __future__ import annotations

from .center_head import CenterHead
from .domain_classifiers import CosineClassifier, DecoupledClassifier, LanguageClassifier
from .implicit_surface import ImplicitSurfaceDecoder
from .occupancy import OccupancyDecoder
from .segmentation import VoxelClassifier

__all__ = [
    "CenterHead",
    "CosineClassifier",
    "DecoupledClassifier",
    "ImplicitSurfaceDecoder",
    "LanguageClassifier",
    "OccupancyDecoder",
    "VoxelClassifier",
]
