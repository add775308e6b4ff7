"""Curvature sampling: render the rays whose surface points bend most (CLAP), uniformly during a warm-up.

CLAP's abstract says only that curvature sampling picks the more informative points and pixels; what follows is
reconstructed (secondary notes: curvature = divergence of the predicted normals, uniform warm-up):
- normals n = grad s / |grad s| of the field's SDF s, by first-order autograd w.r.t. the points;
- curvature kappa = div n by central differences of n along the three axes at step h (6 extra normal
  evaluations per point, no second-order autograd): sum_i (n_i(x + h e_i) - n_i(x - h e_i)) / 2h, which is
  twice the mean curvature (2 / r on a sphere of radius r, 0 on a plane);
- rays are drawn per frame without replacement with probability (1 - mix) |kappa| / sum |kappa| + mix / N
  (`uniform_share`), uniform only during the warm-up, when the field's normals are still noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import torch

from ...schema import bounded


class RaySampling(StrEnum):
    curvature = "curvature"
    uniform = "uniform"


@dataclass
class RaySamplingConfig:
    """rays: LiDAR rays rendered per frame; candidates: per frame, they are drawn from (CLAP.md: 4x);
    warmup_steps: uniform draws first (CLAP: 4 epochs, per the secondary notes); step: h in metres."""

    strategy: RaySampling = RaySampling.curvature
    rays: int = bounded(512, ge=1)
    candidates: int = bounded(2048, ge=1)
    uniform_share: float = bounded(0.25, ge=0, le=1)
    warmup_steps: int = bounded(100, ge=0)
    step: float = bounded(0.1, gt=0)


def sdf_normals(sdf: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor) -> torch.Tensor:
    """(N, 3) unit normals grad s / |grad s| at `points`; no graph is kept (parameters get no gradient)."""
    with torch.enable_grad():
        x = points.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(sdf(x).sum(), x)
    return gradient / gradient.norm(dim=1, keepdim=True).clamp(min=1e-9)


def normal_divergence(sdf: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, step: float) -> torch.Tensor:
    """(N,) div n at `points` by central differences of the normals at +-step along x, y and z. `sdf` maps
    (N, 3) points to (N,) values, row i belonging to the same ray (frame) as `points[i]`."""
    divergence = torch.zeros(len(points), dtype=points.dtype, device=points.device)
    for axis in range(3):
        offset = torch.zeros(3, dtype=points.dtype, device=points.device)
        offset[axis] = step
        ahead, behind = sdf_normals(sdf, points + offset), sdf_normals(sdf, points - offset)
        divergence += (ahead[:, axis] - behind[:, axis]) / (2 * step)
    return divergence


def draw_rays(
    frame: torch.Tensor, count: int, curvature: torch.Tensor | None, uniform_share: float = 0.0
) -> torch.Tensor:
    """Indices of `count` candidates per frame (all where a frame has fewer). Without `curvature`: the first
    ones, which is a uniform draw because candidates come in seeded random order (and the same draw for every
    checkpoint). With it: without replacement, with probability (1 - uniform_share) |kappa| / sum |kappa| +
    uniform_share / N."""
    chosen = []
    for b in torch.unique(frame):
        members = torch.nonzero(frame == b).squeeze(1)
        if curvature is None:
            chosen.append(members[:count])
            continue
        magnitude = curvature[members].abs().double().nan_to_num(0.0)
        uniform = torch.full_like(magnitude, 1.0 / len(members))
        share = magnitude / magnitude.sum() if magnitude.sum() > 0 else uniform
        weights = (1 - uniform_share) * share + uniform_share * uniform
        chosen.append(members[torch.multinomial(weights, min(count, len(members)), replacement=False)])
    return torch.cat(chosen)
