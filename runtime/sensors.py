"""Sensor descriptions: what a LiDAR's beam layout is, so models, augmentations and the simulator agree."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SpotInputError


@dataclass(frozen=True)
class SensorDescription:
    """A spinning LiDAR's geometry.

    `vertical_angles_deg` lists one elevation per beam (ring), ordered by ring index as the sensor numbers
    them; `horizontal_resolution_deg` is the azimuth step of one firing; ranges in metres.
    """

    name: str
    vertical_angles_deg: tuple[float, ...]
    horizontal_resolution_deg: float = 0.2
    min_range: float = 1.0
    max_range: float = 120.0
    extras: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if len(self.vertical_angles_deg) == 0:
            raise SpotInputError(f"sensor {self.name!r} has no beams (vertical_angles_deg is empty)")
        if not 0 < self.horizontal_resolution_deg < 360:
            raise SpotInputError(
                f"sensor {self.name!r}: horizontal_resolution_deg={self.horizontal_resolution_deg}, expected (0, 360)"
            )
        if not 0 <= self.min_range < self.max_range:
            raise SpotInputError(
                f"sensor {self.name!r}: need 0 <= min_range < max_range, got {self.min_range}, {self.max_range}"
            )

    @property
    def beams(self) -> int:
        return len(self.vertical_angles_deg)

    @property
    def vertical_angles(self) -> np.ndarray:
        """Elevations in radians, float64 (beams,)."""
        return np.deg2rad(np.asarray(self.vertical_angles_deg, dtype=np.float64))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "vertical_angles_deg": list(self.vertical_angles_deg),
            "horizontal_resolution_deg": self.horizontal_resolution_deg,
            "min_range": self.min_range,
            "max_range": self.max_range,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SensorDescription:
        return cls(
            name=str(data["name"]),
            vertical_angles_deg=tuple(float(a) for a in data["vertical_angles_deg"]),
            horizontal_resolution_deg=float(data.get("horizontal_resolution_deg", 0.2)),
            min_range=float(data.get("min_range", 1.0)),
            max_range=float(data.get("max_range", 120.0)),
        )
