"""Ouster decoded frames: a `.npz` of organized range images, as the Ouster SDK's `LidarScan` gives them.

Keys: `xyz` (F, H, W, 3) metres, `range_mm` (F, H, W), `reflectivity` (F, H, W) (8-bit calibrated
reflectivity in the RNG15_RFL8_NIR8 profile), `beam_altitude_angles_deg` (H,), optionally
`column_timestamps_ns` (F, W). Each frame becomes one Sample:
- ring = row (row 0 = the top beam, as the sensor numbers them), pixels with zero range (no return) dropped;
- intensity = reflectivity by the rule in `fields.py` (/ 255 for 8-bit values);
- time = column timestamp - the frame's first column, in seconds, when the timestamps are present;
- sensor = a SensorDescription with the beam altitude angles and W columns per turn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import SpotInputError
from ..sample import Sample
from ..scan import Scan, drop_non_finite, require_points
from ..sensors import SensorDescription
from .fields import normalise_intensity

OUSTER_KEYS = ("xyz", "range_mm", "reflectivity", "beam_altitude_angles_deg")


def is_ouster_archive(archive: Mapping) -> bool:
    return all(key in archive for key in OUSTER_KEYS)


def ouster_sensor(archive: Mapping) -> SensorDescription:
    altitudes = np.asarray(archive["beam_altitude_angles_deg"], dtype=np.float64)
    columns = archive["xyz"].shape[2]
    return SensorDescription(
        name=f"ouster-{len(altitudes)}",
        vertical_angles_deg=tuple(float(a) for a in altitudes),
        horizontal_resolution_deg=360.0 / columns,
    )


def ouster_frames(archive: Mapping, path: Path) -> list[Sample]:
    """Every frame of a decoded Ouster archive as a Sample (see the module docstring)."""
    xyz = np.asarray(archive["xyz"])
    if xyz.ndim != 4 or xyz.shape[3] != 3 or archive["range_mm"].shape != xyz.shape[:3]:
        shapes = f"xyz {xyz.shape}, range_mm {archive['range_mm'].shape}"
        raise SpotInputError(f"{shapes}: expected (F, H, W, 3) and (F, H, W)", source=path)
    frames, rows, columns = xyz.shape[:3]
    sensor = ouster_sensor(archive)
    if sensor.beams != rows:
        raise SpotInputError(f"{sensor.beams} beam altitude angles for {rows} image rows", source=path)
    ring = np.broadcast_to(np.arange(rows, dtype=np.float32)[:, None], (rows, columns))
    samples = []
    for frame in range(frames):
        time = np.zeros((rows, columns), np.float32)
        if "column_timestamps_ns" in archive:
            stamps = archive["column_timestamps_ns"][frame].astype(np.int64)
            time = np.broadcast_to(((stamps - stamps[0]) * 1e-9).astype(np.float32), (rows, columns))
        returned = archive["range_mm"][frame] > 0  # (H, W)
        intensity = normalise_intensity(archive["reflectivity"][frame][returned], path)
        points = np.column_stack([xyz[frame][returned], intensity, ring[returned], time[returned]])
        (points,) = drop_non_finite(points.astype(np.float32), source=path)
        require_points(len(points), f"{path} frame {frame}")
        scan = Scan(np.ascontiguousarray(points), ("x", "y", "z", "intensity", "ring", "time"))
        samples.append(Sample(scan, sensor=sensor, dataset="ouster", source=f"{path}#{frame}"))
    return samples
