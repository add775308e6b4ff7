"""`Perception`: an exported artifact run on raw scans, with numpy + an inference engine (no torch).

    perception = Perception.load("artifacts/seg", engine="onnxruntime", num_threads=2)
    result = perception(points)   # Scan, or float32 (N, >= 4) x y z intensity [...]
    result.labels, result.scores, result.boxes, result.timings

Stages (each timed, milliseconds): voxelize (mean features per voxel), kernel_maps (the sparse plan's maps,
built by the same algorithm as training), network (the engine), postprocess (voxel logits -> point labels and
scores; heatmaps -> boxes), total. Voxelization, kernel maps and point labels run in compiled code where the
fused path (`cpu` extra) is installed, in numpy otherwise: the same voxels and maps either way, bit for bit.

Input handling: a wrong column count, a non-numeric array, an empty scan or more points than the artifact's
`max_points` (a `Scan` or an array alike) is a `SpotInputError` naming no file (the caller knows the scan's
source); rows with NaN / inf are dropped before voxelization and get label `IGNORE_INDEX` (score 0), as do
points outside the voxel grid. A scan with no point inside the grid skips the network: every label is
`IGNORE_INDEX` and there are no boxes. Once a scan is prepared, a failure of the network or of decoding its
outputs is the artifact's (an `ArtifactError` naming spot.json): a caller working through many scans stops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import fused
from .artifact import Artifact
from .boxes import Boxes
from .detection import decode_center_heatmaps
from .engines import Engine, create_engine
from .errors import ArtifactError, SpotInputError, errors_from
from .kernel_map import KernelMap, build_kernel_map, transpose_neighbors
from .sample import IGNORE_INDEX
from .scan import Scan, finite_rows
from .sparse_plan import build_plan_maps, grouped_pairs
from .voxelize import VoxelGrid, Voxels, voxelize

MAP_FEEDS = ("pairs", "counts", "neighbors", "inverse_neighbors")


@dataclass
class Result:
    """labels int32 (N,) / scores float32 (N,) per input point (None without segmentation); boxes (None without
    detection); timings in milliseconds by stage."""

    labels: np.ndarray | None
    scores: np.ndarray | None
    boxes: Boxes | None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Prepared:
    """One scan ready for the network: the kept rows of the input, their voxels and the engine feeds."""

    kept: np.ndarray  # int64 (N_kept,) rows of the input that were finite
    num_points: int  # N, rows of the input
    voxels: Voxels
    feeds: dict[str, np.ndarray]


class _Clock:
    """Milliseconds per stage, stage after stage."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = (now - self._last) * 1e3
        self._last = now

    def total(self) -> dict[str, float]:
        self.timings["total"] = (time.perf_counter() - self._start) * 1e3
        return self.timings


class Perception:
    """An artifact bound to an engine. Thread-compatible, not thread-safe: one call at a time per instance.

    `num_threads` (default: every core) also decides whether the numpy build of the kernel maps runs on a
    helper thread (the compiled build is parallel inside).
    """

    def __init__(self, artifact: Artifact, engine: Engine, num_threads: int | None = None):
        declared = {spec.name for spec in artifact.inputs}
        unknown = [name for name in engine.input_names if name not in declared]
        missing = [name for name in artifact.task_outputs if name not in engine.output_names]
        if unknown or missing:
            raise ArtifactError(
                f"{artifact.model_path.name} does not match spot.json: inputs {unknown} undeclared, outputs "
                f"{missing} missing",
                source=artifact.path,
            )
        self.artifact, self.engine = artifact, engine
        self._inputs = {spec.name: spec for spec in artifact.inputs if spec.name in engine.input_names}
        self._mapped = sorted({spec.of for spec in self._inputs.values() if spec.feed in MAP_FEEDS})
        self._stages = _cpu_stages()
        parallel = (num_threads or os.cpu_count() or 1) > 1 and bool(self._mapped) and self._stages.pool_maps
        self._map_pool = ThreadPoolExecutor(1, thread_name_prefix="spot-kernel-maps") if parallel else None

    @classmethod
    def load(
        cls,
        artifact_dir: str | Path,
        engine: str = "onnxruntime",
        providers: Sequence[str] | None = None,
        num_threads: int | None = None,
    ) -> Perception:
        artifact = Artifact.load(artifact_dir)
        return cls(artifact, create_engine(engine, artifact, providers, num_threads), num_threads)

    def __enter__(self) -> Perception:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the engine and the kernel-map thread."""
        self.engine = None
        if self._map_pool is not None:
            self._map_pool.shutdown()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.artifact.segmentation.class_names if self.artifact.segmentation else ()

    @property
    def class_colors(self) -> np.ndarray:
        colors = self.artifact.segmentation.class_colors if self.artifact.segmentation else ()
        return np.asarray(colors, dtype=np.uint8).reshape(-1, 3)

    @property
    def box_class_names(self) -> tuple[str, ...]:
        return self.artifact.detection.head.class_names if self.artifact.detection else ()

    @property
    def input_columns(self) -> tuple[str, ...]:
        return self.artifact.input_columns

    def __call__(self, points: Scan | np.ndarray) -> Result:
        clock = _Clock()
        prepared = self.prepare(points, clock)
        with errors_from(self.artifact.source or "spot.json", ArtifactError):
            outputs = self.run_network(prepared)
            clock.lap("network")
            result = self.postprocess(prepared, outputs)
            clock.lap("postprocess")
        result.timings = clock.total()
        return result

    def prepare(self, points: Scan | np.ndarray, clock: _Clock | None = None) -> Prepared:
        """Validate, voxelize (timed as `voxelize`) and build the feeds (timed as `kernel_maps`)."""
        clock = clock or _Clock()
        array = self._input_array(points)
        mask = None if isinstance(points, Scan) else finite_rows(array)  # a Scan is finite by its contract
        kept = np.arange(len(array)) if mask is None else np.flatnonzero(mask)
        if len(kept) == 0:
            raise SpotInputError(f"scan of {len(array)} points holds no finite point")
        finite = array if mask is None else array[kept]
        voxels = self._stages.voxelize(self.artifact.grid, finite)
        clock.lap("voxelize")
        feeds = self._feeds(voxels) if len(voxels) else {}
        clock.lap("kernel_maps")
        return Prepared(kept, len(array), voxels, feeds)

    def run_network(self, prepared: Prepared) -> dict[str, np.ndarray]:
        """The engine's raw outputs ({} when no voxel is inside the grid)."""
        return self.engine.run(prepared.feeds) if prepared.feeds else {}

    def postprocess(self, prepared: Prepared, outputs: dict[str, np.ndarray]) -> Result:
        labels = scores = boxes = None
        if self.artifact.segmentation:
            labels, scores = self._point_labels(prepared, outputs.get(self.artifact.segmentation.output))
        if self.artifact.detection:
            boxes = self._boxes(outputs)
        return Result(labels, scores, boxes)

    def _input_array(self, points: Scan | np.ndarray) -> np.ndarray:
        """The input columns of a Scan or an (N, >= C) array, within the artifact's `max_points` bound."""
        columns = self.artifact.input_columns
        array = points.with_columns(columns).points if isinstance(points, Scan) else self._checked_array(points)
        if len(array) > self.artifact.max_points:
            raise SpotInputError(
                f"scan has {len(array)} points, more than this artifact's bound of {self.artifact.max_points} "
                "(spot-export --max-points sets it)"
            )
        return array

    def _checked_array(self, points: np.ndarray) -> np.ndarray:
        columns = self.artifact.input_columns
        array = np.asarray(points)
        if array.ndim != 2 or array.shape[1] < len(columns):
            raise SpotInputError(
                f"points must be (N, >= {len(columns)}) with columns {columns} first, got shape {array.shape}"
            )
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise SpotInputError(f"points must be a float32 array, got dtype {array.dtype}")
        if len(array) == 0:
            raise SpotInputError("scan holds no points")
        return np.ascontiguousarray(array[:, : len(columns)], dtype=np.float32)

    def _feeds(self, voxels: Voxels) -> dict[str, np.ndarray]:
        grid_shape = self.artifact.grid.grid_shape
        if not self._mapped:
            return {name: voxels.features if spec.feed == "voxel_features" else voxels.coords
                    for name, spec in self._inputs.items()}  # fmt: skip
        built = build_plan_maps(self.artifact.plan, voxels.coords, grid_shape, self._map_pool, self._stages.build_map)
        grouped = {}  # (pairs, counts) per map, for portable graphs
        feeds = {}
        for name, spec in self._inputs.items():
            if spec.feed == "voxel_features":
                feeds[name] = voxels.features
            elif spec.feed == "coords":
                feeds[name] = built.coords[spec.of]
            elif spec.feed == "neighbors":
                feeds[name] = built.maps[spec.of].neighbors
            elif spec.feed == "inverse_neighbors":
                feeds[name] = self._stages.transpose(built.maps[spec.of])
            else:
                if spec.of not in grouped:
                    grouped[spec.of] = grouped_pairs(built.maps[spec.of])
                feeds[name] = grouped[spec.of][0 if spec.feed == "pairs" else 1]
        return feeds

    def _point_labels(self, prepared: Prepared, logits: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        labels = np.full(prepared.num_points, IGNORE_INDEX, dtype=np.int32)
        scores = np.zeros(prepared.num_points, dtype=np.float32)
        if logits is None:  # no voxel inside the grid
            return labels, scores
        if logits.ndim != 2 or logits.shape[1] != len(self.class_names):
            raise SpotInputError(f"the model gives logits of shape {logits.shape} for {len(self.class_names)} "
                                 "class names")  # fmt: skip
        self._stages.point_labels(logits, prepared.voxels.point_to_voxel, prepared.kept, labels, scores)
        return labels, scores

    def _boxes(self, outputs: dict[str, np.ndarray]) -> Boxes:
        spec = self.artifact.detection
        if spec.heatmap not in outputs:
            return Boxes.empty()
        heatmap = 1.0 / (1.0 + np.exp(-outputs[spec.heatmap][0]))  # (C, H, W) probabilities
        return decode_center_heatmaps(heatmap, outputs[spec.regression][0], spec.head)


@dataclass(frozen=True)
class _CpuStages:
    """The per-scan work around the network, in numpy or in compiled code (same results)."""

    voxelize: Callable[[VoxelGrid, np.ndarray], Voxels]
    build_map: Callable[..., KernelMap]
    transpose: Callable[[KernelMap], np.ndarray]
    point_labels: Callable[..., None]
    pool_maps: bool  # overlap map builds on a helper thread (numpy releases the GIL; compiled code is parallel)


def _numpy_point_labels(logits, point_to_voxel, kept, labels, scores) -> None:
    """Fill labels / scores at rows `kept[p]` of every point inside a voxel: the voxel's arg max and its
    softmax probability."""
    voxel_labels = logits.argmax(axis=1)
    shifted = logits - logits[np.arange(len(logits)), voxel_labels][:, None]
    voxel_scores = (1.0 / np.exp(shifted).sum(axis=1)).astype(np.float32)  # softmax of the arg max
    inside = point_to_voxel >= 0
    rows = kept[inside]
    labels[rows] = voxel_labels[point_to_voxel[inside]]
    scores[rows] = voxel_scores[point_to_voxel[inside]]


def _cpu_stages() -> _CpuStages:
    """Compiled stages where the fused path is installed (compiled, or loaded from numba's cache, and warmed
    up here, so the first scan is not late), numpy otherwise."""
    if not fused.available():
        return _CpuStages(voxelize, build_kernel_map, transpose_neighbors, _numpy_point_labels, pool_maps=True)
    from .fused import kernel_map, labels
    from .fused import voxelize as compiled_voxelize

    for module in (compiled_voxelize, kernel_map, labels):
        module.warm_up()
    return _CpuStages(compiled_voxelize.voxelize, kernel_map.build_kernel_map, kernel_map.transpose_neighbors,
                      labels.point_labels, pool_maps=False)  # fmt: skip
