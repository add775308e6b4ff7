"""The Artifact contract (DESIGN §3): a directory with `model.onnx` and `spot.json`, all the vehicle needs.

spot.json (schema version 1):

    schema_version   1
    producer         {"spot_version", "checkpoint", "step", "objective"}: where it came from
    model            {"file": "model.onnx", "flavour": "portable" | "autoware", "opset"}
    input            {"columns": ["x", "y", "z", "intensity"], "max_points"}: what a scan must hold; scans with
                     more points are refused (engines size their buffers by it)
    voxelization     {"point_cloud_range", "voxel_size", "features": "mean"}: `spot.runtime.voxelize.VoxelGrid`
    sparse_plan      {"root", "maps": [...]}: `spot.runtime.sparse_plan.SparsePlan`
    inputs           [{"name", "dtype", "shape", "feed", "of"}]: each graph input and what feeds it:
                     feed "voxel_features" (mean input columns per voxel), "coords" (voxel set `of`),
                     "pairs" / "counts" (kernel map `of`, see sparse_plan)
    outputs          [{"name", "dtype", "shape", "meaning"}]
    tasks            {"segmentation": {"output", "class_names", "class_colors"},
                      "detection": {"heatmap", "regression", "head": CenterHeadSpec.to_dict()}}: either or both

A newer schema than this runtime knows is refused with a message saying to upgrade; older ones load through
`MIGRATIONS` (version n -> n + 1), so an artifact on a vehicle keeps working after an update.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpotInputError
from .sparse_plan import SparsePlan
from .voxelize import VoxelGrid

SCHEMA_VERSION = 1
ARTIFACT_FILE = "spot.json"
MODEL_FILE = "model.onnx"
FLAVOURS = ("portable", "autoware")
FEEDS = ("voxel_features", "coords", "pairs", "counts")
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}  # version n -> a function returning the dict at n + 1


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
    head: dict[str, Any]

    def to_dict(self) -> dict:
        return {"heatmap": self.heatmap, "regression": self.regression, "head": self.head}

    @classmethod
    def from_dict(cls, data: dict) -> DetectionSpec:
        return cls(data["heatmap"], data["regression"], dict(data["head"]))


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
        if self.flavour not in FLAVOURS:
            raise SpotInputError(f"model flavour {self.flavour!r}; expected one of {FLAVOURS}", source=self.source)
        if self.segmentation is None and self.detection is None:
            raise SpotInputError("declares no task (segmentation or detection)", source=self.source)
        if self.max_points < 1:
            raise SpotInputError(f"input.max_points must be positive, got {self.max_points}", source=self.source)
        produced = {spec.name for spec in self.outputs}
        missing = [name for name in self.task_outputs if name not in produced]
        if missing:
            raise SpotInputError(f"tasks read outputs {missing} that the model does not declare", source=self.source)

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
            raise SpotInputError(f"no {ARTIFACT_FILE}: not a spot artifact (make one with spot-export)", source=folder)
        if not (folder / MODEL_FILE).is_file():
            raise SpotInputError(f"no {MODEL_FILE} beside {ARTIFACT_FILE}: the artifact is incomplete", source=folder)
        try:
            data = migrate(json.loads(source.read_text()), source)
            return cls._from_dict(data, folder)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as error:
            if isinstance(error, SpotInputError):
                raise
            raise SpotInputError(f"malformed ({type(error).__name__}: {error})", source=source) from error

    @classmethod
    def _from_dict(cls, data: dict, folder: Path) -> Artifact:
        tasks = data["tasks"]
        return cls(
            flavour=data["model"]["flavour"],
            opset=int(data["model"]["opset"]),
            input_columns=tuple(data["input"]["columns"]),
            max_points=int(data["input"]["max_points"]),
            grid=VoxelGrid.from_dict(data["voxelization"]),
            plan=SparsePlan.from_dict(data["sparse_plan"]),
            inputs=tuple(TensorSpec.from_dict(item) for item in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(item) for item in data["outputs"]),
            segmentation=SegmentationSpec.from_dict(tasks["segmentation"]) if "segmentation" in tasks else None,
            detection=DetectionSpec.from_dict(tasks["detection"]) if "detection" in tasks else None,
            producer=dict(data.get("producer", {})),
            path=folder,
        )


def migrate(data: dict, source: Path) -> dict:
    """spot.json of any known schema version -> the current one."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or version < 1:
        raise SpotInputError(f"has no valid schema_version (got {version!r}): not a spot artifact", source=source)
    if version > SCHEMA_VERSION:
        raise SpotInputError(
            f"schema version {version} is newer than this runtime reads ({SCHEMA_VERSION}): upgrade spot-lidar "
            "on this machine, or export the model again with the spot version installed here",
            source=source,
        )
    while version < SCHEMA_VERSION:
        data, version = MIGRATIONS[version](data), version + 1
    return data
