"""Deterministic spatial patterns: integer hashes of lattice cells, cell noise and value noise.

A pattern is a pure function of a surface point (in a frame fixed to the surface) and a salt, so every sensor
that sees the point at any time sees the same value: the LiDAR and the cameras agree on which points of a
fence or a hedge let rays through, and a texture sticks to its wall from frame to frame. splitmix64's
finaliser mixes the cell coordinates; numpy's uint64 arithmetic wraps, as the hash wants.
"""

from __future__ import annotations

import numpy as np

_PRIMES = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_UNIT = 2.0**-53


def mix(value: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: uint64 -> well-mixed uint64."""
    with np.errstate(over="ignore"):
        value = (value ^ (value >> np.uint64(30))) * _M1
        value = (value ^ (value >> np.uint64(27))) * _M2
    return value ^ (value >> np.uint64(31))


def hash_unit(*keys, salt: int = 0) -> np.ndarray:
    """Uniform [0, 1) values from up to three integer keys (arrays broadcast together): each key times its own
    odd constant, xor-ed with the mixed salt, then mixed; the same keys give the same value."""
    value = mix(np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
    with np.errstate(over="ignore"):
        for key, prime in zip(keys, _PRIMES, strict=False):
            value = value ^ (np.asarray(key).astype(np.int64).astype(np.uint64) * prime)
    return (mix(value) >> np.uint64(11)).astype(np.float64) * _UNIT


def cell_noise(xyz: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """One uniform [0, 1) value per `cell`-sized cube of space for points (..., 3): piecewise constant."""
    index = np.floor(xyz / cell).astype(np.int64)
    return hash_unit(index[..., 0], index[..., 1], index[..., 2], salt=salt)


def value_noise(xyz: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """Smooth [0, 1] noise: lattice values every `cell` metres, blended with smoothstep weights (trilinear)."""
    scaled = xyz / cell
    base = np.floor(scaled)
    frac = scaled - base
    weight = frac * frac * (3.0 - 2.0 * frac)
    base = base.astype(np.int64)
    total = np.zeros(xyz.shape[:-1])
    for corner in range(8):
        offset = ((corner >> 0) & 1, (corner >> 1) & 1, (corner >> 2) & 1)
        value = hash_unit(*(base[..., k] + offset[k] for k in range(3)), salt=salt)
        for k in range(3):
            value *= weight[..., k] if offset[k] else 1.0 - weight[..., k]
        total += value
    return total
