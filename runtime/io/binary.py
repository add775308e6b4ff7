"""Flat float32 point files: KITTI velodyne `.bin` (x y z reflectance) and nuScenes `.pcd.bin` (+ ring).

Intensity follows the rule in `fields.py` with each format's own scale: KITTI reflectance is 0-1, nuScenes
intensity 0-255 (values outside are clipped, counted in the log). The nuScenes ring column (0 = lowest beam of
the HDL-32E) is kept as `ring`.

These files carry no header, so the column count is the caller's knowledge of the format; a size that is not
a whole number of rows is the usual sign of a truncated copy or of the wrong format, and is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SpotInputError
from ..scan import REQUIRED_COLUMNS, Scan, drop_non_finite, require_points
from .fields import normalise_intensity

NUSCENES_COLUMNS = (*REQUIRED_COLUMNS, "ring")
KITTI_INTENSITY_SCALE = 1.0
NUSCENES_INTENSITY_SCALE = 255.0


def read_float32_rows(path: str | Path, num_columns: int) -> np.ndarray:
    """The file as float32 (N, num_columns); refuses sizes that are not whole rows."""
    float32_row_count(path, num_columns)
    return np.fromfile(path, dtype="<f4").reshape(-1, num_columns)


def float32_row_count(path: str | Path, num_columns: int) -> int:
    """The number of rows, from the file's size alone (what a dataset checks of every file before training)."""
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such file", source=path)
    size = path.stat().st_size
    row_bytes = 4 * num_columns
    if size % row_bytes:
        raise SpotInputError(
            f"size {size} bytes is not a multiple of {row_bytes} (float32 x {num_columns} columns): "
            "the file is truncated or is not in this format",
            source=path,
        )
    return size // row_bytes


def read_intensity_rows(path: str | Path, num_columns: int, scale: float) -> np.ndarray:
    """`read_float32_rows` with column 3, the intensity, brought to [0, 1] from the format's `scale`."""
    rows = read_float32_rows(path, num_columns)
    rows[:, 3] = normalise_intensity(rows[:, 3], path, scale)
    return rows


def read_kitti_bin(path: str | Path) -> Scan:
    """KITTI / SemanticKITTI velodyne scan: float32 (N, 4) x y z reflectance(0-1)."""
    return _finite_scan(read_intensity_rows(path, 4, KITTI_INTENSITY_SCALE), REQUIRED_COLUMNS, path)


def read_nuscenes_bin(path: str | Path) -> Scan:
    """nuScenes lidar sweep: float32 (N, 5) x y z intensity(0-255) ring -> intensity / 255."""
    return _finite_scan(read_intensity_rows(path, 5, NUSCENES_INTENSITY_SCALE), NUSCENES_COLUMNS, path)


def _finite_scan(rows: np.ndarray, columns: tuple[str, ...], path: str | Path) -> Scan:
    (rows,) = drop_non_finite(rows, source=path)
    require_points(len(rows), path)
    return Scan(np.ascontiguousarray(rows), columns)


def write_kitti_bin(path: str | Path, scan: Scan) -> None:
    """Write x y z intensity as KITTI float32 rows (other columns are not part of the format)."""
    np.ascontiguousarray(scan.points[:, :4], dtype="<f4").tofile(Path(path))


def write_nuscenes_bin(path: str | Path, scan: Scan) -> None:
    """Write x y z intensity(0-255) ring as nuScenes float32 rows; a scan without rings gets ring 0."""
    rows = np.zeros((len(scan), 5), dtype="<f4")
    rows[:, :4] = scan.points[:, :4]
    rows[:, 3] *= NUSCENES_INTENSITY_SCALE
    if scan.has("ring"):
        rows[:, 4] = scan.column("ring")
    rows.tofile(Path(path))
