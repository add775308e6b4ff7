"""Inference engines behind one small interface, chosen by name from the explicit `ENGINES` registry:
onnxruntime (portable artifacts, CPU or any onnxruntime provider) and tensorrt (the artifact's model.engine that
`spot-export --trt` built, either flavour; `tensorrt_engine.py`).

An engine runs the artifact's graph: `input_names`, `output_names`, `run(feeds) -> {output name: array}`.
The runtime builds the feeds (voxels, kernel maps) itself, so an engine knows nothing about LiDAR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .artifact import Artifact
from .errors import ArtifactError, SpotInputError


class Engine(Protocol):
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def session_options(num_threads: int | None, spinning: bool = True):
    """onnxruntime options: intra-op threads = `num_threads` (default: onnxruntime's choice), inter-op 1,
    sequential execution, every graph optimisation. `spinning=False` lets idle pool threads sleep at once
    (for sessions that share the cores with other compute between their runs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if num_threads is not None:
        if num_threads < 1:
            raise SpotInputError(f"num_threads must be >= 1, got {num_threads}")
        options.intra_op_num_threads = int(num_threads)
    options.inter_op_num_threads = 1  # the graph is a chain: nodes run one after another, each on all threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4  # failures surface as exceptions, reported in one line; no duplicate log
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def cpu_providers(providers: Sequence[str] | None) -> list[str]:
    """The requested onnxruntime providers (default: CPU), refused with the available ones if absent."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = list(providers or ["CPUExecutionProvider"])
    unknown = [p for p in providers if p not in available]
    if unknown:
        raise SpotInputError(f"onnxruntime providers {unknown} are not available here; available: {available}")
    return providers


class OnnxRuntimeEngine:
    """onnxruntime session (CPU by default; `providers` e.g. ["CUDAExecutionProvider", "CPUExecutionProvider"])."""

    def __init__(self, model_path: Path, providers: Sequence[str] | None = None, num_threads: int | None = None):
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(
                str(model_path), session_options(num_threads), providers=cpu_providers(providers)
            )
        except onnxruntime_errors() as error:
            raise ArtifactError(f"onnxruntime cannot load the model (corrupt or truncated?): {one_line(error)}",
                                source=model_path) from error  # fmt: skip
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))
        except onnxruntime_errors() as error:
            raise ArtifactError(f"onnxruntime cannot run the model on the inputs spot.json describes (spot.json "
                                f"edited, or from another export?): {one_line(error)}") from error  # fmt: skip


def onnxruntime_errors() -> tuple[type[Exception], ...]:
    """What onnxruntime raises for a model it cannot load or run (its own exception types, not RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (RuntimeError, state.Fail, state.InvalidArgument, state.InvalidGraph, state.InvalidProtobuf,
            state.NoSuchFile, state.NotImplemented, state.RuntimeException)  # fmt: skip


def one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _onnxruntime(artifact: Artifact, providers, num_threads) -> Engine:
    if artifact.flavour == "fused":
        from . import fused

        fused.require(f"{artifact.path}: a 'fused'-flavour artifact")
        from .fused.engine import FusedEngine

        return FusedEngine(artifact.model_path, providers, num_threads)
    if artifact.flavour != "portable":
        raise SpotInputError(
            f"is a {artifact.flavour!r}-flavour artifact: its sparse layers are Autoware's TensorRT plugin ops, which "
            "onnxruntime has no kernels for; run it with engine='tensorrt' (after `spot-export --trt`), or export "
            "with `spot-export --flavour portable` to run it in onnxruntime",
            source=artifact.path,
        )
    return OnnxRuntimeEngine(artifact.model_path, providers, num_threads)


def _tensorrt(artifact: Artifact, providers, num_threads) -> Engine:
    from .tensorrt_engine import TensorRTEngine  # TensorRT and cuda-python are imported only when asked for

    return TensorRTEngine(Path(artifact.path or "."))


ENGINES: dict[str, Callable[[Artifact, Sequence[str] | None, int | None], Engine]] = {
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
}


def create_engine(name: str, artifact: Artifact, providers=None, num_threads: int | None = None) -> Engine:
    if name not in ENGINES:
        raise SpotInputError(f"unknown engine {name!r}; this runtime has {sorted(ENGINES)}")
    return ENGINES[name](artifact, providers, num_threads)
