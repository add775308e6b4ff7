"""`spot-export --trt`: the verified graph built into a TensorRT engine inside the artifact.

`engine_profile` (pure Python, tested everywhere) sizes the optimisation profile from the artifact's sparse plan:
every voxel axis from 1 to its bound (the autoware plugins hold at most `autoware_ops.MAX_VOXELS` voxels per set),
every pair axis from 0 to the pairs such a set can make, the example scan's sizes as the optimum. `build_engine`
is the one function that calls TensorRT: parse the ONNX (plugin libraries loaded first for the autoware graph),
build, serialise. TensorRT 11 builds strongly typed networks only, so the precision is the graph's (float32);
TensorRT 10.x (JetPack 6) takes `--fp16` as the builder flag.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spot.runtime.artifact import Artifact
from spot.runtime.errors import SpotInputError
from spot.runtime.sparse_plan import ROOT_SET
from spot.runtime.tensorrt_engine import BUILD_LOG_FILE, ENGINE_FILE, RECORD_FILE, import_tensorrt, tensorrt_major

from . import autoware_ops

WORKSPACE_BYTES = 4 << 30

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorRTOptions:
    fp16: bool = False
    plugin_libraries: tuple[Path, ...] = field(default_factory=tuple)

    def check(self, flavour: str) -> None:
        """Refuse, before any export work, what cannot build here (TensorRT absent, too old, or the options)."""
        if flavour == "fused":
            raise SpotInputError(
                "--trt: the fused graph's sparse layers are spot's CPU kernels, which TensorRT cannot run; "
                "export with --flavour portable or --flavour autoware"
            )
        trt = import_tensorrt()
        if self.fp16 and tensorrt_major(trt) >= 11:
            raise SpotInputError(
                f"--fp16: TensorRT {trt.__version__} builds strongly typed networks only, whose precision is the "
                "ONNX graph's (float32 here); build on TensorRT 10.x (JetPack 6) for fp16, or leave --fp16 out"
            )
        if flavour == "autoware" and not self.plugin_libraries:
            raise SpotInputError(
                "the autoware graph needs Autoware's plugins: --plugin-lib PATH/libautoware_tensorrt_plugins.so "
                "(package autoware_tensorrt_plugins, built with spconv_cpp)"
            )
        for library in self.plugin_libraries:
            if not Path(library).is_file():
                raise SpotInputError("no such plugin library", source=library)


class EngineBuildFailed(Exception):
    """TensorRT could not parse or build the graph; the message ends with its log."""


def engine_profile(artifact: Artifact, example: dict[str, np.ndarray]) -> dict[str, tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shape of every graph input: `example` (one scan's feeds) is the optimum."""
    voxel_bound = artifact.max_points
    if artifact.flavour == "autoware":
        voxel_bound = min(voxel_bound, autoware_ops.MAX_VOXELS)
    bounds, pairs = {ROOT_SET: voxel_bound}, {}
    for spec in artifact.plan.maps:
        g, source = spec.geometry, bounds[spec.source]
        if g.subm:
            pairs[spec.name] = (g.volume - 1) * source  # the centre is a dense GEMM, not pairs
        else:
            reach = math.prod(math.ceil(k * d / s) for k, s, d in zip(g.kernel_size, g.stride, g.dilation, strict=True))
            bounds[spec.name] = pairs[spec.name] = source * reach  # each input reaches at most `reach` outputs
    profile = {}
    for spec in artifact.inputs:
        opt = [int(n) for n in example[spec.name].shape]
        low, high = list(opt), list(opt)
        for axis, size in enumerate(spec.shape):
            if isinstance(size, str):
                if spec.feed == "pairs":
                    low[axis], high[axis] = 0, pairs[spec.of]
                else:  # voxel features or coordinates of a voxel set
                    low[axis], high[axis] = 1, bounds[spec.of or ROOT_SET]
                opt[axis] = min(opt[axis], high[axis])
        profile[spec.name] = (tuple(low), tuple(opt), tuple(high))
    return profile


def build_engine(
    onnx_path: Path, folder: Path, profile: dict, fp16: bool, plugin_libraries: Sequence[Path]
) -> dict:
    """Build `onnx_path` into folder/model.engine; writes the build log and tensorrt.json, returns the record."""
    trt = import_tensorrt()
    log = _build_logger(trt)
    builder = trt.Builder(log)
    for library in plugin_libraries:
        builder.get_plugin_registry().load_library(str(library))
    strongly_typed = tensorrt_major(trt) >= 11
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    parsed = parser.parse_from_file(str(onnx_path))
    errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if fp16 and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    optimisation = builder.create_optimization_profile()
    for name, (low, opt, high) in profile.items():
        optimisation.set_shape(name, low, opt, high)
    config.add_optimization_profile(optimisation)
    serialized = builder.build_serialized_network(network, config) if parsed else None
    (folder / BUILD_LOG_FILE).write_text("\n".join(errors + log.lines) + "\n")
    if serialized is None:
        raise EngineBuildFailed(f"TensorRT {trt.__version__} could not build {onnx_path.name}: "
                                + " | ".join((errors + log.errors)[-5:]))  # fmt: skip
    (folder / ENGINE_FILE).write_bytes(bytes(serialized))
    record = {
        "engine": ENGINE_FILE, "build_log": BUILD_LOG_FILE, "tensorrt_version": str(trt.__version__),
        "strongly_typed": strongly_typed, "precision": "fp16" if fp16 and not strongly_typed else "fp32",
        "plugin_libraries": [str(Path(library).resolve()) for library in plugin_libraries],
        "profile": {name: [list(shape) for shape in shapes] for name, shapes in profile.items()},
    }  # fmt: skip
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def _build_logger(trt):
    """A `trt.ILogger` that keeps the build's messages (INFO and above) for tensorrt_build.log."""

    class BuildLog(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.lines, self.errors = [], []

        def log(self, severity, msg):
            if int(severity) <= int(trt.ILogger.Severity.INFO):
                self.lines.append(f"[{severity.name}] {msg}")
            if int(severity) <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(msg)

    return BuildLog()
