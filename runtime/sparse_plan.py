"""The sparse-layer plan of an exported network, and the kernel maps the runtime builds from it.

A network's sparse convolutions run on a few voxel sets: the input voxels, and one more per strided
convolution. Every convolution names the kernel map it runs on by indice key, so the plan is a short list of
maps in the order they are first needed:

    input                          the voxelized scan (root set)
    subm0   submanifold on input   same voxels out
    down1   strided on input       makes the voxel set "down1"
    subm1   submanifold on down1
    ...                            inverse convolutions reuse the map of the strided one they undo

The portable graph takes each map as two inputs: `pairs.<map>` int64 (2, P) (input rows; output rows),
grouped by kernel offset, the submanifold centre left out (it links every voxel to itself and is a dense
GEMM), and `counts.<map>` int64 (K,), the pairs per offset. `coords.<set>` int32 (V, 4) gives a voxel set's
coordinates (and its size). Maps are built by `spot.runtime.kernel_map`, the same algorithm the trainer uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from .errors import SpotInputError
from .kernel_map import ConvGeometry, KernelMap, build_kernel_map

ROOT_SET = "input"
_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class MapSpec:
    """One kernel map: built on voxel set `source` with `geometry`; a strided map makes the set `name`."""

    name: str
    source: str
    geometry: ConvGeometry

    def to_dict(self) -> dict:
        g = self.geometry
        return {
            "name": self.name,
            "source": self.source,
            "kind": "submanifold" if g.subm else "strided",
            "kernel_size": list(g.kernel_size),
            "stride": list(g.stride),
            "padding": list(g.padding),
            "dilation": list(g.dilation),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MapSpec:
        if data.get("kind") not in ("submanifold", "strided"):
            raise SpotInputError(f"sparse map {data.get('name')!r}: kind must be submanifold or strided")
        geometry = ConvGeometry.make(
            data["kernel_size"], data["stride"], data["padding"], data["dilation"], data["kind"] == "submanifold"
        )
        return cls(str(data["name"]), str(data["source"]), geometry)


@dataclass(frozen=True)
class SparsePlan:
    """The maps in build order; each map's source is the root set or an earlier strided map."""

    maps: tuple[MapSpec, ...]

    def __post_init__(self) -> None:
        known, names = {ROOT_SET}, set()
        for spec in self.maps:
            if spec.source not in known:
                raise SpotInputError(f"sparse map {spec.name!r} is built on unknown voxel set {spec.source!r}")
            if spec.name in names or spec.name == ROOT_SET:
                raise SpotInputError(f"sparse map name {spec.name!r} is used twice")
            names.add(spec.name)
            if not spec.geometry.subm:
                known.add(spec.name)

    @property
    def voxel_sets(self) -> tuple[str, ...]:
        return (ROOT_SET, *(spec.name for spec in self.maps if not spec.geometry.subm))

    def to_dict(self) -> dict:
        return {"root": ROOT_SET, "maps": [spec.to_dict() for spec in self.maps]}

    @classmethod
    def from_dict(cls, data: dict) -> SparsePlan:
        return cls(tuple(MapSpec.from_dict(item) for item in data.get("maps", [])))


@dataclass
class PlanMaps:
    """What a plan builds for one scan: coordinates and grid of every voxel set, and every kernel map."""

    coords: dict[str, np.ndarray]
    spatial_shapes: dict[str, tuple[int, int, int]]
    maps: dict[str, KernelMap]


def build_plan_maps(
    plan: SparsePlan,
    coords: np.ndarray,
    spatial_shape: Sequence[int],
    pool: Executor | None = None,
    build: Callable[[np.ndarray, Sequence[int], ConvGeometry], KernelMap] = build_kernel_map,
) -> PlanMaps:
    """Every kernel map of `plan` over the voxelized scan (`coords` sorted by linear key, as voxelize gives),
    each made by `build` (the numpy build, or the compiled one of `spot.runtime.fused.kernel_map`).

    With a `pool`, submanifold maps are built on it while this thread walks the chain of strided maps (each
    needs the voxel set of the one before): numpy and the compiled build release the GIL, so on two cores
    the finest submanifold map, the largest, overlaps everything else.
    """
    built = PlanMaps({ROOT_SET: coords}, {ROOT_SET: tuple(int(s) for s in spatial_shape)}, {})
    pending = {}
    for spec in plan.maps:
        source = (built.coords[spec.source], built.spatial_shapes[spec.source], spec.geometry)
        if spec.geometry.subm and pool is not None:
            pending[spec.name] = pool.submit(build, *source)
            continue
        kernel_map = build(*source)
        built.maps[spec.name] = kernel_map
        if not spec.geometry.subm:
            built.coords[spec.name] = kernel_map.out_coords
            built.spatial_shapes[spec.name] = kernel_map.out_spatial_shape
    built.maps.update({name: future.result() for name, future in pending.items()})
    return built


def grouped_pairs(kernel_map: KernelMap) -> tuple[np.ndarray, np.ndarray]:
    """The map as `(pairs int64 (2, P), counts int64 (K,))`: (input row; output row) pairs offset after offset,
    in increasing output row within an offset; the submanifold centre (the identity) is left out."""
    volume = kernel_map.neighbors.shape[0]
    skipped = volume // 2 if kernel_map.geometry.subm else None
    per_offset = [kernel_map.pairs(k) if k != skipped else (_EMPTY, _EMPTY) for k in range(volume)]
    counts = np.array([len(inputs) for inputs, _ in per_offset], dtype=np.int64)
    pairs = np.empty((2, int(counts.sum())), dtype=np.int64)
    np.concatenate([inputs for inputs, _ in per_offset], out=pairs[0])
    np.concatenate([outputs for _, outputs in per_offset], out=pairs[1])
    return pairs, counts
