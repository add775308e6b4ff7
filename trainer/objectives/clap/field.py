"""The neural field CLAP renders: a coarse dense feature volume and the SDF / colour / intensity decoders on it.

UniPAD (OpenDriveLab/UniPAD, `render_head.py`, `render_utils/`) turns its encoders' voxel features into one
dense volume (a Conv3d + BN + ReLU "render_conv"), samples it trilinearly at points along rays, and decodes a
signed distance plus geometric features (SDF decoder, Softplus beta=100), and a colour from (features, geometric
features, view direction, SDF gradient). Here, as there, the decoders read the volume's features only (no
positional encoding), so the backbone's features must carry the geometry. Departures (reconstructed for spot's
CPU sizes and LiDAR-first use, named in docs/ARCHITECTURE.md):
- the volume is spot's sparse voxel features max-pooled into coarse cells (`volume_voxel_size`), not a dense 3D
  neck; the camera volume (`cameras.lift_image_features`) is added before the render conv, as UniPAD sums them;
- an intensity decoder beside the colour decoder (LiDAR rays render intensity, as ALSO predicts it);
- the colour and intensity decoders take no SDF gradient: the renderer's alphas come from consecutive samples'
  SDF (see `rendering`), so the field is never differentiated twice; normals are needed only for curvature.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from spot.runtime import VoxelGrid
from spot.trainer.sparse import SparseTensor

CORNERS = torch.tensor([[dz, dy, dx] for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)])


def pool_to_volume(
    features: SparseTensor, stride_zyx: tuple[int, int, int], shape_zyx: tuple[int, ...]
) -> torch.Tensor:
    """Max-pool voxel features into cells of `stride_zyx` voxels: (B, C, Z, Y, X), zeros where empty."""
    b, z, y, x = features.coords.long().unbind(1)
    nz, ny, nx = shape_zyx
    cell = ((b * nz + z // stride_zyx[0]) * ny + y // stride_zyx[1]) * nx + x // stride_zyx[2]
    channels = features.features.shape[1]
    volume = features.features.new_zeros(features.batch_size * nz * ny * nx, channels)
    volume = volume.scatter_reduce(0, cell[:, None].expand(-1, channels), features.features, "amax", include_self=False)
    return volume.view(features.batch_size, nz, ny, nx, channels).permute(0, 4, 1, 2, 3)


class VolumeSampler(nn.Module):
    """Trilinear samples of a (B, C, Z, Y, X) volume over a grid's range at metric points, zero outside.

    Written out (8 gathers) rather than `grid_sample`, so the samples differentiate w.r.t. the points (normals,
    curvature) with plain autograd on every backend.
    """

    def __init__(self, grid: VoxelGrid):
        super().__init__()
        self.register_buffer("origin", torch.tensor(grid.point_cloud_range[:3]), persistent=False)
        self.register_buffer("cell", torch.tensor(grid.voxel_size), persistent=False)
        self.register_buffer("corners", CORNERS.clone(), persistent=False)

    def forward(self, volume: torch.Tensor, points: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """points (N, 3) x y z metres, batch (N,) int64 -> (N, C). Cell centres carry the cells' features."""
        nb, channels, nz, ny, nx = volume.shape
        position = ((points - self.origin) / self.cell - 0.5).flip(-1)  # (N, 3) z y x, continuous cell index
        base = torch.floor(position.detach()).long()
        frac = position - base
        corner = base[:, None, :] + self.corners  # (N, 8, 3)
        size = torch.tensor([nz, ny, nx], device=points.device)
        inside = ((corner >= 0) & (corner < size)).all(-1)
        corner = torch.minimum(corner.clamp(min=0), size - 1)
        weight = torch.where(self.corners.bool(), frac[:, None, :], 1 - frac[:, None, :]).prod(-1) * inside
        flat = ((batch[:, None] * nz + corner[..., 0]) * ny + corner[..., 1]) * nx + corner[..., 2]  # (N, 8)
        table = volume.permute(0, 2, 3, 4, 1).reshape(nb * nz * ny * nx, channels)
        return (table[flat] * weight[..., None]).sum(1)


def mlp(widths: list[int], activation: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation)
    return nn.Sequential(*layers)


class SurfaceField(nn.Module):
    """Volume features at points -> SDF (metres), and colour (3) and intensity (1) in [0, 1] seen from a direction.

    UniPAD's decoder shapes (hidden width, `sdf_blocks` layers, 16 geometric features, Softplus beta=100); the
    SDF output is scaled by `sdf_scale` metres so a unit-scale output spans a cell.
    """

    GEOMETRIC_FEATURES = 16

    def __init__(self, grid: VoxelGrid, channels: int, hidden: int = 32, sdf_blocks: int = 3, sdf_scale: float = 1.0):
        super().__init__()
        self.sample = VolumeSampler(grid)
        self.sdf_scale = sdf_scale
        geo = self.GEOMETRIC_FEATURES
        self.sdf_decoder = mlp([channels] + [hidden] * sdf_blocks + [1 + geo], nn.Softplus(beta=100))
        appearance_in = channels + geo + 3  # + view direction
        self.colour_decoder = mlp([appearance_in, hidden, hidden, 3], nn.ReLU())
        self.intensity_decoder = mlp([appearance_in, hidden, hidden, 1], nn.ReLU())

    def sdf(self, volume: torch.Tensor, points: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """(N,) signed distance in metres (positive in free space)."""
        return self.sdf_decoder(self.sample(volume, points, batch))[:, 0] * self.sdf_scale

    def forward(
        self, volume: torch.Tensor, points: torch.Tensor, batch: torch.Tensor, directions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(sdf (N,), colour (N, 3), intensity (N,)) at points seen along unit `directions` (N, 3)."""
        features = self.sample(volume, points, batch)
        out = self.sdf_decoder(features)
        appearance = torch.cat([features, out[:, 1:], directions], dim=1)
        colour = self.colour_decoder(appearance).sigmoid()
        intensity = self.intensity_decoder(appearance)[:, 0].sigmoid()
        return out[:, 0] * self.sdf_scale, colour, intensity
