"""Import each given module first, each in a process of its own; print one JSON line per module.

Every child is a fork of this interpreter taken after it loaded the heavy third-party libraries (torch, onnx,
onnxruntime, ...) but before any `spot` module, so each module is the entry point of its own import: an import
cycle fails whichever of its modules it is entered from, and the run costs one interpreter start instead of one
per module. A module whose import needs an optional dependency that is absent reports `missing`.

    python tests/import_each.py spot.trainer.config spot.export.exporter ...
    {"module": "spot.trainer.config", "status": "ok" | "missing" | "error", "detail": "..."}
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing
import sys
import traceback

PRELOAD = ("numpy", "torch", "onnx", "onnxruntime", "omegaconf", "yaml", "click", "PIL.Image", "tqdm")
# Top-level packages of the optional extras (ros, spconv, cpu, tensorrt): a module may need one that is absent.
OPTIONAL = {"rclpy", "sensor_msgs", "std_msgs", "visualization_msgs", "diagnostic_msgs", "builtin_interfaces",
            "geometry_msgs", "ament_index_python", "rosbags", "mcap", "spconv", "spconv_triton", "tensorrt", "triton",
            "cuda", "numba", "threadpoolctl"}  # fmt: skip


def import_first(module: str) -> dict:
    """Import `module` in this (fresh) process; no `spot` module may be loaded before it."""
    loaded = sorted(name for name in sys.modules if name == "spot" or name.startswith("spot."))
    if loaded:
        return {"module": module, "status": "error", "detail": f"not a fresh process: {loaded} already loaded"}
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        if top in OPTIONAL:
            return {"module": module, "status": "missing", "detail": f"needs {top} (an optional dependency)"}
        return {"module": module, "status": "error", "detail": traceback.format_exc()}
    except Exception:  # any failure to import is the finding
        return {"module": module, "status": "error", "detail": traceback.format_exc()}
    return {"module": module, "status": "ok", "detail": ""}


def main(modules: list[str]) -> None:
    for name in PRELOAD:
        with contextlib.suppress(ImportError):  # absent ones are simply not preloaded
            importlib.import_module(name)
    # maxtasksperchild=1: every module gets a new fork of this process, never a worker that imported another.
    with multiprocessing.get_context("fork").Pool(processes=2, maxtasksperchild=1) as pool:
        for result in pool.imap_unordered(import_first, modules):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
