import torch

from spot.trainer.models.heads import OccupancyDecoder


def test_decoder_shapes_with_upsampling():
    decoder = OccupancyDecoder(in_channels=16, num_outputs=5, z_bins=8, hidden=8, upsample=2)
    logits = decoder(torch.randn(2, 16, 10, 12))
    assert logits.shape == (2, 5, 8, 20, 24)
