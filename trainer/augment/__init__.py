"""Training-time augmentations on `Sample`s (numpy): each takes a sample and a numpy Generator."""

from .beam_resample import BeamResample, BeamResampleConfig, downsample_beams, upsample_beams
from .geometric import GlobalTransform, GlobalTransformConfig, draw_transform, transform_boxes

__all__ = [
    "BeamResample",
    "BeamResampleConfig",
    "GlobalTransform",
    "GlobalTransformConfig",
    "downsample_beams",
    "draw_transform",
    "transform_boxes",
    "upsample_beams",
]
