"""Scene primitives and their exact intersection with the rays of a spinning LiDAR and with voxels.

Every solid is one of three shapes whose ray test is closed-form and vectorises over a block of the sweep's
(beam, column) grid: a `Box` (vertical prism on an oriented rectangle: buildings, walls, car bodies, sign
plates), a `Cylinder` (vertical: poles, trunks) and an `Ellipsoid` with a vertical axis (tree crowns, heads).
Coordinates are metres in the sensor frame (sensor at the origin, z up) when cast; `moved` places a solid.

Distances along a ray are *horizontal* distances `t` (range = t / cos(elevation)): all rays of one column share
an azimuth, so a prism's footprint is intersected once per column and only the height test runs per beam.
The same tests serve a level camera, whose elevations vary per pixel: every test broadcasts (b, 1) against
(b, c). `local(points)` gives points in a frame fixed to the solid (patterns that stick to its surface) and
`normal(local)` the outward unit normal there (cameras shade with it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .relief import Facade


@dataclass(frozen=True, slots=True)
class Surface:
    """What a return from a solid carries: SemanticKITTI raw id, instance id (0 = stuff), reflectivity, the
    share of its surface that rays pass through (foliage, chain-link fences, car windows), the material a
    camera sees ("" = the label's usual one, `spot.sim.shading.MATERIALS`), and what a LiDAR sees behind it
    (`spot.sim.relief`): the mean depth its returns come from (foliage), its windows (a `Facade`)."""

    label: int
    instance: int = 0
    reflectivity: float = 0.3
    porosity: float = 0.0
    material: str = ""
    penetration: float = 0.0
    facade: Facade | None = None


@dataclass(frozen=True, slots=True)
class RayBlock:
    """The rays of a block of the sweep grid: `tan_e`, `cos_e`, `sin_e` (b, 1), `cos_a`, `sin_a` (1, c)."""

    tan_e: np.ndarray
    cos_e: np.ndarray
    sin_e: np.ndarray
    cos_a: np.ndarray
    sin_a: np.ndarray


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    yaw: float
    half_length: float
    half_width: float
    z_min: float
    z_max: float
    surface: Surface

    @property
    def radius(self) -> float:
        return math.hypot(self.half_length, self.half_width)

    def moved(self, cos: float, sin: float, dx: float, dy: float, dz: float) -> Box:
        x, y = cos * self.x - sin * self.y + dx, sin * self.x + cos * self.y + dy
        return replace(
            self, x=x, y=y, yaw=self.yaw + float(np.arctan2(sin, cos)), z_min=self.z_min + dz, z_max=self.z_max + dz
        )

    def footprint_hits(self, cos_a: np.ndarray, sin_a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slab test of the horizontal ray from the origin: entry/exit distance and |normal . direction|."""
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        origin = (-(self.x * cy + self.y * sy), self.x * sy - self.y * cy)  # origin in the box frame
        direction = (cos_a * cy + sin_a * sy, sin_a * cy - cos_a * sy)
        near, far = [], []
        with np.errstate(divide="ignore", invalid="ignore"):
            for o, d, h in zip(origin, direction, (self.half_length, self.half_width), strict=True):
                t1, t2 = (-h - o) / d, (h - o) / d
                near.append(np.minimum(t1, t2))
                far.append(np.maximum(t1, t2))
        t_in, t_out = np.maximum(near[0], near[1]), np.minimum(far[0], far[1])
        cos_h = np.where(near[0] > near[1], np.abs(direction[0]), np.abs(direction[1]))
        return t_in, t_out, cos_h

    def local(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) in the box's frame: along its length, across it, above its bottom."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        dx, dy = points[..., 0] - self.x, points[..., 1] - self.y
        return np.stack([dx * c + dy * s, -dx * s + dy * c, points[..., 2] - self.z_min], axis=-1)

    def normal(self, local: np.ndarray) -> np.ndarray:
        """Outward unit normals (..., 3) in the casting frame at surface points given in the box's frame
        (`local(points)`): of the face the point lies on (the one it is least inside of)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        along, across, up = local[..., 0], local[..., 1], local[..., 2]
        height = self.z_max - self.z_min
        face = np.argmax(
            np.stack([np.abs(along) - self.half_length, np.abs(across) - self.half_width, up - height, -up], axis=-1),
            axis=-1,
        )
        x = np.where(face == 0, np.sign(along), 0.0)
        y = np.where(face == 1, np.sign(across), 0.0)
        z = np.where(face == 2, 1.0, np.where(face == 3, -1.0, 0.0))
        return np.stack([x * c - y * s, x * s + y * c, z], axis=-1)

    def overlaps(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Whether the closed axis-aligned boxes [lo, hi] (..., 3) meet this solid (separating axis test)."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        dx, dy = centre[..., 0] - self.x, centre[..., 1] - self.y
        ext_x = self.half_length * abs(c) + self.half_width * abs(s)
        ext_y = self.half_length * abs(s) + self.half_width * abs(c)
        along, across = dx * c + dy * s, -dx * s + dy * c
        ext_u = half[..., 0] * abs(c) + half[..., 1] * abs(s)
        ext_v = half[..., 0] * abs(s) + half[..., 1] * abs(c)
        return (
            (np.abs(dx) <= ext_x + half[..., 0])
            & (np.abs(dy) <= ext_y + half[..., 1])
            & (np.abs(along) <= self.half_length + ext_u)
            & (np.abs(across) <= self.half_width + ext_v)
            & (lo[..., 2] <= self.z_max)
            & (hi[..., 2] >= self.z_min)
        )


@dataclass(frozen=True, slots=True)
class Cylinder:
    x: float
    y: float
    radius: float
    z_min: float
    z_max: float
    surface: Surface

    def moved(self, cos: float, sin: float, dx: float, dy: float, dz: float) -> Cylinder:
        x, y = cos * self.x - sin * self.y + dx, sin * self.x + cos * self.y + dy
        return replace(self, x=x, y=y, z_min=self.z_min + dz, z_max=self.z_max + dz)

    def footprint_hits(self, cos_a: np.ndarray, sin_a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = self.x * cos_a + self.y * sin_a
        disc = b * b - (self.x**2 + self.y**2 - self.radius**2)
        root = np.sqrt(np.maximum(disc, 0.0))
        miss = disc < 0
        t_in = np.where(miss, np.inf, b - root)
        return t_in, np.where(miss, -np.inf, b + root), root / self.radius

    def local(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) relative to the axis' bottom end (axes of the casting frame: the shape is round)."""
        return points - (self.x, self.y, self.z_min)

    def normal(self, local: np.ndarray) -> np.ndarray:
        """Outward unit normals (..., 3) at surface points given by `local(points)`: radial on the mantle,
        vertical on the caps."""
        dx, dy, up = local[..., 0], local[..., 1], local[..., 2]
        height = self.z_max - self.z_min
        radial = np.hypot(dx, dy)
        mantle = radial - self.radius >= np.maximum(up - height, -up)
        with np.errstate(divide="ignore", invalid="ignore"):
            nx, ny = np.where(mantle, dx / radial, 0.0), np.where(mantle, dy / radial, 0.0)
        z = np.where(mantle, 0.0, np.where(up - height > -up, 1.0, -1.0))
        return np.stack([nx, ny, z], axis=-1)

    def overlaps(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        nearest_x = np.clip(self.x, lo[..., 0], hi[..., 0])
        nearest_y = np.clip(self.y, lo[..., 1], hi[..., 1])
        inside = (nearest_x - self.x) ** 2 + (nearest_y - self.y) ** 2 <= self.radius**2
        return inside & (lo[..., 2] <= self.z_max) & (hi[..., 2] >= self.z_min)


@dataclass(frozen=True, slots=True)
class Ellipsoid:
    x: float
    y: float
    z: float
    radius: float
    half_height: float
    surface: Surface

    @property
    def z_min(self) -> float:
        return self.z - self.half_height

    @property
    def z_max(self) -> float:
        return self.z + self.half_height

    def moved(self, cos: float, sin: float, dx: float, dy: float, dz: float) -> Ellipsoid:
        x, y = cos * self.x - sin * self.y + dx, sin * self.x + cos * self.y + dy
        return replace(self, x=x, y=y, z=self.z + dz)

    def hits(self, rays: RayBlock) -> tuple[np.ndarray, np.ndarray]:
        """Entry distance (b, c) (inf on a miss or from inside) and |cos| of the incidence angle."""
        k2 = (self.radius / self.half_height) ** 2
        a = 1.0 + k2 * rays.tan_e**2
        half_b = -(self.x * rays.cos_a + self.y * rays.sin_a + k2 * self.z * rays.tan_e)
        c = self.x**2 + self.y**2 + k2 * self.z**2 - self.radius**2
        disc = half_b * half_b - a * c
        t = (-half_b - np.sqrt(np.maximum(disc, 0.0))) / a
        hit = (disc >= 0) & (t > 0)
        t = np.where(hit, t, 0.0)
        gx, gy = t * rays.cos_a - self.x, t * rays.sin_a - self.y
        gz = k2 * (t * rays.tan_e - self.z)
        dot = rays.cos_e * (gx * rays.cos_a + gy * rays.sin_a) + rays.sin_e * gz
        with np.errstate(invalid="ignore"):
            cos_inc = np.abs(dot) / np.sqrt(gx * gx + gy * gy + gz * gz)
        return np.where(hit, t, np.inf), np.nan_to_num(cos_inc)

    def local(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) relative to the centre (axes of the casting frame: the shape is round)."""
        return points - (self.x, self.y, self.z)

    def normal(self, local: np.ndarray) -> np.ndarray:
        """Outward unit normals (..., 3) at surface points given by `local(points)`: the gradient of
        (dx^2 + dy^2) / r^2 + dz^2 / h^2."""
        gradient = local * (1.0, 1.0, (self.radius / self.half_height) ** 2)
        return gradient / np.linalg.norm(gradient, axis=-1, keepdims=True)

    def overlaps(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        k = self.radius / self.half_height  # scaling z by k makes the ellipsoid a sphere
        nearest = np.stack(
            [
                np.clip(self.x, lo[..., 0], hi[..., 0]),
                np.clip(self.y, lo[..., 1], hi[..., 1]),
                np.clip(self.z, lo[..., 2], hi[..., 2]),
            ],
            axis=-1,
        )
        d = nearest - (self.x, self.y, self.z)
        return d[..., 0] ** 2 + d[..., 1] ** 2 + (k * d[..., 2]) ** 2 <= self.radius**2


Solid = Box | Cylinder | Ellipsoid


def in_frame(solids: list[Solid], pose: np.ndarray) -> list[Solid]:
    """World `solids` moved into the level frame whose pose (frame -> world, rotation about z only) is `pose`."""
    inverse = np.linalg.inv(pose)
    cos, sin = float(inverse[0, 0]), float(inverse[1, 0])
    dx, dy, dz = (float(v) for v in inverse[:3, 3])
    return [s.moved(cos, sin, dx, dy, dz) for s in solids]


def prism_hits(solid: Box | Cylinder, rays: RayBlock) -> tuple[np.ndarray, np.ndarray]:
    """Entry distance (b, c) into a vertical prism (side, top or bottom face; inf on a miss) and |cos incidence|."""
    t_in, t_out, cos_h = solid.footprint_hits(rays.cos_a, rays.sin_a)  # (1, c)
    tan = rays.tan_e  # (b, 1)
    start = np.maximum(t_in, 0.0)
    z_start = start * tan
    exists = t_out >= start
    side = exists & (t_in > 0) & (z_start >= solid.z_min) & (z_start <= solid.z_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_top, t_bottom = solid.z_max / tan, solid.z_min / tan
    top = exists & (tan < 0) & (z_start > solid.z_max) & (t_top <= t_out)
    bottom = exists & (tan > 0) & (z_start < solid.z_min) & (t_bottom <= t_out)
    t = np.where(side, t_in, np.where(top, t_top, np.where(bottom, t_bottom, np.inf)))
    cos_inc = np.where(side, rays.cos_e * cos_h, np.abs(rays.sin_e))
    return t, cos_inc


def solid_hits(solid: Solid, rays: RayBlock) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(solid, Ellipsoid):
        return solid.hits(rays)
    return prism_hits(solid, rays)
