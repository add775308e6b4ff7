"""From ideal hits to what the sensor reports: range noise, missing returns, intensity.

A return is detected with probability `1 - exp(-snr / detection_snr)` where the signal falls with range squared
and with the incidence angle, so dark or grazing surfaces far away fade out as on a real sensor (the road thins
out beyond ~50 m); a small share of returns drop out at random. Intensity is the material's reflectivity times
a weak incidence term (KITTI's reflectance is mostly calibrated for range and angle), with multiplicative
speckle, less a receiver floor, clipped to [0, 1] and quantised to 0.01 like KITTI's reflectance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spot.runtime.errors import SpotInputError
from spot.runtime.sensors import SensorDescription

from .raycast import RangeImage, SweepGeometry

SCAN_COLUMNS = ("x", "y", "z", "intensity", "ring", "time")
INTENSITY_FLOOR = 0.03  # the receiver's floor: the darkest surfaces (car paint, tyres) read 0 as in KITTI


@dataclass(frozen=True)
class ReturnModel:
    """Sensor imperfections. `range_noise_std` None = the sensor's data-sheet accuracy; 0 = exact ranges."""

    range_noise_std: float | None = None
    dropout: float = 0.05
    detection_snr: float = 0.05
    intensity_speckle: float = 0.25

    def __post_init__(self) -> None:
        if self.range_noise_std is not None and self.range_noise_std < 0:
            raise SpotInputError(f"range_noise_std={self.range_noise_std}, expected >= 0 metres or None")
        if not 0 <= self.dropout < 1:
            raise SpotInputError(f"dropout={self.dropout}, expected a probability in [0, 1)")
        if self.detection_snr < 0 or self.intensity_speckle < 0:
            raise SpotInputError("detection_snr and intensity_speckle must be >= 0")

    def noise_std(self, sensor: SensorDescription) -> float:
        if self.range_noise_std is not None:
            return self.range_noise_std
        return float(sensor.extras.get("range_accuracy_m", 0.02))


@dataclass(frozen=True)
class Returns:
    """`points` float32 (N, 6) in `SCAN_COLUMNS`, raw `label` and `instance` int32 (N,), in firing order."""

    points: np.ndarray
    label: np.ndarray
    instance: np.ndarray


def sense(
    image: RangeImage, geometry: SweepGeometry, sensor: SensorDescription, model: ReturnModel, rng: np.random.Generator
) -> Returns:
    """The returns the sensor reports for the hits in `image` (rows by elevation, columns by azimuth)."""
    cos_e = np.cos(geometry.elevation)[:, None]
    distance = image.t / cos_e  # (B, C)
    hit = np.isfinite(distance) & (distance >= sensor.min_range) & (distance <= sensor.max_range)
    rows, cols = np.nonzero(hit.T)[::-1]  # firing order: column by column, beams by elevation inside
    distance = distance[rows, cols]
    reflectivity, cos_inc = image.reflectivity[rows, cols], image.cos_inc[rows, cols]
    lambert = 0.3 + 0.7 * cos_inc
    snr = reflectivity * lambert * (0.5 * sensor.max_range / distance) ** 2
    detected = rng.random(len(distance)) < (1 - np.exp(-snr / max(model.detection_snr, 1e-9))) * (1 - model.dropout)
    speckle = rng.lognormal(0.0, model.intensity_speckle, len(distance))
    intensity = np.round(np.clip(reflectivity * (1.05 + 0.1 * cos_inc) * speckle - INTENSITY_FLOOR, 0, 1), 2)
    distance = distance + rng.normal(0.0, 1.0, len(distance)) * model.noise_std(sensor)
    rows, cols, distance, intensity = rows[detected], cols[detected], distance[detected], intensity[detected]
    elevation, azimuth = geometry.elevation[rows], geometry.azimuth[cols]
    horizontal = distance * np.cos(elevation)
    period = 1.0 / float(sensor.extras.get("frame_rate_hz", 10.0))
    points = np.stack(
        [
            horizontal * np.cos(azimuth),
            horizontal * np.sin(azimuth),
            distance * np.sin(elevation),
            intensity,
            geometry.ring[rows],
            cols * (period / len(geometry.azimuth)),
        ],
        axis=1,
    )
    return Returns(points.astype(np.float32), image.label[rows, cols], image.instance[rows, cols])
