"""Training-time augmentations on `Sample`s (numpy): each takes a sample and a numpy Generator."""

from .beam_resample import BeamResample, BeamResampleConfig, downsample_beams, upsample_beams

__all__ = ["BeamResample", "BeamResampleConfig", "downsample_beams", "upsample_beams"]
