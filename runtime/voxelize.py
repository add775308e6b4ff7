"""Voxelization (DESIGN §3), the one implementation shared by training, export and the vehicle runtime.

A grid is a point-cloud range plus a voxel size. Voxel coordinates are int32 (V, 4) ordered
`(batch, z, y, x)` (spconv's order), unique and sorted by their linear key
`((batch * Z + z) * Y + y) * X + x`; voxel features are the mean of the points in the voxel; `point_to_voxel`
maps every input point to its voxel row (-1 outside the range) so per-voxel predictions reach every point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SpotInputError

MAX_GRID_CELLS = 2**40  # 0.02 m voxels over 300 x 300 x 20 m are 2**37.7; 2**23 frames still fit a batch key


@dataclass(frozen=True)
class VoxelGrid:
    """`point_cloud_range` = (x_min, y_min, z_min, x_max, y_max, z_max) metres; `voxel_size` = (dx, dy, dz)."""

    point_cloud_range: tuple[float, float, float, float, float, float]
    voxel_size: tuple[float, float, float]

    def __post_init__(self) -> None:
        pcr = tuple(float(v) for v in self.point_cloud_range)
        size = tuple(float(v) for v in self.voxel_size)
        if len(pcr) != 6 or len(size) != 3:
            raise SpotInputError(
                f"voxel grid needs 6 range values and 3 sizes, got point_cloud_range={pcr}, voxel_size={size}"
            )
        finite = all(math.isfinite(v) for v in pcr + size)
        if not finite or min(size) <= 0 or any(pcr[i + 3] <= pcr[i] for i in range(3)):
            raise SpotInputError(
                f"voxel grid needs positive sizes and max > min, got point_cloud_range={pcr}, voxel_size={size}"
            )
        object.__setattr__(self, "point_cloud_range", pcr)
        object.__setattr__(self, "voxel_size", size)
        shape = self.grid_shape
        if min(shape) < 1 or math.prod(shape) > MAX_GRID_CELLS:
            raise SpotInputError(
                f"voxel grid of {shape[2]} x {shape[1]} x {shape[0]} cells (x y z) from point_cloud_range={pcr}, "
                f"voxel_size={size}: each axis needs at least one voxel and the grid at most 2**40 cells (voxel "
                "keys are int64 with the batch index above the cell index)"
            )

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        """(Z, Y, X) voxel counts; the range is rounded to whole voxels."""
        extent = np.asarray(self.point_cloud_range[3:]) - np.asarray(self.point_cloud_range[:3])
        x, y, z = np.round(extent / np.asarray(self.voxel_size)).astype(np.int64)
        return int(z), int(y), int(x)

    @property
    def bev_extent_m(self) -> float:
        """Half-width of the smallest ego-centred square that holds the grid's x-y range (what pictures show)."""
        x_min, y_min, _, x_max, y_max, _ = self.point_cloud_range
        return max(abs(x_min), abs(y_min), abs(x_max), abs(y_max))

    def voxel_indices(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Integer (z, y, x) indices (N, 3) int64 of each point, and the mask of points inside the grid."""
        floored, inside = self._floored_indices(xyz)
        return np.stack(floored, axis=1).astype(np.int64), inside

    def _floored_indices(self, xyz: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Per axis z, y, x the float64 `floor((coordinate - min) / size)` of every point, and the inside mask.

        Column by column with in-place operations (no (N, 3) float64 temporaries); the float comparison also
        puts NaN / inf points outside without an integer cast of them.
        """
        inside = np.ones(len(xyz), dtype=bool)
        floored = []
        for axis, cells in zip((2, 1, 0), self.grid_shape, strict=True):
            index = xyz[:, axis].astype(np.float64)
            index -= self.point_cloud_range[axis]
            index /= self.voxel_size[axis]
            np.floor(index, out=index)
            inside &= (index >= 0) & (index < cells)
            floored.append(index)
        return floored, inside

    def voxel_centers(self, coords: np.ndarray) -> np.ndarray:
        """Metric centres (V, 3) x, y, z of `(batch, z, y, x)` coordinates."""
        xyz = np.asarray(coords)[:, [3, 2, 1]].astype(np.float64) + 0.5
        return xyz * np.asarray(self.voxel_size) + np.asarray(self.point_cloud_range[:3])

    def to_dict(self) -> dict:
        return {"point_cloud_range": list(self.point_cloud_range), "voxel_size": list(self.voxel_size)}

    @classmethod
    def from_dict(cls, data: dict) -> VoxelGrid:
        return cls(tuple(data["point_cloud_range"]), tuple(data["voxel_size"]))


@dataclass(frozen=True)
class Voxels:
    """The voxelized batch.

    coords         int32   (V, 4)  (batch, z, y, x), unique, sorted by linear key
    features       float32 (V, C)  mean of the voxel's points (all input columns)
    num_points     int32   (V,)    points per voxel
    point_to_voxel int64   (N,)    row in `coords` for each input point, -1 if outside the grid
    batch_size     int
    """

    coords: np.ndarray
    features: np.ndarray
    num_points: np.ndarray
    point_to_voxel: np.ndarray
    batch_size: int

    def __len__(self) -> int:
        return self.coords.shape[0]


def linear_keys(coords, grid_shape: Sequence[int]):
    """int64 key of `(batch, z, y, x)` coordinates (..., 4); sorting by it is the contract's voxel order.

    The one definition of the key, for numpy arrays and (in the trainer) int64 torch tensors alike: tensors
    stay tensors on their device; numpy input of any integer type is widened to int64 first.
    """
    z, y, x = (int(s) for s in grid_shape)
    if isinstance(coords, np.ndarray) or not hasattr(coords, "long"):
        coords = np.asarray(coords, dtype=np.int64)
    return ((coords[..., 0] * z + coords[..., 1]) * y + coords[..., 2]) * x + coords[..., 3]


def voxelize(grid: VoxelGrid, points: np.ndarray | Sequence[np.ndarray]) -> Voxels:
    """Voxelize one scan (N, C) or a batch (a sequence of scans, concatenated in order for `point_to_voxel`)."""
    scans = [points] if isinstance(points, np.ndarray) else list(points)
    if not scans:
        raise SpotInputError("voxelize() needs at least one scan")
    widths = {s.shape[1] if s.ndim == 2 else None for s in scans}
    if len(widths) != 1 or None in widths or min(widths) < 3:
        raise SpotInputError(f"voxelize() needs 2-D scans (N, C>=3) of one width, got {[s.shape for s in scans]}")
    all_points = np.concatenate(scans, axis=0) if len(scans) > 1 else scans[0]
    floored, inside = grid._floored_indices(all_points)
    rows = np.flatnonzero(inside)
    keys = np.zeros(len(rows), dtype=np.int64)
    if len(scans) > 1:
        keys += np.repeat(np.arange(len(scans), dtype=np.int64), [len(s) for s in scans])[rows]
    for index, cells in zip(floored, grid.grid_shape, strict=True):  # ((batch * Z + z) * Y + y) * X + x
        keys *= cells
        keys += index[rows].astype(np.int64)
    unique_keys, inverse = _unique_inverse(keys)
    point_to_voxel = np.full(len(all_points), -1, dtype=np.int64)
    point_to_voxel[rows] = inverse

    n_voxels = len(unique_keys)
    counts = np.bincount(inverse, minlength=n_voxels)
    sums = np.empty((n_voxels, all_points.shape[1]), dtype=np.float64)
    for c in range(all_points.shape[1]):  # float32 weights are summed in float64, point after point
        sums[:, c] = np.bincount(inverse, weights=all_points[rows, c], minlength=n_voxels)
    sums /= np.maximum(counts, 1)[:, None]
    return Voxels(
        coords=decode_keys(unique_keys, grid.grid_shape),
        features=sums.astype(np.float32),
        num_points=counts.astype(np.int32),
        point_to_voxel=point_to_voxel,
        batch_size=len(scans),
    )


def decode_keys(keys: np.ndarray, grid_shape: Sequence[int]) -> np.ndarray:
    """int32 (V, 4) `(batch, z, y, x)` coordinates of linear keys (the inverse of `linear_keys`)."""
    z, y, x = (int(s) for s in grid_shape)
    coords = np.empty((len(keys), 4), dtype=np.int32)
    rest, coords[:, 3] = np.divmod(keys, x)
    rest, coords[:, 2] = np.divmod(rest, y)
    coords[:, 0], coords[:, 1] = np.divmod(rest, z)
    return coords


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique int64 keys and each key's row among them (what np.unique returns, with one stable sort
    and no return_index pass)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse
