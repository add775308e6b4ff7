"""Deterministic spatial patterns: integer hashes and cell noise.

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
    return _unit(_combine([np.asarray(key).astype(np.int64).astype(np.uint64) for key in keys], salt))


def _combine(keys: list[np.ndarray], salt: int) -> np.ndarray:
    value = mix(np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
    with np.errstate(over="ignore"):
        for key, prime in zip(keys, _PRIMES, strict=False):
            value = value ^ (key * prime)
    return value


def _unit(value: np.ndarray) -> np.ndarray:
    return (mix(value) >> np.uint64(11)).astype(np.float64) * _UNIT


def _lattice(xyz: np.ndarray, cell: float) -> np.ndarray:
    """The cell index (..., 3) as uint64 (two's complement: the hash only needs distinct keys)."""
    return np.floor(xyz / cell).astype(np.int64).astype(np.uint64)


def cell_noise(xyz: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """One uniform [0, 1) value per `cell`-sized cube of space for points (..., 3): piecewise constant."""
    index = _lattice(xyz, cell)
    return _unit(_combine([index[..., 0], index[..., 1], index[..., 2]], salt))
