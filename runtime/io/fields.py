"""Named per-point fields (PCD, PLY, structured `.npy`, `.npz`) -> a `Scan`, with one intensity rule for all.

Self-describing formats name their fields as their writers please (`intensity`, `reflectivity`, `i`;
`ring`, `channel`, `laser_id`; `time`, `t`, `time_stamp`). This module maps those names onto the Scan's
canonical columns once, so every reader treats them the same.

Intensity rule (DESIGN §3, intensity in [0, 1]):
- a format that defines its scale (KITTI reflectance 0-1, nuScenes 0-255) -> / that scale; values outside
  [0, scale] are not returns a sensor can report (a corrupt or mislabelled file): they are clipped into the
  range and counted in a warning, so one bad value neither reaches the model as is nor drops the scan;
- integer fields: values up to 255 are 8-bit returns (Velodyne, Ouster RFL8) -> / 255; wider values
  -> / the dtype's maximum;
- float fields: already in [0, 1] -> kept; up to 255 (ROS Velodyne drivers publish 0-255 floats) -> / 255;
  up to 65535 -> / 65535; beyond -> / the scan's maximum (the scale is unknown; logged);
- no intensity field -> zeros (logged), so geometry-only clouds (e.g. the VLS-128 PCD) still load.
Every field read must hold numbers (integers or floats): strings, booleans, complex numbers or objects are
refused, naming the field.
Time: floats are seconds as written; integers (`t`, `time_stamp` of Ouster / nebula drivers) are
nanoseconds and become seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from os import PathLike

import numpy as np

from ..errors import SpotInputError
from ..scan import Scan, drop_non_finite, require_points

log = logging.getLogger(__name__)

FIELD_ALIASES = {
    "intensity": ("intensity", "reflectance", "reflectivity", "remission", "i"),
    "ring": ("ring", "channel", "laser_id", "laser", "beam", "line"),
    "time": ("time", "t", "time_stamp", "timestamp", "offset_time"),
}


def numeric(values: np.ndarray, name: str, source: str | PathLike | None) -> np.ndarray:
    """`values` when they are integers or floats; anything else (text, bool, complex, objects) is refused."""
    values = np.asarray(values)
    if values.dtype == np.bool_ or not (np.issubdtype(values.dtype, np.integer) or
                                        np.issubdtype(values.dtype, np.floating)):  # fmt: skip
        raise SpotInputError(f"{name} holds {values.dtype} values; expected numbers (integers or floats)",
                             source=source)  # fmt: skip
    return values


def normalise_intensity(
    values: np.ndarray, source: str | PathLike | None = None, scale: float | None = None
) -> np.ndarray:
    """Intensity (N,) of any dtype -> float32 in [0, 1] by the rule in the module docstring; `scale` is the
    format's full scale where the format defines one."""
    values = numeric(values, "intensity", source)
    if values.size == 0:
        return values.astype(np.float32)
    if scale is None:
        scale = _inferred_scale(values, source)
    else:
        outside = int(np.count_nonzero((values < 0) | (values > scale)))
        if outside:
            log.warning("%s: %d of %d intensities lie outside the format's [0, %g] (not a sensor's return); "
                        "clipped", source or "scan", outside, values.size, scale)  # fmt: skip
    if scale == 1.0 and np.issubdtype(values.dtype, np.floating):  # the usual float cloud: no float64 copy
        return np.clip(values, 0.0, 1.0).astype(np.float32)  # the same values: dividing by 1.0 is exact
    return np.clip(values.astype(np.float64) / scale, 0.0, 1.0).astype(np.float32)


def _inferred_scale(values: np.ndarray, source: str | PathLike | None) -> float:
    """The full scale of intensities whose format does not say it, from their dtype and range."""
    peak = float(values.max())  # one pass; NaN or inf (rare: callers drop non-finite points) take the slow way
    if not np.isfinite(peak):
        peak = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    if np.issubdtype(values.dtype, np.integer):
        return 255.0 if peak <= 255 else float(np.iinfo(values.dtype).max)
    for scale in (1.0, 255.0, 65535.0):
        if peak <= scale:
            return scale
    log.warning("%s: intensity up to %g has no known scale; divided by its maximum", source or "scan", peak)
    return peak


def seconds(values: np.ndarray) -> np.ndarray:
    """Per-point time as float32 seconds: integer fields are nanoseconds."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        return (values.astype(np.float64) * 1e-9).astype(np.float32)
    return values.astype(np.float32)


def find_field(names: tuple[str, ...] | list[str], column: str) -> str | None:
    """The first field among `names` that means `column` (case-insensitive), or None."""
    lowered = {name.lower(): name for name in names}
    return next((lowered[alias] for alias in FIELD_ALIASES[column] if alias in lowered), None)


def scan_from_fields(fields: Mapping[str, np.ndarray], source: str | PathLike) -> Scan:
    """A Scan from named 1-D per-point arrays: needs x, y, z; maps intensity / ring / time by their aliases.

    Points with non-finite coordinates are dropped (counted in the log); an empty result is refused.
    """
    missing = [axis for axis in "xyz" if axis not in fields]
    if missing:
        raise SpotInputError(f"has no {missing} field(s); fields are {sorted(fields)}", source=source)
    columns = {axis: np.asarray(numeric(fields[axis], f"field {axis!r}", source), np.float32) for axis in "xyz"}
    intensity_field = find_field(list(fields), "intensity")
    if intensity_field is None:
        log.info("%s: no intensity field; intensity set to 0", source)
        columns["intensity"] = np.zeros_like(columns["x"])
    else:
        columns["intensity"] = normalise_intensity(fields[intensity_field], source)
    ring_field = find_field(list(fields), "ring")
    if ring_field is not None:
        columns["ring"] = np.asarray(numeric(fields[ring_field], f"field {ring_field!r}", source), np.float32)
    time_field = find_field(list(fields), "time")
    if time_field is not None:
        columns["time"] = seconds(numeric(fields[time_field], f"field {time_field!r}", source))
    points = np.stack(list(columns.values()), axis=1)
    (points,) = drop_non_finite(points, source=source)
    require_points(len(points), source)
    return Scan(np.ascontiguousarray(points), tuple(columns))
