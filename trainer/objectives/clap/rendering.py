"""NeuS-style volume rendering of the surface field along rays: depth, colour and intensity per ray.

As in UniPAD's `NeuSSampler` and renderer: uniform samples between the near plane and where the ray leaves the
volume (stratified while training), then importance samples drawn from the weights a sharp fixed-variance pass
gives (NeuS's up-sampling, one step), and the rendering pass over all samples with a learnable sharpness
s = exp(log_inv_s). Reconstructed parts (UniPAD works in a scene scaled by 1/54 and takes alphas from its cos-
annealed SDF gradient; neither carries over as is):
- sharpness in 1/metre (`inv_s_init` 4/m, `upsample_inv_s` 16/m, chosen for 0.4-0.8 m cells);
- alphas from consecutive samples' SDF, alpha_i = clip((Phi(s f_i) - Phi(s f_i+1)) / Phi(s f_i), 0, 1), Phi the
  sigmoid: NeuS's discrete form (its up-sampling uses it too), which needs no gradient of the field;
- what a ray's weights leave unclaimed is rendered at the far bound (a ray that meets nothing measures "far").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from spot.runtime import VoxelGrid

from ...schema import bounded
from .field import SurfaceField


@dataclass
class RenderConfig:
    """uniform_samples + importance_samples per ray (UniPAD: 72 + 24; CPU-sized 32 + 16), near plane (m), the
    loss weights (UniPAD: depth and colour L1 x 10) and the sharpness schedule."""

    uniform_samples: int = bounded(32, ge=2)
    importance_samples: int = bounded(16, ge=0)
    near: float = bounded(0.5, ge=0)
    inv_s_init: float = bounded(4.0, gt=0)  # 1/m
    upsample_inv_s: float = bounded(16.0, gt=0)  # 1/m
    depth_weight: float = bounded(1.0, ge=0)  # on the depth L1 in metres
    colour_weight: float = bounded(10.0, ge=0)
    intensity_weight: float = bounded(1.0, ge=0)


@dataclass(frozen=True)
class Rendered:
    """Per ray: depth (R,) metres, colour (R, 3), intensity (R,)."""

    depth: torch.Tensor
    colour: torch.Tensor
    intensity: torch.Tensor


def exit_distance(origins: torch.Tensor, directions: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
    """(R,) distance along each ray (from an origin inside the grid's range) to where it leaves the range."""
    low = torch.tensor(grid.point_cloud_range[:3], device=origins.device)
    high = torch.tensor(grid.point_cloud_range[3:], device=origins.device)
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    bound = torch.where(safe > 0, high, low)
    return ((bound - origins) / safe).amin(dim=1).clamp(min=0)


def alphas(sdf: torch.Tensor, inv_s: torch.Tensor | float) -> torch.Tensor:
    """(R, S) SDF at sorted samples -> (R, S - 1) opacity of each interval (NeuS, discrete form)."""
    cdf = torch.sigmoid(sdf * inv_s)
    previous, following = cdf[:, :-1], cdf[:, 1:]
    return ((previous - following + 1e-5) / (previous + 1e-5)).clamp(0.0, 1.0)


def transmittance_weights(alpha: torch.Tensor) -> torch.Tensor:
    """(R, S) alphas -> weights alpha_i * prod_{j<i} (1 - alpha_j)."""
    survive = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-7], dim=1), dim=1)
    return alpha * survive[:, :-1]


def inverse_cdf(bins: torch.Tensor, weights: torch.Tensor, count: int, random: bool) -> torch.Tensor:
    """(R, count) distances drawn from the piecewise-constant density `weights` (R, S) over `bins` (R, S + 1)."""
    pdf = (weights + 1e-5) / (weights + 1e-5).sum(dim=1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=1)], dim=1)
    if random:
        u = torch.rand(len(bins), count, device=bins.device)
    else:
        u = ((torch.arange(count, device=bins.device) + 0.5) / count).expand(len(bins), count)
    index = torch.searchsorted(cdf, u.contiguous(), right=True).clamp(1, cdf.shape[1] - 1)
    low_cdf, high_cdf = cdf.gather(1, index - 1), cdf.gather(1, index)
    low_bin, high_bin = bins.gather(1, index - 1), bins.gather(1, index)
    share = (u - low_cdf) / (high_cdf - low_cdf).clamp(min=1e-9)
    return low_bin + share * (high_bin - low_bin)


class NeuSRenderer(nn.Module):
    """Rays through a volume -> `Rendered`, decoded by a `SurfaceField`."""

    def __init__(self, grid: VoxelGrid, config: RenderConfig):
        super().__init__()
        self.grid, self.config = grid, config
        self.log_inv_s = nn.Parameter(torch.tensor(math.log(config.inv_s_init)))

    def distances(self, origins: torch.Tensor, directions: torch.Tensor, sdf_along: Callable) -> torch.Tensor:
        """(R, S) sorted sample distances: stratified uniform ones plus importance samples near the surface;
        `sdf_along` maps (R, S, 3) points on the rays to their (R, S) SDF."""
        c = self.config
        near = torch.full((len(origins),), c.near, device=origins.device)
        far = torch.maximum(exit_distance(origins, directions, self.grid), near + 1e-3)
        steps = torch.linspace(0.0, 1.0, c.uniform_samples + 1, device=origins.device)
        bins = near[:, None] + (far - near)[:, None] * steps  # (R, S + 1) interval edges
        if self.training:
            jitter = torch.rand(len(origins), c.uniform_samples, device=origins.device)
        else:
            jitter = torch.full((len(origins), c.uniform_samples), 0.5, device=origins.device)
        t = bins[:, :-1] + jitter * (bins[:, 1:] - bins[:, :-1])
        if c.importance_samples == 0:
            return t
        with torch.no_grad():
            sdf = sdf_along(origins[:, None] + t[..., None] * directions[:, None])
            weights = transmittance_weights(alphas(sdf, c.upsample_inv_s))  # (R, S - 1), intervals between samples
            extra = inverse_cdf(t, weights, c.importance_samples, self.training)
        return torch.sort(torch.cat([t, extra], dim=1), dim=1).values

    def forward(
        self, field: SurfaceField, volume: torch.Tensor, batch: torch.Tensor, origins: torch.Tensor,
        directions: torch.Tensor,
    ) -> Rendered:  # fmt: skip
        """Rays of frame `batch` (R,) from `origins` along unit `directions` (R, 3) through `volume`."""

        def frames_of(points: torch.Tensor) -> torch.Tensor:  # (R, S, 3) points -> (R * S,) their frames
            return batch[:, None].expand(points.shape[:2]).reshape(-1)

        def sdf_along(points: torch.Tensor) -> torch.Tensor:
            return field.sdf(volume, points.reshape(-1, 3), frames_of(points)).view(points.shape[:2])

        t = self.distances(origins, directions, sdf_along)  # (R, S)
        r, s = t.shape
        points = origins[:, None] + t[..., None] * directions[:, None]
        views = directions[:, None].expand(r, s, 3).reshape(-1, 3)
        sdf, colour, intensity = field(volume, points.reshape(-1, 3), frames_of(points), views)
        weights = transmittance_weights(alphas(sdf.view(r, s), self.log_inv_s.exp()))  # (R, S - 1)
        middle = 0.5 * (t[:, 1:] + t[:, :-1])
        left_over = 1 - weights.sum(dim=1)
        far = t[:, -1]
        depth = (weights * middle).sum(1) + left_over * far
        colour = colour.view(r, s, 3)
        colour = (weights[..., None] * 0.5 * (colour[:, 1:] + colour[:, :-1])).sum(1)
        intensity = intensity.view(r, s)
        intensity = (weights * 0.5 * (intensity[:, 1:] + intensity[:, :-1])).sum(1)
        return Rendered(depth, colour, intensity)
