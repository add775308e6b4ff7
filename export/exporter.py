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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from spot.runtime import Sample, fused, voxelize
from spot.runtime.artifact import ARTIFACT_FILE, FLAVOURS, MODEL_FILE, Artifact, TensorSpec
from spot.runtime.engines import create_engine
from spot.runtime.errors import SpotInputError
from spot.runtime.io.label_maps import named_label_map
from spot.runtime.kernel_map import transpose_neighbors
from spot.runtime.perception import Perception
from spot.runtime.sparse_plan import build_plan_maps, grouped_pairs
from spot.trainer.config import load_config
from spot.trainer.engine.checkpoint import load_weights, read_checkpoint
from spot.trainer.engine.run import build_task
from spot.trainer.engine.task import DatasetInfo
from spot.trainer.objectives.segmentation.task import SEGMENTATION_OBJECTIVE
from spot.trainer.sparse import SparseTensor, set_backend

from . import autoware_ops
from .graph import FEATURES, GraphContext, GraphModel, export_copy, input_names, record_plan
from .sparse_ops import FUSED_DOMAIN
from .tasks import TASK_SECTIONS
from .tensorrt import TensorRTOptions, build_engine, engine_profile
from .verify import Reference, VerificationReport, verify

log = logging.getLogger(__name__)
MIN_OPSET = 16  # ScatterND with reduction
MAX_OPSET = 20  # the newest torch's TorchScript exporter writes (torch.onnx._constants, tested)
VERIFICATION_FILE = "verification.json"
CUSTOM_OPSETS = {"autoware": {autoware_ops.DOMAIN: autoware_ops.OPSET_VERSION}, "fused": {FUSED_DOMAIN: 1}}
_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT32: "int32", onnx.TensorProto.INT64: "int64"}


class VerificationFailed(Exception):
    """The exported graph does not compute what PyTorch computes; nothing was written."""

    def __init__(self, report: VerificationReport):
        self.report = report
        super().__init__(f"the exported graph does not match PyTorch: {json.dumps(report.to_dict())}")


def default_flavour() -> str:
    """`fused` where its runtime dependencies (the `cpu` extra) are installed, else `portable`."""
    return "fused" if fused.available() else "portable"


@dataclass
class ExportOptions:
    flavour: str = field(default_factory=default_flavour)
    opset: int = 17
    max_points: int = 500_000
    domain: str | None = None  # the domain a multi-domain (PPT) checkpoint is exported for
    label_map: str | None = None  # with `domain`: a label set scored by the language-guided head's class texts
    tensorrt: TensorRTOptions | None = None  # also build model.engine (spot-export --trt)

    def __post_init__(self) -> None:
        """Checked before anything is read or traced: a bad option never costs an export."""
        if self.flavour not in FLAVOURS:
            raise SpotInputError(f"flavour {self.flavour!r}; expected one of {FLAVOURS}")
        if self.opset < MIN_OPSET:
            raise SpotInputError(f"opset {self.opset} is too old: the sparse layers need ScatterND(add), opset >= 16")
        if self.opset > MAX_OPSET:
            raise SpotInputError(f"opset {self.opset} is newer than torch's ONNX exporter writes (<= {MAX_OPSET})")
        if self.max_points < 1:
            raise SpotInputError(f"max_points {self.max_points}: expected a positive number of points")
        if self.tensorrt is not None:
            self.tensorrt.check(self.flavour)
        if self.label_map is not None:
            if self.domain is None:
                raise SpotInputError("--label-map needs --domain: the domain whose norms the model runs with")
            named_label_map(self.label_map)  # an unknown name is refused here, naming the known ones


def refuse_non_artifact(output: Path) -> None:
    """Export replaces an artifact folder (or fills an empty one) at `output`, and never anything else."""
    if output.exists() and not (output.is_dir() and ((output / ARTIFACT_FILE).is_file() or not any(output.iterdir()))):
        raise SpotInputError("exists and is not a spot artifact: refusing to replace it", source=output)


def load_task(
    checkpoint_path: Path, domain: str | None = None, label_map: str | None = None
) -> tuple[torch.nn.Module, str, dict]:
    """(task in eval mode on the native backend, objective name, producer info) from a checkpoint.

    A multi-domain (PPT) checkpoint deploys one domain at a time: `domain` picks it, and the task is that domain's
    ordinary segmentation task (`for_domain`: its norms folded into plain BatchNorm, its classifier alone); with
    `label_map` (a language-guided model), that domain's norms scoring the label map's classes by their texts
    (`for_label_set`), e.g. a label set it never trained on."""
    checkpoint = read_checkpoint(checkpoint_path, with_train_state=False)
    recorded = checkpoint.meta["dataset_info"]
    config = load_config(checkpoint.path / "config.yaml", recorded=recorded)  # older configs take the recorded spec
    task = build_task(config, DatasetInfo.from_dict(recorded))
    load_weights(task, checkpoint.weights, checkpoint.path / "config.yaml")
    objective = config.objective.name
    producer = {"checkpoint": str(checkpoint.path), "step": checkpoint.meta.get("step"), "objective": objective}
    if task.info.domains:
        names = ", ".join(d.name for d in task.info.domains)
        if domain is None:
            raise SpotInputError(f"the checkpoint was trained on several domains ({names}): choose the one to "
                                 "export with --domain NAME", source=checkpoint.path)  # fmt: skip
        if label_map is None:
            task = task.for_domain(domain)
        else:
            task = task.for_label_set(domain, named_label_map(label_map).class_names)
            producer["label_map"] = label_map
        objective = SEGMENTATION_OBJECTIVE
        producer["domain"] = domain
    elif domain is not None:
        raise SpotInputError(f"--domain {domain!r}: the checkpoint has no domains", source=checkpoint.path)
    set_backend(task, "native").eval()
    return task, objective, producer


def export_checkpoint(
    checkpoint_path: str | Path, output: str | Path, samples: list[Sample], options: ExportOptions
) -> VerificationReport:
    """Export, verify on `samples`, and write the artifact folder `output`; raises `VerificationFailed`."""
    if not samples:
        raise SpotInputError("export needs at least one scan to trace and verify on")
    output = Path(output)
    refuse_non_artifact(output)
    task, objective, producer = load_task(Path(checkpoint_path), options.domain, options.label_map)
    if objective not in TASK_SECTIONS:
        raise SpotInputError(f"objective {objective!r} cannot be exported; exportable: {sorted(TASK_SECTIONS)}")
    if task.info.grid is None:
        raise SpotInputError("the checkpoint records no voxelization", source=checkpoint_path)
    staging = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        artifact = write_graph(task, TASK_SECTIONS[objective](task), samples[0], staging, options, producer)
        perception = _perception(artifact)
        report = verify(perception, torch_reference(task), samples)
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


def write_graph(task, sections: dict, example: Sample, folder: Path, options: ExportOptions, producer: dict):
    """Trace `task.infer` into folder/model.onnx and describe it in folder/spot.json (`sections`: its spot.json
    task sections); returns the `Artifact`."""
    grid = task.info.grid
    columns = ("x", "y", "z", "intensity")
    voxels = _example_voxels(example, grid, columns)
    x = SparseTensor.from_voxels(voxels.features, voxels.coords, grid.grid_shape, 1)
    plan = record_plan(task.infer, x)
    built = build_plan_maps(plan, voxels.coords, grid.grid_shape)
    context = GraphContext(plan, options.flavour, built.spatial_shapes)
    names = input_names(plan, options.flavour)
    example_inputs = _example_inputs(names, voxels.features, built)
    outputs = task.output_specs()
    graph = GraphModel(export_copy(task, context), context, names)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            graph, example_inputs, str(folder / MODEL_FILE), dynamo=False, input_names=names,
            output_names=[spec.name for spec in outputs], dynamic_axes=_dynamic_axes(names, outputs),
            opset_version=options.opset, do_constant_folding=True,
            custom_opsets=CUSTOM_OPSETS.get(options.flavour),
        )  # fmt: skip
    model = onnx.load(str(folder / MODEL_FILE))
    if options.flavour == "autoware":
        autoware_ops.register_schemas()
    onnx.checker.check_model(model)
    artifact = Artifact(
        flavour=options.flavour, opset=options.opset, input_columns=columns, max_points=options.max_points,
        grid=grid, plan=plan, inputs=tuple(_input_spec(value) for value in model.graph.input), outputs=outputs,
        producer=producer, path=folder, **sections,
    )  # fmt: skip
    artifact.save(folder)
    return artifact


def torch_reference(task: torch.nn.Module) -> Reference:
    """`task.infer` in PyTorch eager on the runtime's voxels: what verification holds the graph to."""
    grid_shape = task.info.grid.grid_shape

    def outputs(voxels) -> list[np.ndarray]:
        x = SparseTensor.from_voxels(voxels.features, voxels.coords, grid_shape, 1)
        with torch.no_grad():
            return [value.detach().cpu().numpy() for value in task.infer(x)]

    return outputs


def _example_voxels(example: Sample, grid, columns):
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
        elif kind == "neighbors":
            values.append(built.maps[of].neighbors)
        elif kind == "inverse_neighbors":
            values.append(transpose_neighbors(built.maps[of]))
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
        elif kind in ("neighbors", "inverse_neighbors"):
            axes[name] = {1: f"V_{kind}_{of}"}
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
    return Perception(artifact, create_engine("onnxruntime", artifact, num_threads=1), num_threads=1)


def _replace(staging: Path, output: Path) -> None:
    """Move the finished folder into place; an existing artifact there is replaced, anything else refused."""
    refuse_non_artifact(output)  # again: something may have appeared there during the export
    if output.exists():
        shutil.rmtree(output)
    os.replace(staging, output)
