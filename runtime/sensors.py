"""Sensor descriptions: what a LiDAR's beam layout is, so models, augmentations and the simulator agree.

`SENSORS` is the catalogue of the spinning LiDARs the project knows by name (`hdl64`, `hdl32`, `vlp16`,
`os128`), with beam elevations from the data sheets (OS-1-128: a real unit's calibration). Ring index follows
the sensor's own driver: Velodyne rings count from the lowest beam up (`velodyne_pointcloud`, nuScenes'
`ring`), Ouster rows count from the highest beam down (the `beam_altitude_angles` order).

`extras` carries data-sheet facts that only some consumers need; keys used here:
`range_accuracy_m` (1-sigma range noise), `frame_rate_hz`, `ring_order` (`"bottom_up"` / `"top_down"`).
"""

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


def _linspace(start: float, stop: float, count: int) -> tuple[float, ...]:
    return tuple(round(float(a), 4) for a in np.linspace(start, stop, count))


# HDL-64E S2 (KITTI): upper block of 32 lasers at ~1/3 deg from +2.0 deg, lower block of 32 at ~1/2 deg to
# -24.9 deg (26.9 deg vertical field of view); 0.1728 deg azimuth at 10 Hz (2083 firings per turn).
_HDL64_ANGLES = _linspace(-24.87, -8.87, 32) + _linspace(-8.33, 2.0, 32)
# HDL-32E: 32 lasers from -30.67 to +10.67 deg in 1.33 deg steps; 0.16 deg azimuth at 10 Hz.
_HDL32_ANGLES = _linspace(-30.67, 10.67, 32)
# VLP-16: 16 lasers from -15 to +15 deg in 2 deg steps; 0.2 deg azimuth at 10 Hz.
_VLP16_ANGLES = _linspace(-15.0, 15.0, 16)
# OS-1-128 rev C, 1024x10 mode: beam_altitude_angles of a real unit (ouster-sdk test capture, v2.3.0), top down.
_OS128_ANGLES = (
    20.95,
    20.67,
    20.36,
    20.03,
    19.73,
    19.41,
    19.11,
    18.76,
    18.47,
    18.14,
    17.82,
    17.5,
    17.19,
    16.86,
    16.53,
    16.2,
    15.89,
    15.56,
    15.23,
    14.9,
    14.57,
    14.23,
    13.9,
    13.57,
    13.25,
    12.91,
    12.57,
    12.22,
    11.9,
    11.55,
    11.2,
    10.87,
    10.54,
    10.18,
    9.84,
    9.51,
    9.15,
    8.81,
    8.47,
    8.11,
    7.78,
    7.43,
    7.08,
    6.74,
    6.39,
    6.04,
    5.7,
    5.34,
    4.98,
    4.64,
    4.29,
    3.93,
    3.58,
    3.24,
    2.88,
    2.53,
    2.17,
    1.82,
    1.47,
    1.12,
    0.78,
    0.41,
    0.07,
    -0.28,
    -0.64,
    -0.99,
    -1.35,
    -1.7,
    -2.07,
    -2.4,
    -2.75,
    -3.11,
    -3.46,
    -3.81,
    -4.15,
    -4.5,
    -4.86,
    -5.22,
    -5.57,
    -5.9,
    -6.27,
    -6.61,
    -6.97,
    -7.3,
    -7.67,
    -8.01,
    -8.35,
    -8.69,
    -9.05,
    -9.38,
    -9.71,
    -10.07,
    -10.42,
    -10.76,
    -11.09,
    -11.43,
    -11.78,
    -12.12,
    -12.46,
    -12.78,
    -13.15,
    -13.46,
    -13.8,
    -14.12,
    -14.48,
    -14.79,
    -15.11,
    -15.46,
    -15.79,
    -16.12,
    -16.45,
    -16.76,
    -17.11,
    -17.44,
    -17.74,
    -18.06,
    -18.39,
    -18.72,
    -19.02,
    -19.32,
    -19.67,
    -19.99,
    -20.27,
    -20.57,
    -20.92,
    -21.22,
    -21.54,
    -21.82,
)


def _velodyne(name: str, angles: tuple[float, ...], resolution: float, max_range: float, accuracy: float):
    extras = {"range_accuracy_m": accuracy, "frame_rate_hz": 10.0, "ring_order": "bottom_up"}
    return SensorDescription(name, angles, resolution, min_range=0.9, max_range=max_range, extras=extras)


SENSORS: dict[str, SensorDescription] = {
    "hdl64": _velodyne("Velodyne HDL-64E", _HDL64_ANGLES, 0.1728, 120.0, 0.02),
    "hdl32": _velodyne("Velodyne HDL-32E", _HDL32_ANGLES, 0.16, 100.0, 0.02),
    "vlp16": _velodyne("Velodyne VLP-16", _VLP16_ANGLES, 0.2, 100.0, 0.03),
    "os128": SensorDescription(
        "Ouster OS-1-128",
        _OS128_ANGLES,
        360.0 / 1024,
        min_range=0.5,
        max_range=120.0,
        extras={"range_accuracy_m": 0.03, "frame_rate_hz": 10.0, "ring_order": "top_down"},
    ),
}


def sensor_by_key(key: str) -> SensorDescription:
    """The catalogue entry for `key`, or an error listing the known keys."""
    if key not in SENSORS:
        raise SpotInputError(f"unknown sensor {key!r}; expected one of {sorted(SENSORS)}")
    return SENSORS[key]
