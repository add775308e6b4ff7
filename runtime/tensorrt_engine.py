"""`Perception.load(dir, engine="tensorrt")`: the artifact's serialised TensorRT engine, run with TensorRT's
Python runtime and cuda-python (no torch).

`spot-export --trt` writes three files beside model.onnx: `model.engine` (built for the GPU and TensorRT version
of the machine that built it), `tensorrt_build.log`, and `tensorrt.json` (TensorRT version, precision, plugin
libraries, optimisation profile). Engines with plugins (the autoware flavour) load the plugin libraries the
record names before deserialising. Every output goes through an output allocator, so outputs whose size only the
engine knows (voxel sets made by Autoware's GetIndicePairsImplicitGemm) come back at their real size.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np

from .errors import SpotInputError

ENGINE_FILE = "model.engine"
BUILD_LOG_FILE = "tensorrt_build.log"
RECORD_FILE = "tensorrt.json"
MIN_TENSORRT_MAJOR = 10
TENSORRT_MISSING = (
    "TensorRT >= 10 is not installed here: `pip install tensorrt` on the machine whose NVIDIA GPU will run the "
    "engine (x86 + RTX or datacenter GPU), or use the TensorRT of JetPack 6 on a Jetson Orin; an engine runs only "
    "on the kind of GPU and the TensorRT version it was built with"
)


def import_tensorrt():
    """The `tensorrt` module (>= 10), or a `SpotInputError` saying what to install."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as error:
        raise SpotInputError(TENSORRT_MISSING) from error
    if tensorrt_major(trt) < MIN_TENSORRT_MAJOR:
        raise SpotInputError(f"TensorRT >= {MIN_TENSORRT_MAJOR} is needed (IPluginV3, size tensors); this machine has "
                             f"{trt.__version__}: `pip install -U tensorrt`, or JetPack 6 on a Jetson")  # fmt: skip
    return trt


def tensorrt_major(trt) -> int:
    return int(str(trt.__version__).split(".")[0])


def read_record(artifact_dir: Path) -> dict:
    """tensorrt.json of an artifact with an engine, or a `SpotInputError` saying how to make one."""
    if not (artifact_dir / ENGINE_FILE).is_file() or not (artifact_dir / RECORD_FILE).is_file():
        raise SpotInputError(f"has no {ENGINE_FILE}: build one with `spot-export --trt` on the machine that will run "
                             "it", source=artifact_dir)  # fmt: skip
    return json.loads((artifact_dir / RECORD_FILE).read_text())


def _cuda_runtime():
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart as runtime  # older cuda-python
        except ImportError as error:
            raise SpotInputError("the TensorRT engine needs cuda-python: pip install cuda-python") from error
    return runtime


def _check(result):
    """cuda-python returns (error, *values): raise on an error, return the value(s)."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        raise RuntimeError(f"CUDA error {error}")
    return values[0] if len(values) == 1 else values


class TensorRTEngine:
    """An artifact's model.engine behind the `Engine` interface (feeds and results are host numpy arrays)."""

    def __init__(self, artifact_dir: Path):
        record = read_record(artifact_dir)
        trt, self.cuda = import_tensorrt(), _cuda_runtime()
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        for library in record.get("plugin_libraries", []):
            if not Path(library).is_file():
                raise SpotInputError(f"the engine needs the plugin library {library}, which is not there",
                                     source=artifact_dir / RECORD_FILE)  # fmt: skip
            runtime.get_plugin_registry().load_library(str(library))
        self.engine = runtime.deserialize_cuda_engine((artifact_dir / ENGINE_FILE).read_bytes())
        if self.engine is None:
            raise SpotInputError(f"{ENGINE_FILE} does not load with TensorRT {trt.__version__} on this GPU (built with "
                                 f"{record.get('tensorrt_version')}): build it again with spot-export --trt here",
                                 source=artifact_dir)  # fmt: skip
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {name: self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT for name in names}
        self.input_names = tuple(name for name in names if is_input[name])
        self.output_names = tuple(name for name in names if not is_input[name])
        self.dtypes = {name: np.dtype(trt.nptype(self.engine.get_tensor_dtype(name))) for name in names}
        self.stream = _check(self.cuda.cudaStreamCreate())
        self.inputs = _DeviceBuffers(self.cuda)
        self.outputs = _output_allocator(trt, self.cuda)
        for name in self.output_names:
            self.context.set_output_allocator(name, self.outputs)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        to_device, to_host = (self.cuda.cudaMemcpyKind.cudaMemcpyHostToDevice,
                              self.cuda.cudaMemcpyKind.cudaMemcpyDeviceToHost)  # fmt: skip
        arrays = {name: np.ascontiguousarray(feeds[name], dtype=self.dtypes[name]) for name in self.input_names}
        for name, array in arrays.items():
            self.context.set_input_shape(name, array.shape)
            pointer = self.inputs.ensure(name, array.nbytes)
            _check(self.cuda.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, to_device, self.stream))
            self.context.set_tensor_address(name, pointer)
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT could not run the engine (see the TensorRT log above)")
        _check(self.cuda.cudaStreamSynchronize(self.stream))
        results = {}
        for name in self.output_names:
            host = np.empty(self.outputs.shapes[name], dtype=self.dtypes[name])
            device = self.outputs.buffers.pointers.get(name)
            if host.nbytes:
                _check(self.cuda.cudaMemcpy(host.ctypes.data, device, host.nbytes, to_host))
            results[name] = host
        return results


class _DeviceBuffers:
    """One device buffer per tensor name, grown (never shrunk) to the largest size asked for."""

    def __init__(self, cuda):
        self.cuda, self.pointers, self.sizes = cuda, {}, {}

    def ensure(self, name: str, nbytes: int) -> int:
        if self.sizes.get(name, -1) < nbytes:
            if name in self.pointers:
                _check(self.cuda.cudaFree(self.pointers[name]))
            self.pointers[name] = int(_check(self.cuda.cudaMalloc(max(nbytes, 1))))
            self.sizes[name] = nbytes
        return self.pointers[name]


def _output_allocator(trt, cuda):
    """A `trt.IOutputAllocator` that keeps each output in a `_DeviceBuffers` slot and records its final shape."""

    class OutputAllocator(trt.IOutputAllocator):
        def __init__(self):
            trt.IOutputAllocator.__init__(self)
            self.buffers, self.shapes = _DeviceBuffers(cuda), {}

        def reallocate_output(self, tensor_name, memory, size, alignment):
            return self.buffers.ensure(tensor_name, size)

        def reallocate_output_async(self, tensor_name, memory, size, alignment, stream):
            return self.buffers.ensure(tensor_name, size)

        def notify_shape(self, tensor_name, shape):
            self.shapes[tensor_name] = tuple(shape)

    return OutputAllocator()
