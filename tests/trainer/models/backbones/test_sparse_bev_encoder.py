"""Sparse BEV encoder: OpenPCDet's grid arithmetic, the BEV map's shape, gradients, parity with spconv."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from spot.trainer.models.backbones import SparseBEVEncoder, SparseBEVEncoderConfig
from spot.trainer.sparse import SparseTensor, set_backend

from ...sparse.grids import random_coords

SHAPE = (41, 32, 24)


def small_input() -> SparseTensor:
    coords = torch.from_numpy(random_coords(np.random.default_rng(0), SHAPE, batch_size=2, density=0.02))
    return SparseTensor(torch.randn(len(coords), 4), coords, SHAPE, batch_size=2)


def small_encoder() -> SparseBEVEncoder:
    return SparseBEVEncoder(SparseBEVEncoderConfig(channels=(4, 8, 8, 8), blocks=(1, 1, 1, 1), out_channels=16))


def test_kitti_grid_gives_openpcdet_bev_shape():
    encoder = SparseBEVEncoder(SparseBEVEncoderConfig())
    assert encoder.output_grid((41, 1600, 1408)) == (2, 200, 176)
    assert encoder.bev_channels((41, 1600, 1408)) == 256 and encoder.config.bev_stride == 8


def test_bev_map_shape_and_gradients():
    encoder = small_encoder()
    result = encoder(small_input())
    z, y, x = encoder.output_grid(SHAPE)
    assert result["bev"].shape == (2, encoder.bev_channels(SHAPE), y, x) == (2, 16 * z, 4, 3)
    assert result["stride"] == 8 and result["sparse"].spatial_shape == (z, y, x)
    result["bev"].square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_bev_encoder_matches_spconv():
    pytest.importorskip("spconv")
    encoder = small_encoder().eval()
    reference = set_backend(copy.deepcopy(encoder), "spconv")
    x = small_input()
    with torch.no_grad():
        expected = reference(x.replace_features(x.features))["bev"]
        actual = encoder(x)["bev"]
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
