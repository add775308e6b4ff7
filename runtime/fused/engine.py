"""`FusedEngine`: a `fused`-flavour graph run step by step: its `spot.fused::SparseConv` nodes by the compiled
kernels, every run of standard ONNX nodes between them by an onnxruntime session of its own.

At load, the graph (a topologically sorted node list) is cut at the sparse nodes: each maximal run of
standard nodes becomes a sub-model (its inputs are what it reads from earlier steps or the feeds, its outputs
what later steps or the graph outputs read) and a `Relu` that is the only reader of a sparse node's output is
folded into that node's kernel, and a channel `Concat` whose only reader is a sparse node into that node's
step (a compiled copy: a third of a session's time). For the networks spot exports that leaves one session:
the head (segmentation) or the BEV densify + detection head. Sessions keep onnxruntime's threads from
spinning between runs, so the cores are free for the kernels in between.

Thread counts: the kernels run on `num_threads` numba threads (default: every core); the BLAS calls inside
them are limited to one thread each while the engine runs (threadpoolctl), since the parallelism is across
tiles. The first `run` of a process costs nothing extra: the kernels are compiled (or loaded from numba's
on-disk cache) and warmed up here, at load.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from threadpoolctl import ThreadpoolController

from ..engines import cpu_providers, one_line, onnxruntime_errors, session_options
from ..errors import ArtifactError, SpotInputError
from .kernels import concat_columns, sparse_conv

FUSED_DOMAIN = "spot.fused"  # what export.sparse_ops writes


@dataclass
class _ConvStep:
    """One `spot.fused::SparseConv` node with its constant weights in kernel layout."""

    features: str
    neighbors: str
    kernel: np.ndarray  # float32 (K, C_in, C_out), contiguous
    bias: np.ndarray  # float32 (C_out,)
    output: str
    relu: bool = False
    skip: str | None = None  # channels concatenated after `features` first (a folded skip `Concat`)

    def run(self, values: dict[str, np.ndarray]) -> None:
        features = values[self.features]
        if self.skip:
            features = concat_columns(features, values[self.skip])
        values[self.output] = sparse_conv(features, self.kernel, self.bias, values[self.neighbors], self.relu)

    @property
    def reads(self) -> set[str]:
        return {self.features, self.neighbors} | ({self.skip} if self.skip else set())


class _SessionStep:
    """A run of standard nodes as an onnxruntime session: reads `inputs` from the values, writes `outputs`."""

    def __init__(self, model: onnx.ModelProto, inputs: list[str], outputs: list[str], options, providers):
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=providers)
        self.inputs, self.outputs = inputs, outputs

    def run(self, values: dict[str, np.ndarray]) -> None:
        try:
            results = self.session.run(self.outputs, {name: values[name] for name in self.inputs})
        except onnxruntime_errors() as error:
            raise ArtifactError(f"onnxruntime cannot run a dense part of the model: {one_line(error)}") from error
        values.update(zip(self.outputs, results, strict=True))


class FusedEngine:
    """The `Engine` of fused-flavour artifacts (see the module docstring)."""

    def __init__(self, model_path: Path, providers: Sequence[str] | None = None, num_threads: int | None = None):
        if num_threads is not None and num_threads < 1:
            raise SpotInputError(f"num_threads must be >= 1, got {num_threads}")
        self.num_threads = min(num_threads or os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
        try:
            model = onnx.load(str(model_path))
        except Exception as error:  # protobuf's DecodeError and onnx's own: the file is not a model
            raise ArtifactError(f"onnx cannot read the model (corrupt or truncated?): {one_line(error)}",
                                source=model_path) from error  # fmt: skip
        graph = model.graph
        constants = {tensor.name: tensor for tensor in graph.initializer}  # grows by the aliases of initializers
        self.input_names = tuple(i.name for i in graph.input if i.name not in constants)
        self.output_names = tuple(o.name for o in graph.output)
        options = session_options(num_threads, spinning=False)
        self._steps = _plan_steps(model, constants, options, cpu_providers(providers))
        _warm_up()
        self._blas = ThreadpoolController()  # after the warm-up: numba's BLAS (scipy's) is loaded by then

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = dict(feeds)
        numba.set_num_threads(self.num_threads)  # numba's setting is per calling thread
        with self._blas.limit(limits=1, user_api="blas"):
            for step in self._steps:
                step.run(values)
        return {name: values[name] for name in self.output_names}


def _plan_steps(model: onnx.ModelProto, constants: dict, options, providers) -> list:
    """The graph as conv steps and session steps, in order (see the module docstring)."""
    graph = model.graph
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    folded = _foldable_concats(graph, readers, constants)
    steps: list = []
    pending: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in constants:  # the exporter's shared initializers
            constants[node.output[0]] = _renamed(constants[node.input[0]], node.output[0])
        elif node.output[0] in folded:
            continue  # the convolution that reads it concatenates its inputs itself
        elif node.domain == FUSED_DOMAIN:
            step = _conv_step(node, constants, folded)
            steps += [pending, step] if pending else [step]
            pending = []
        elif (node.op_type == "Relu" and steps and not pending and isinstance(steps[-1], _ConvStep)
              and steps[-1].output == node.input[0] and readers[node.input[0]] == 1):  # fmt: skip
            steps[-1].relu, steps[-1].output = True, node.output[0]
        else:
            pending.append(node)
    if pending:
        steps.append(pending)
    needed_later = _names_read_after(steps, graph)
    types = _element_types(model)
    return [
        _session_step(model, nodes, constants, needed_later[index], types, options, providers)
        if isinstance(nodes, list) else nodes
        for index, nodes in enumerate(steps)
    ]  # fmt: skip


def _renamed(tensor: onnx.TensorProto, name: str) -> onnx.TensorProto:
    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    copy.name = name
    return copy


def _foldable_concats(graph: onnx.GraphProto, readers: dict[str, int], constants: dict) -> dict[str, tuple[str, str]]:
    """The two-input channel `Concat`s of computed values whose only reader is a sparse node's features input
    (the UNet's skip connections), by output name: that node's step concatenates them itself."""
    computed = {i.name for i in graph.input} | {
        name for node in graph.node for name in node.output
        if not (node.op_type == "Identity" and node.input[0] in constants)
    }  # fmt: skip
    concats = {
        node.output[0]: (node.input[0], node.input[1])
        for node in graph.node
        if node.op_type == "Concat" and len(node.input) == 2 and set(node.input) <= computed
        and any(a.name == "axis" and helper.get_attribute_value(a) in (1, -1) for a in node.attribute)
    }  # fmt: skip
    graph_outputs = {o.name for o in graph.output}
    return {
        node.input[0]: concats[node.input[0]]
        for node in graph.node
        if node.domain == FUSED_DOMAIN and node.input[0] in concats
        and readers[node.input[0]] == 1 and node.input[0] not in graph_outputs
    }  # fmt: skip


def _conv_step(node: onnx.NodeProto, constants: dict, folded: dict[str, tuple[str, str]]) -> _ConvStep:
    features, neighbors, kernel_name, *bias_name = node.input
    if kernel_name not in constants or (bias_name and bias_name[0] not in constants):
        raise SpotInputError(f"sparse node {node.name!r}: its kernel and bias must be graph initializers")
    # writable copies: numba compiles read-only arrays (what to_array returns) as another type
    kernel = np.array(numpy_helper.to_array(constants[kernel_name]), dtype=np.float32, order="C")
    bias = (np.array(numpy_helper.to_array(constants[bias_name[0]]), dtype=np.float32)
            if bias_name and bias_name[0] else np.zeros(kernel.shape[2], dtype=np.float32))  # fmt: skip
    features, skip = folded.get(features, (features, None))
    return _ConvStep(features, neighbors, kernel, bias, node.output[0], skip=skip)


def _names_read_after(steps: list, graph: onnx.GraphProto) -> list[set[str]]:
    """Per step, the value names that later steps or the graph outputs read."""
    later = {o.name for o in graph.output}
    result: list[set[str]] = []
    for step in reversed(steps):
        result.append(set(later))
        if isinstance(step, _ConvStep):
            later |= step.reads
        else:
            later |= {name for node in step for name in node.input if name}
    return result[::-1]


def _element_types(model: onnx.ModelProto) -> dict[str, int]:
    """ONNX element type of every value whose type is known (inputs, declared and inferred values)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {t.name: t.data_type for t in graph.initializer}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        if value.type.tensor_type.elem_type:
            types[value.name] = value.type.tensor_type.elem_type
    return types


def _session_step(model, nodes, constants, needed_later, types, options, providers) -> _SessionStep:
    produced = {name for node in nodes for name in node.output}
    read = [name for node in nodes for name in node.input if name]
    inputs = list(dict.fromkeys(n for n in read if n not in produced and n not in constants))
    outputs = [name for node in nodes for name in node.output if name in needed_later]
    graph = helper.make_graph(
        nodes,
        "spot_fused_segment",
        [helper.make_tensor_value_info(n, types.get(n, onnx.TensorProto.FLOAT), None) for n in inputs],
        [helper.make_tensor_value_info(n, types.get(n, onnx.TensorProto.FLOAT), None) for n in outputs],
        initializer=[constants[n] for n in dict.fromkeys(read) if n in constants],
    )
    opsets = [opset for opset in model.opset_import if opset.domain != FUSED_DOMAIN]
    segment = helper.make_model(graph, opset_imports=opsets, ir_version=model.ir_version)
    return _SessionStep(segment, inputs, outputs, options, providers)


def _warm_up() -> None:
    """Compile (or load from numba's cache) the kernels with the argument types real layers use."""
    neighbors = np.array([[0, -1], [1, 0]], dtype=np.int64)
    features = concat_columns(np.ones((2, 1), np.float32), np.ones((2, 1), np.float32))
    sparse_conv(features, np.ones((2, 2, 1), np.float32), np.zeros(1, np.float32), neighbors, True)
