"""The Scan contract (DESIGN §3): one LiDAR sweep as a `float32 (N, C)` array with named columns.

Columns are a prefix-ordered subset of `COLUMNS`: `x y z intensity` always, then `ring` and `time` when the
sensor gives them, in that order. Coordinates are metres in the sensor frame; intensity is normalised to
[0, 1] by the reader that made the scan, so models never see a sensor's raw scale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from os import PathLike

import numpy as np

from .errors import SpotInputError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("x", "y", "z", "intensity")
OPTIONAL_COLUMNS = ("ring", "time")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS


@dataclass(frozen=True)
class Scan:
    """A sweep: `points` float32 (N, C) whose columns are named by `columns`.

    Invariants (checked at construction): 2-D float32, one name per column, names drawn from `COLUMNS` in
    canonical order and starting with `x y z intensity`, every value finite.
    """

    points: np.ndarray
    columns: tuple[str, ...] = REQUIRED_COLUMNS

    def __post_init__(self) -> None:
        columns = tuple(self.columns)
        object.__setattr__(self, "columns", columns)
        if not isinstance(self.points, np.ndarray) or self.points.ndim != 2:
            shape = getattr(self.points, "shape", type(self.points).__name__)
            raise SpotInputError(f"scan points must be a 2-D array (N, C), got {shape}")
        if self.points.dtype != np.float32:
            raise SpotInputError(f"scan points must be float32, got {self.points.dtype}")
        if self.points.shape[1] != len(columns):
            raise SpotInputError(f"scan has {self.points.shape[1]} columns but {len(columns)} names {columns}")
        check_columns(columns)
        if not np.isfinite(self.points).all():
            raise SpotInputError("scan has non-finite values; readers drop such points with drop_non_finite()")

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def xyz(self) -> np.ndarray:
        return self.points[:, :3]

    @property
    def intensity(self) -> np.ndarray:
        return self.points[:, 3]

    def has(self, column: str) -> bool:
        return column in self.columns

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise SpotInputError(f"scan has no column {name!r}; it has {self.columns}")
        return self.points[:, self.columns.index(name)]

    def select(self, mask_or_index: np.ndarray) -> Scan:
        """The scan restricted to some points (boolean mask or index array), columns unchanged."""
        return Scan(np.ascontiguousarray(self.points[mask_or_index]), self.columns)

    def with_columns(self, columns: tuple[str, ...]) -> Scan:
        """The scan with only `columns` (a canonical-order subset), e.g. to match a model's input."""
        if tuple(columns) == self.columns:
            return self
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise SpotInputError(f"scan has no column(s) {missing}; it has {self.columns}")
        index = [self.columns.index(c) for c in columns]
        return Scan(np.ascontiguousarray(self.points[:, index]), columns)


def check_columns(columns: tuple[str, ...], what: str = "scan columns") -> None:
    """Refuse column names that are not `x y z intensity` followed by optional columns in canonical order."""
    if tuple(columns[:4]) != REQUIRED_COLUMNS or [c for c in COLUMNS if c in columns] != list(columns):
        raise SpotInputError(f"{what} {tuple(columns)} must start with {REQUIRED_COLUMNS} and then follow "
                             f"{OPTIONAL_COLUMNS}")  # fmt: skip


def drop_non_finite(
    points: np.ndarray, *aligned: np.ndarray, source: str | PathLike | None = None
) -> tuple[np.ndarray, ...]:
    """Drop rows with NaN/inf in `points`, and the same rows of every `aligned` per-point array.

    Sensors report missing returns as NaN (organized clouds, Ouster zero-range); such points carry no
    geometry, so they are dropped and the count is logged rather than failing the whole scan.
    Returns `(points, *aligned)`.
    """
    finite = finite_rows(points)
    if finite is None:
        return (points, *aligned)
    dropped = int(points.shape[0] - finite.sum())
    log.warning("%s: dropped %d of %d points with non-finite values", source or "scan", dropped, len(points))
    return (points[finite], *(array[finite] for array in aligned))


def finite_rows(points: np.ndarray) -> np.ndarray | None:
    """Boolean mask of the rows of `points` (N, C) whose values are all finite, or None when every value is.

    The common all-finite case costs one flat pass; the per-row reduction is several times slower."""
    return None if np.isfinite(points).all() else np.isfinite(points).all(axis=1)


def require_points(n_points: int, source: str | PathLike | None) -> None:
    """Refuse an empty scan: nothing downstream (voxelization, a network, a metric) means anything on it."""
    if n_points == 0:
        raise SpotInputError("scan holds no points", source=source)
