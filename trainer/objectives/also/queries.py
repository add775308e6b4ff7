"""ALSO's query points: where along the sensor rays space is empty and where the surface is.

A LiDAR return says the ray crossed empty space up to the surface and hit it. For sampled returns `p` seen
from `o` (unit ray `d`), three kinds of query, about a third each:
- in front: `p - u d`, u ~ U(front_min, front_max): empty (label 0);
- behind:   `p + u d`, u ~ U(0, behind_max): occupied (label 1), intensity target = the return's;
- far:      `o + v (p - o)`, v ~ U(0, 1) but at least `front_max` short of p: empty.
The backbone never sees the queries: an implicit decoder must infer them from the features around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spot.runtime import SpotInputError

from ...schema import Invalid, bounded

QUERY_FRONT, QUERY_BEHIND, QUERY_FAR = 0, 1, 2


@dataclass(frozen=True)
class SurfaceQueryConfig:
    queries_per_scan: int = bounded(6000, ge=1)
    front_min: float = bounded(0.05, ge=0)  # metres
    front_max: float = bounded(0.5, gt=0)
    behind_max: float = bounded(0.1, gt=0)

    def check(self) -> None:
        if self.front_max <= self.front_min:
            raise Invalid("front_max", f"expected more than front_min ({self.front_min})", self.front_max)


@dataclass(frozen=True)
class SurfaceQueries:
    """xyz float32 (Q, 3), occupancy float32 (Q,) in {0, 1}, intensity float32 (Q,) (valid where occupied),
    kind int64 (Q,) one of QUERY_FRONT / QUERY_BEHIND / QUERY_FAR."""

    xyz: np.ndarray
    occupancy: np.ndarray
    intensity: np.ndarray
    kind: np.ndarray


def sample_surface_queries(
    xyz: np.ndarray,
    intensity: np.ndarray,
    rng: np.random.Generator,
    config: SurfaceQueryConfig = SurfaceQueryConfig(),
    source: str | None = None,
    origin: np.ndarray | None = None,
) -> SurfaceQueries:
    """Queries for one scan (sensor at `origin`, default the frame's origin); `source` names it in errors."""
    origin = np.zeros(3) if origin is None else np.asarray(origin, np.float64)
    xyz = np.asarray(xyz, np.float64)
    ray = xyz - origin
    length = np.linalg.norm(ray, axis=1)
    usable = np.flatnonzero(length > 2 * config.front_max)  # far queries need room in front of the return
    if len(usable) == 0:
        raise SpotInputError(f"no return is further than {2 * config.front_max} m from the sensor: no rays to query",
                             source=source)  # fmt: skip
    chosen = rng.choice(usable, size=config.queries_per_scan, replace=len(usable) < config.queries_per_scan)
    kind = rng.integers(0, 3, size=len(chosen))
    direction = ray[chosen] / length[chosen, None]
    u = np.where(
        kind == QUERY_FRONT,
        -rng.uniform(config.front_min, config.front_max, len(chosen)),
        rng.uniform(0.0, config.behind_max, len(chosen)),
    )
    far_distance = rng.uniform(0.0, 1.0, len(chosen)) * (length[chosen] - config.front_max)
    offset_from_return = np.where(kind == QUERY_FAR, far_distance - length[chosen], u)
    queries = xyz[chosen] + offset_from_return[:, None] * direction
    occupied = kind == QUERY_BEHIND
    return SurfaceQueries(
        xyz=queries.astype(np.float32),
        occupancy=occupied.astype(np.float32),
        intensity=np.where(occupied, np.asarray(intensity)[chosen], 0.0).astype(np.float32),
        kind=kind.astype(np.int64),
    )
