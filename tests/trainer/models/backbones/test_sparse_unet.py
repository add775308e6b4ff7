"""Sparse UNet: shapes, gradients, registry, and parity with spconv on a real scan."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from spot.runtime import VoxelGrid, voxelize
from spot.runtime.io.binary import read_kitti_bin
from spot.trainer.components import MODELS
from spot.trainer.config import SpotConfigError, validate_section
from spot.trainer.models.backbones import SparseUNet, SparseUNetConfig
from spot.trainer.sparse import SparseTensor, set_backend

from ...sparse.grids import random_coords

SHAPE = (12, 16, 16)


def small_input(seed: int = 0) -> SparseTensor:
    coords = torch.from_numpy(random_coords(np.random.default_rng(seed), SHAPE, batch_size=2, density=0.1))
    return SparseTensor(torch.randn(len(coords), 4), coords, SHAPE, batch_size=2)


def test_unet_keeps_voxels_and_declares_its_width():
    model = SparseUNet(SparseUNetConfig(channels=(8, 16, 24), encoder_blocks=1))
    x = small_input()
    out = model(x)
    assert model.out_channels == 8
    assert out.features.shape == (len(x), 8) and torch.equal(out.coords, x.coords)
    assert {"subm0", "subm1", "subm2", "down1", "down2", "down1/inverse", "down2/inverse"} <= set(x.kernel_maps)


def test_unet_trains_every_parameter():
    model = SparseUNet(SparseUNetConfig(channels=(8, 16, 24), encoder_blocks=1, decoder_blocks=2))
    model(small_input()).features.square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_backbone_is_built_by_its_registry_name():
    model = MODELS["sparse_unet"].build(SparseUNetConfig(in_channels=3, channels=(4, 8)), None)
    assert isinstance(model, SparseUNet) and model.config.in_channels == 3 and model.out_channels == 4
    with pytest.raises(SpotConfigError, match=r"`model.channels` = \[16\]: expected at least 2 values"):
        validate_section({"channels": [16]}, SparseUNetConfig, "model")
    with pytest.raises(SpotConfigError, match=r"`model.backend`: Invalid value 'cuda', expected one of"):
        validate_section({"backend": "cuda"}, SparseUNetConfig, "model")


@pytest.mark.realdata
def test_native_unet_matches_spconv_on_a_real_scan(lidar_data):
    pytest.importorskip("spconv")
    scan = read_kitti_bin(lidar_data / "kitti_object/training/velodyne/000000.bin")
    grid = VoxelGrid((0.0, -40.0, -3.0, 70.4, 40.0, 1.0), (0.1, 0.1, 0.1))
    voxels = voxelize(grid, scan.points)
    torch.manual_seed(0)
    native = SparseUNet(SparseUNetConfig(channels=(16, 32, 64, 128))).eval()
    reference = set_backend(copy.deepcopy(native), "spconv")
    with torch.no_grad():
        out_native = native(SparseTensor.from_voxels(voxels.features, voxels.coords, grid.grid_shape, 1))
        out_spconv = reference(SparseTensor.from_voxels(voxels.features, voxels.coords, grid.grid_shape, 1))
    assert torch.equal(out_native.coords, out_spconv.coords)
    scale = out_spconv.features.abs().max()
    assert (out_native.features - out_spconv.features).abs().max() / scale < 1e-4
