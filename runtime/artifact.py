"""The Artifact contract (DESIGN §3): a directory with `model.onnx` and `spot.json`, all the vehicle needs.

spot.json (schema version 2):

    schema_version   2
    producer         {"spot_version", "checkpoint", "step", "objective"}: where it came from
    model            {"file": "model.onnx", "flavour": "portable" | "fused" | "autoware", "opset"}: portable runs
                     in any onnxruntime; fused runs its sparse layers (`spot.fused` nodes) with the compiled
                     kernels of `spot.runtime.fused` (the `cpu` extra) and the rest in onnxruntime; autoware runs
                     in TensorRT with Autoware's plugins (`spot-export --trt`)
    input            {"columns": ["x", "y", "z", "intensity"], "max_points"}: what a scan must hold; scans with
                     more points are refused (engines size their buffers by it)
    voxelization     {"point_cloud_range", "voxel_size", "features": "mean"}: `spot.runtime.voxelize.VoxelGrid`
    sparse_plan      {"root", "maps": [...]}: `spot.runtime.sparse_plan.SparsePlan`
    inputs           [{"name", "dtype", "shape", "feed", "of"}]: each graph input and what feeds it:
                     feed "voxel_features" (mean input columns per voxel), "coords" (voxel set `of`),
                     "pairs" / "counts" (kernel map `of`, see sparse_plan), "neighbors" (map `of`'s
                     (K, V_out) table) / "inverse_neighbors" (its transpose, for inverse convolutions)
    outputs          [{"name", "dtype", "shape", "meaning"}]
    tasks            {"segmentation": {"output", "class_names", "class_colors"},
                      "detection": {"heatmap", "regression", "head": CenterHeadSpec.to_dict()}}: either or both;
                     the detection head decodes on the artifact's `voxelization` (it holds no grid of its own)

`load` validates everything once, so nothing is re-parsed per scan: the input columns follow the Scan contract
and match the features input's width, every input's `of` names a set or map of the plan, and each task agrees
with the output shapes it reads (one class name per logit channel; the heatmap is the head's BEV map). Every
error names spot.json and is an `ArtifactError`.

A newer schema than this runtime knows is refused with a message saying to upgrade; older ones load through
`MIGRATIONS` (version n -> n + 1), so an artifact on a vehicle keeps working after an update. Version 1 wrote a
second copy of the grid inside the detection head.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .detection import CenterHeadSpec
from .errors import ArtifactError, SpotInputError, errors_from
from .scan import check_columns
from .sparse_plan import SparsePlan
from .voxelize import VoxelGrid

SCHEMA_VERSION = 2
ARTIFACT_FILE = "spot.json"
MODEL_FILE = "model.onnx"
FLAVOURS = ("portable", "fused", "autoware")
FEEDS = ("voxel_features", "coords", "pairs", "counts", "neighbors", "inverse_neighbors")


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output. `shape` entries are ints or axis names; `feed` / `of` say what fills an input."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    feed: str | None = None
    of: str | None = None
    meaning: str = ""

    def to_dict(self) -> dict:
        data = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        data.update({k: v for k, v in (("feed", self.feed), ("of", self.of), ("meaning", self.meaning)) if v})
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TensorSpec:
        spec = cls(data["name"], data["dtype"], tuple(data["shape"]), data.get("feed"), data.get("of"),
                   data.get("meaning", ""))  # fmt: skip
        if spec.feed is not None and spec.feed not in FEEDS:
            raise SpotInputError(f"input {spec.name!r} has feed {spec.feed!r}; this runtime knows {FEEDS}")
        return spec


@dataclass(frozen=True)
class SegmentationSpec:
    """Per-voxel class logits in graph output `output`, reaching points through voxelization."""

    output: str
    class_names: tuple[str, ...]
    class_colors: tuple[tuple[int, int, int], ...]

    def to_dict(self) -> dict:
        return {"output": self.output, "class_names": list(self.class_names),
                "class_colors": [list(c) for c in self.class_colors]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> SegmentationSpec:
        names = tuple(data["class_names"])
        colors = tuple(tuple(int(v) for v in c) for c in data["class_colors"])
        if len(colors) != len(names):
            raise SpotInputError(f"segmentation has {len(names)} class names but {len(colors)} colours")
        return cls(data["output"], names, colors)


@dataclass(frozen=True)
class DetectionSpec:
    """CenterPoint heatmap logits (B, C, H, W) and regression maps (B, R, H, W), decoded by `head`."""

    heatmap: str
    regression: str
    head: CenterHeadSpec

    def to_dict(self) -> dict:
        return {"heatmap": self.heatmap, "regression": self.regression, "head": self.head.to_dict()}

    @classmethod
    def from_dict(cls, data: dict, grid: VoxelGrid) -> DetectionSpec:
        return cls(data["heatmap"], data["regression"], CenterHeadSpec.from_dict(data["head"], grid))


@dataclass(frozen=True)
class Artifact:
    """An exported model as the runtime sees it; `load` validates, `save` writes spot.json."""

    flavour: str
    opset: int
    input_columns: tuple[str, ...]
    max_points: int
    grid: VoxelGrid
    plan: SparsePlan
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    segmentation: SegmentationSpec | None = None
    detection: DetectionSpec | None = None
    producer: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        with errors_from(self.source or ARTIFACT_FILE, ArtifactError):
            if self.flavour not in FLAVOURS:
                raise SpotInputError(f"model flavour {self.flavour!r}; expected one of {FLAVOURS}")
            if self.segmentation is None and self.detection is None:
                raise SpotInputError("declares no task (segmentation or detection)")
            if self.max_points < 1:
                raise SpotInputError(f"input.max_points must be positive, got {self.max_points}")
            if self.detection is not None and self.detection.head.grid != self.grid:
                raise SpotInputError("the detection head decodes on another grid than the artifact's voxelization")
            check_columns(self.input_columns, "input.columns")
            self._check_inputs()
            self._check_task_outputs()

    def _check_inputs(self) -> None:
        """Each graph input is fed from something this artifact has: its columns, a voxel set or a kernel map."""
        maps = {spec.name for spec in self.plan.maps}
        strided = {spec.name for spec in self.plan.maps if not spec.geometry.subm}  # the maps inverse convs undo
        for spec in self.inputs:
            known = {"voxel_features": None, "coords": self.plan.voxel_sets, "pairs": maps, "counts": maps,
                     "neighbors": maps, "inverse_neighbors": strided}  # fmt: skip
            if spec.feed is not None and known[spec.feed] is not None and spec.of not in known[spec.feed]:
                raise SpotInputError(f"input {spec.name!r} is fed from {spec.feed} of {spec.of!r}, which the "
                                     f"sparse plan does not build (it has {sorted(known[spec.feed])})")  # fmt: skip
            width = spec.shape[-1] if spec.feed == "voxel_features" and spec.shape else None
            if isinstance(width, int) and width != len(self.input_columns):
                raise SpotInputError(f"input.columns names {len(self.input_columns)} columns {self.input_columns} "
                                     f"but the graph input {spec.name!r} takes {width}")  # fmt: skip

    def _check_task_outputs(self) -> None:
        """The tasks read outputs the model declares, with the shapes they expect."""
        produced = {spec.name: spec.shape for spec in self.outputs}
        missing = [name for name in self.task_outputs if name not in produced]
        if missing:
            raise SpotInputError(f"tasks read outputs {missing} that the model does not declare")
        expected = {}
        if self.segmentation:
            expected[self.segmentation.output] = ("V", len(self.segmentation.class_names))
        if self.detection:
            head = self.detection.head
            expected[self.detection.heatmap] = (1, len(head.class_names), *head.map_shape)
            expected[self.detection.regression] = (1, head.regression_channels, *head.map_shape)
        for name, shape in expected.items():
            declared = produced[name]
            if len(declared) != len(shape) or any(
                isinstance(d, int) and isinstance(e, int) and d != e for d, e in zip(declared, shape, strict=True)
            ):
                raise SpotInputError(f"output {name!r} has shape {tuple(declared)} but the task section expects "
                                     f"{shape} (class names, head stride or grid disagree with the model)")  # fmt: skip

    @property
    def task_outputs(self) -> tuple[str, ...]:
        """The graph outputs the tasks read."""
        names = (self.segmentation.output,) if self.segmentation else ()
        return names + ((self.detection.heatmap, self.detection.regression) if self.detection else ())

    @property
    def source(self) -> Path | None:
        return None if self.path is None else self.path / ARTIFACT_FILE

    @property
    def model_path(self) -> Path:
        return Path(self.path or ".") / MODEL_FILE

    def to_dict(self) -> dict:
        tasks = {}
        if self.segmentation:
            tasks["segmentation"] = self.segmentation.to_dict()
        if self.detection:
            tasks["detection"] = self.detection.to_dict()
        return {
            "schema_version": SCHEMA_VERSION,
            "producer": self.producer,
            "model": {"file": MODEL_FILE, "flavour": self.flavour, "opset": self.opset},
            "input": {"columns": list(self.input_columns), "max_points": self.max_points},
            "voxelization": {**self.grid.to_dict(), "features": "mean"},
            "sparse_plan": self.plan.to_dict(),
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
            "tasks": tasks,
        }

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / ARTIFACT_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Artifact:
        """Read and validate `folder/spot.json` (migrating older schemas); `folder/model.onnx` must exist."""
        folder = Path(folder)
        source = folder / ARTIFACT_FILE
        if not source.is_file():
            raise ArtifactError(f"no {ARTIFACT_FILE}: not a spot artifact (make one with spot-export)", source=folder)
        if not (folder / MODEL_FILE).is_file():
            raise ArtifactError(f"no {MODEL_FILE} beside {ARTIFACT_FILE}: the artifact is incomplete", source=folder)
        with errors_from(source, ArtifactError):
            try:
                return cls._from_dict(migrate(json.loads(source.read_text()), source), folder)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                if isinstance(error, SpotInputError):
                    raise
                raise SpotInputError(f"malformed ({type(error).__name__}: {error})") from error

    @classmethod
    def _from_dict(cls, data: dict, folder: Path) -> Artifact:
        tasks = data["tasks"]
        grid = VoxelGrid.from_dict(data["voxelization"])
        return cls(
            flavour=data["model"]["flavour"],
            opset=int(data["model"]["opset"]),
            input_columns=tuple(data["input"]["columns"]),
            max_points=int(data["input"]["max_points"]),
            grid=grid,
            plan=SparsePlan.from_dict(data["sparse_plan"]),
            inputs=tuple(TensorSpec.from_dict(item) for item in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(item) for item in data["outputs"]),
            segmentation=SegmentationSpec.from_dict(tasks["segmentation"]) if "segmentation" in tasks else None,
            detection=DetectionSpec.from_dict(tasks["detection"], grid) if "detection" in tasks else None,
            producer=dict(data.get("producer", {})),
            path=folder,
        )


def _head_on_the_artifact_grid(data: dict) -> dict:
    """1 -> 2: the detection head's copy of the grid goes; the artifact's `voxelization` is the one grid."""
    head = data.get("tasks", {}).get("detection", {}).get("head", {})
    copy = head.pop("voxelization", None)
    if copy is not None and VoxelGrid.from_dict(copy) != VoxelGrid.from_dict(data["voxelization"]):
        raise SpotInputError(f"the detection head's voxelization {copy} differs from the artifact's "
                             f"{data['voxelization']}: export the model again")  # fmt: skip
    return {**data, "schema_version": 2}


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _head_on_the_artifact_grid}  # version n -> the dict at n + 1


def migrate(data: dict, source: Path) -> dict:
    """spot.json of any known schema version -> the current one."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or version < 1:
        raise ArtifactError(f"has no valid schema_version (got {version!r}): not a spot artifact", source=source)
    if version > SCHEMA_VERSION:
        raise ArtifactError(
            f"schema version {version} is newer than this runtime reads ({SCHEMA_VERSION}): upgrade spot-lidar "
            "on this machine, or export the model again with the spot version installed here",
            source=source,
        )
    while version < SCHEMA_VERSION:
        data, version = MIGRATIONS[version](data), version + 1
    return data
