"""Checkpoint -> verified artifact folder (model.onnx + spot.json + verification.json [+ model.engine]).

The task is rebuilt from the checkpoint alone (its config, weights and dataset info), run once on an example
scan to record its sparse-layer plan, traced into ONNX in the chosen flavour, and verified against PyTorch on
the given scans. The folder is written under a temporary name and renamed into place only when verification
passes (and, with `ExportOptions.tensorrt`, TensorRT has built the engine): an artifact that does not match
PyTorch is never written.

Tracing uses torch's TorchScript-based ONNX exporter: each sparse layer is written by a `symbolic` function
(`export.sparse_ops`) whose sizes depend on the data (pairs per kernel offset), which that exporter takes as
it is.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from spot.runtime import Sample
from spot.runtime.artifact import ARTIFACT_FILE, FLAVOURS, MODEL_FILE, Artifact, TensorSpec
from spot.runtime.engines import OnnxRuntimeEngine
from spot.runtime.errors import SpotInputError
from spot.runtime.perception import Perception
from spot.runtime.sparse_plan import build_plan_maps, grouped_pairs
from spot.trainer.config import load_config
from spot.trainer.engine.checkpoint import read_checkpoint
from spot.trainer.engine.run import build_task
from spot.trainer.engine.task import DatasetInfo
from spot.trainer.sparse import SparseTensor, set_backend

from . import autoware_ops
from .graph import FEATURES, GraphContext, GraphModel, export_copy, input_names, record_plan
from .tasks import TASK_EXPORTS, TaskExport
from .tensorrt import TensorRTOptions, build_engine, engine_profile
from .verify import VerificationReport, verify

log = logging.getLogger(__name__)
MIN_OPSET = 16  # ScatterND with reduction
VERIFICATION_FILE = "verification.json"
_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT32: "int32", onnx.TensorProto.INT64: "int64"}


class VerificationFailed(Exception):
    """The exported graph does not compute what PyTorch computes; nothing was written."""

    def __init__(self, report: VerificationReport):
        self.report = report
        super().__init__(f"the exported graph does not match PyTorch: {json.dumps(report.to_dict())}")


@dataclass
class ExportOptions:
    flavour: str = "portable"
    opset: int = 17
    max_points: int = 500_000
    tensorrt: TensorRTOptions | None = None  # also build model.engine (spot-export --trt)

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise SpotInputError(f"flavour {self.flavour!r}; expected one of {FLAVOURS}")
        if self.opset < MIN_OPSET:
            raise SpotInputError(f"opset {self.opset} is too old: the sparse layers need ScatterND(add), opset >= 16")
        if self.tensorrt is not None:
            self.tensorrt.check(self.flavour)


def load_task(checkpoint_path: Path) -> tuple[torch.nn.Module, str, dict]:
    """(task in eval mode on the native backend, objective name, producer info) from a checkpoint."""
    checkpoint = read_checkpoint(checkpoint_path, with_train_state=False)
    config = load_config(checkpoint.path / "config.yaml")
    task = build_task(config, DatasetInfo.from_dict(checkpoint.meta["dataset_info"]))
    task.load_state_dict(checkpoint.weights)
    set_backend(task, "native").eval()
    producer = {"checkpoint": str(checkpoint.path), "step": checkpoint.meta.get("step"),
                "objective": config.objective.name}  # fmt: skip
    return task, config.objective.name, producer


def export_checkpoint(
    checkpoint_path: str | Path, output: str | Path, samples: list[Sample], options: ExportOptions
) -> VerificationReport:
    """Export, verify on `samples`, and write the artifact folder `output`; raises `VerificationFailed`."""
    if not samples:
        raise SpotInputError("export needs at least one scan to trace and verify on")
    task, objective, producer = load_task(Path(checkpoint_path))
    if objective not in TASK_EXPORTS:
        raise SpotInputError(f"objective {objective!r} cannot be exported; exportable: {sorted(TASK_EXPORTS)}")
    if task.info.grid is None:
        raise SpotInputError("the checkpoint records no voxelization", source=checkpoint_path)
    output = Path(output)
    staging = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        artifact = write_graph(task, TASK_EXPORTS[objective], samples[0], staging, options, producer)
        perception = _perception(artifact)
        report = verify(perception, task, TASK_EXPORTS[objective].forward, samples)
        (staging / VERIFICATION_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        if not report.passed:
            raise VerificationFailed(report)
        if options.tensorrt is not None:  # the graph is right; the engine is TensorRT's build of it
            trt = options.tensorrt
            profile = engine_profile(artifact, perception.prepare(samples[0].scan).feeds)
            build_engine(artifact.model_path, staging, profile, trt.fp16, trt.plugin_libraries)
        _replace(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def write_graph(task, adapter: TaskExport, example: Sample, folder: Path, options: ExportOptions, producer: dict):
    """Trace `task` into folder/model.onnx and describe it in folder/spot.json; returns the `Artifact`."""
    grid = task.info.grid
    columns = ("x", "y", "z", "intensity")
    voxels = _example_voxels(example, grid, columns)
    x = SparseTensor.from_voxels(voxels.features, voxels.coords, grid.grid_shape, 1)
    plan = record_plan(lambda tensor: adapter.forward(task, tensor), x)
    built = build_plan_maps(plan, voxels.coords, grid.grid_shape)
    context = GraphContext(plan, options.flavour, built.spatial_shapes)
    names = input_names(plan, options.flavour)
    example_inputs = _example_inputs(names, voxels.features, built)
    outputs = adapter.outputs(task)
    graph = GraphModel(export_copy(task, context), context, names, adapter.forward)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            graph, example_inputs, str(folder / MODEL_FILE), dynamo=False, input_names=names,
            output_names=[spec.name for spec in outputs], dynamic_axes=_dynamic_axes(names, outputs),
            opset_version=options.opset, do_constant_folding=True,
            custom_opsets={autoware_ops.DOMAIN: autoware_ops.OPSET_VERSION} if options.flavour == "autoware" else None,
        )  # fmt: skip
    model = onnx.load(str(folder / MODEL_FILE))
    if options.flavour == "autoware":
        autoware_ops.register_schemas()
    onnx.checker.check_model(model)
    artifact = Artifact(
        flavour=options.flavour, opset=options.opset, input_columns=columns, max_points=options.max_points,
        grid=grid, plan=plan, inputs=tuple(_input_spec(value) for value in model.graph.input), outputs=outputs,
        producer=producer, path=folder, **adapter.tasks(task),
    )  # fmt: skip
    artifact.save(folder)
    return artifact


def _example_voxels(example: Sample, grid, columns):
    from spot.runtime import voxelize

    voxels = voxelize(grid, example.scan.with_columns(columns).points)
    if len(voxels) < 2:
        raise SpotInputError("has fewer than 2 voxels inside the model's grid to trace on", source=example.source)
    return voxels


def _example_inputs(names: list[str], features: np.ndarray, built) -> tuple[torch.Tensor, ...]:
    values = []
    for name in names:
        kind, _, of = name.partition(".")
        if name == FEATURES:
            values.append(features)
        elif kind == "coords":
            values.append(built.coords[of])
        else:
            pairs, counts = grouped_pairs(built.maps[of])
            values.append(pairs if kind == "pairs" else counts)
    return tuple(torch.from_numpy(np.ascontiguousarray(value)) for value in values)


def _dynamic_axes(names: list[str], outputs: tuple[TensorSpec, ...]) -> dict:
    axes = {}
    for name in names:
        kind, _, of = name.partition(".")
        if name == FEATURES:
            axes[name] = {0: "V_input"}
        elif kind == "coords":
            axes[name] = {0: f"V_{of}"}
        elif kind == "pairs":
            axes[name] = {1: f"P_{of}"}
    for spec in outputs:
        axes[spec.name] = {i: axis for i, axis in enumerate(spec.shape) if isinstance(axis, str)}
    return axes


def _input_spec(value: onnx.ValueInfoProto) -> TensorSpec:
    kind, _, of = value.name.partition(".")
    tensor = value.type.tensor_type
    shape = tuple(d.dim_param or d.dim_value for d in tensor.shape.dim)
    feed = "voxel_features" if value.name == FEATURES else kind
    return TensorSpec(value.name, _DTYPES[tensor.elem_type], shape, feed, of or None)


def _perception(artifact: Artifact) -> Perception:
    if artifact.flavour == "autoware":
        return Perception(artifact, autoware_ops.ReferenceEngine(artifact.model_path))
    return Perception(artifact, OnnxRuntimeEngine(artifact.model_path, num_threads=1), num_threads=1)


def _replace(staging: Path, output: Path) -> None:
    """Move the finished folder into place; an existing artifact there is replaced, anything else refused."""
    if output.exists():
        if not (output / ARTIFACT_FILE).is_file() and any(output.iterdir()):
            raise SpotInputError("exists and is not a spot artifact: refusing to replace it", source=output)
        shutil.rmtree(output)
    os.replace(staging, output)
