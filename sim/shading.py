"""What a camera sees of a surface point: material albedo, per-instance colour, texture, sun and sky, noise.

Colours are linear RGB in [0, 1] until `encode`, which applies sensor noise and the sRGB curve. A material
(`MATERIALS`) is a palette of albedos; each solid picks one colour of its material's palette and a brightness
jitter from a hash of its identity (a car's instance id, a building's own surface), so two cars, or two
buildings, differ in colour while one car keeps its colour in every camera and frame. The texture is one
procedural pattern for every material (soft blotches plus a fine grain, a function of the point on the surface,
never of the label), so colour tells a class apart only as much as it does in real images. Lighting is a sun
(Lambert, the analytic normals of the solids and ground) plus a sky term brighter on upward faces; no shadows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .classes import (
    BICYCLE,
    BICYCLIST,
    BUILDING,
    BUS,
    CAR,
    FENCE,
    LANE_MARKING,
    MOVING,
    PARKING,
    PERSON,
    POLE,
    ROAD,
    SIDEWALK,
    TERRAIN,
    TRAFFIC_SIGN,
    TRUCK,
    TRUNK,
    VEGETATION,
)
from .patterns import cell_noise, hash_unit
from .solids import Surface


@dataclass(frozen=True)
class Material:
    """A palette of linear-RGB albedos and the relative brightness jitter between solids of the material."""

    palette: tuple[tuple[float, float, float], ...]
    jitter: float = 0.15


MATERIALS: dict[str, Material] = {
    "asphalt": Material(((0.055, 0.055, 0.06),), 0.1),
    "paving": Material(((0.085, 0.08, 0.075),), 0.1),
    "road-paint": Material(((0.62, 0.62, 0.56),), 0.05),
    "concrete": Material(((0.24, 0.23, 0.21),), 0.1),
    "grass": Material(((0.07, 0.11, 0.03), (0.1, 0.09, 0.05)), 0.2),
    "facade": Material(((0.45, 0.38, 0.3), (0.3, 0.12, 0.08), (0.35, 0.35, 0.36), (0.6, 0.58, 0.52),
                        (0.2, 0.22, 0.25), (0.5, 0.42, 0.22))),
    "fence": Material(((0.2, 0.17, 0.13), (0.3, 0.3, 0.3), (0.35, 0.3, 0.25))),
    "foliage": Material(((0.04, 0.1, 0.02), (0.06, 0.12, 0.03), (0.05, 0.08, 0.02)), 0.2),
    "bark": Material(((0.08, 0.06, 0.04),)),
    "metal": Material(((0.22, 0.23, 0.24),), 0.1),
    "sign": Material(((0.05, 0.1, 0.45), (0.5, 0.05, 0.04), (0.7, 0.7, 0.7), (0.6, 0.5, 0.05)), 0.05),
    "paint": Material(((0.7, 0.7, 0.7), (0.02, 0.02, 0.02), (0.35, 0.36, 0.38), (0.12, 0.12, 0.13),
                       (0.45, 0.03, 0.02), (0.03, 0.07, 0.3), (0.05, 0.15, 0.06), (0.5, 0.35, 0.1))),
    "glass": Material(((0.02, 0.025, 0.03),), 0.1),
    "rubber": Material(((0.015, 0.015, 0.015),), 0.1),
    "plate": Material(((0.6, 0.6, 0.5),), 0.05),
    "skin": Material(((0.5, 0.35, 0.25), (0.3, 0.18, 0.1), (0.12, 0.07, 0.04)), 0.1),
    "cloth": Material(((0.05, 0.05, 0.06), (0.4, 0.05, 0.05), (0.05, 0.1, 0.35), (0.5, 0.5, 0.48),
                       (0.15, 0.2, 0.1), (0.45, 0.35, 0.05))),
}  # fmt: skip

_VEHICLES = (CAR, TRUCK, BUS, BICYCLE, MOVING[CAR], MOVING[TRUCK], MOVING[BUS])
DEFAULT_MATERIAL: dict[int, str] = {
    ROAD: "asphalt", PARKING: "paving", LANE_MARKING: "road-paint", SIDEWALK: "concrete", TERRAIN: "grass",
    BUILDING: "facade", FENCE: "fence", VEGETATION: "foliage", TRUNK: "bark", POLE: "metal", TRAFFIC_SIGN: "sign",
    **dict.fromkeys(_VEHICLES, "paint"),
    **dict.fromkeys((PERSON, BICYCLIST, MOVING[PERSON], MOVING[BICYCLIST]), "cloth"),
}  # fmt: skip
MATERIAL_SALT, GRAIN_SALT, SUN_SALT = 0xA1BE, 0x64A1, 0x5C11

SKY_HORIZON = np.array([0.7, 0.78, 0.88])
SKY_ZENITH = np.array([0.2, 0.38, 0.75])
HAZE_DISTANCE = 600.0  # metres at which 63 % of a surface's colour has faded into the horizon's


def material_of(surface: Surface) -> Material:
    return MATERIALS[surface.material or DEFAULT_MATERIAL.get(surface.label, "concrete")]


@functools.lru_cache(maxsize=4096)
def solid_albedo(surface: Surface) -> np.ndarray:
    """The albedo (3,) of one solid: a palette colour and a brightness jitter keyed by what the solid is.

    Things are keyed by instance (every part of one car shares its paint), stuff by its own surface (each
    building draws its reflectivity, so two buildings differ)."""
    material = material_of(surface)
    key = surface.instance if surface.instance else int(np.float64(surface.reflectivity).view(np.int64))
    pick, jitter = hash_unit(surface.label, key, np.array([0, 1]), salt=MATERIAL_SALT)
    colour = np.array(material.palette[int(pick * len(material.palette))])
    return colour * (1.0 + material.jitter * (2.0 * jitter - 1.0))


def ground_albedo(label: np.ndarray) -> np.ndarray:
    """Albedos (..., 3) of ground hits by raw label (strips and lane markings have one colour each)."""
    table = np.zeros((max(DEFAULT_MATERIAL) + 1, 3))
    for raw, name in DEFAULT_MATERIAL.items():
        table[raw] = MATERIALS[name].palette[0]
    return table[label]


# Blotches: four plane waves with wavelengths of 1.3-3.1 m in fixed, unrelated directions, summed (the sum of a
# few incommensurate waves looks like soft noise and costs a few cosines, where lattice value noise costs 8 hashes).
_WAVES = np.random.default_rng(0x7E47).normal(size=(4, 3))
_WAVES *= (2 * np.pi / np.array([1.3, 1.9, 2.4, 3.1]) / np.linalg.norm(_WAVES, axis=1))[:, None]
_PHASES = np.array([0.3, 2.1, 4.0, 5.3])


def texture(points: np.ndarray) -> np.ndarray:
    """A multiplicative brightness pattern (...,) around 1 at surface points in the surface's own frame: soft
    blotches plus a 4 cm grain."""
    phase = (points @ _WAVES.T + _PHASES).astype(np.float32)  # float32: numpy's float64 cosine is ~20x slower
    blotches = np.cos(phase).sum(axis=-1) / 4  # in [-1, 1], mostly within +-0.5
    grain = cell_noise(points, 0.04, GRAIN_SALT)
    return 0.9 + 0.3 * blotches + 0.25 * (grain - 0.5)


@dataclass(frozen=True)
class Lighting:
    """`sun` (3,) unit vector towards the sun in the world frame; sun and sky irradiance."""

    sun: np.ndarray
    sun_irradiance: float = 1.0
    sky_irradiance: float = 0.4

    @classmethod
    def of_scene(cls, seed: int) -> Lighting:
        """A sun somewhere between 25 and 60 degrees up, at an azimuth drawn from the scene seed."""
        azimuth, height = 2 * np.pi * hash_unit(seed, 0, salt=SUN_SALT), hash_unit(seed, 1, salt=SUN_SALT)
        elevation = np.deg2rad(25.0 + 35.0 * height)
        sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        return cls(sun)

    def irradiance(self, normal: np.ndarray, sun: np.ndarray) -> np.ndarray:
        """Light (...,) falling on faces with unit `normal` (..., 3), `sun` in the same frame."""
        direct = np.maximum(normal @ sun, 0.0) * self.sun_irradiance
        return direct + self.sky_irradiance * (0.6 + 0.4 * normal[..., 2])


def sky(direction_z: np.ndarray) -> np.ndarray:
    """Sky radiance (..., 3) for unit view directions with vertical component `direction_z`."""
    up = np.sqrt(np.clip(direction_z, 0.0, 1.0))[..., None]
    return SKY_HORIZON * (1 - up) + SKY_ZENITH * up


def haze(radiance: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Aerial perspective: far surfaces fade into the horizon's colour."""
    return SKY_HORIZON + (radiance - SKY_HORIZON) * np.exp(-distance / HAZE_DISTANCE)[..., None]


_LINEAR = np.linspace(0.0, 1.0, 4096)
SRGB_TABLE = np.where(_LINEAR <= 0.0031308, 12.92 * _LINEAR, 1.055 * _LINEAR ** (1 / 2.4) - 0.055)


def encode(radiance: np.ndarray, rng: np.random.Generator, noise_std: float = 0.012) -> np.ndarray:
    """Linear radiance (H, W, 3) -> sRGB uint8 with Gaussian sensor noise (std in full-scale units); the sRGB
    curve is looked up at 12 bits (finer than one 8-bit step everywhere)."""
    srgb = SRGB_TABLE[(np.clip(radiance, 0.0, 1.0) * 4095.0 + 0.5).astype(np.intp)]
    srgb += noise_std * rng.standard_normal(srgb.shape, dtype=np.float32)
    return np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
