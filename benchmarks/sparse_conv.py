"""Sparse convolution benchmark: one training step of a 4-level sparse UNet (16-32-64-128) on two real
HDL-64E scans (~110k voxels), native backend vs spconv's CPU build in the same run, plus kernel-map build time.

Prints one JSON line: best-of-N step times (steps of the backends interleaved, since the machine may be
shared), their ratio, peak memory and the time to build all the UNet's kernel maps with numpy and torch.
spconv's CPU build is only correct on one thread, so it is timed on one thread (the figure to compare with)
and, for reference, on the benchmark's thread count (its results are then wrong); native is also timed on one
thread, the comparison that load from other processes on a shared machine distorts least.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from spot.runtime import VoxelGrid, voxelize
from spot.runtime.io.binary import read_kitti_bin
from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map
from spot.trainer.models.backbones import SparseUNet, SparseUNetConfig
from spot.trainer.sparse import SparseTensor, set_backend
from spot.trainer.sparse import build_kernel_map as build_kernel_map_torch
from spot.trainer.sparse import inverse_kernel_map as inverse_kernel_map_torch
from spot.trainer.sparse.spconv_shim import spconv_available

DEFAULT_SCANS = Path(__file__).resolve().parents[1].parent / "shared/data/lidar/kitti_object/training/velodyne"
KITTI_GRID = VoxelGrid((0.0, -40.0, -3.0, 70.4, 40.0, 1.0), (0.03, 0.03, 0.03))  # ~110k voxels from two scans


def load_voxels(folder: Path, grid: VoxelGrid):
    scans = [read_kitti_bin(path).points for path in sorted(folder.glob("*.bin"))[:2]]
    return voxelize(grid, scans)


def unet_kernel_maps(coords, shape, levels: int, build, inverse) -> None:
    """Every map a `levels`-level UNet builds: a submanifold map per level, a 2x2x2 down map and its inverse."""
    for level in range(levels):
        if level:
            down = build(coords, shape, ConvGeometry.make(2, 2))
            inverse(down)
            coords, shape = down.out_coords, down.out_spatial_shape
        build(coords, shape, ConvGeometry.make(3, subm=True))


def time_kernel_maps(voxels, shape, levels: int, repeats: int) -> dict:
    coords_t = torch.from_numpy(voxels.coords)
    numpy_s = _best(lambda: unet_kernel_maps(voxels.coords, shape, levels, build_kernel_map, inverse_kernel_map),
                    repeats)  # fmt: skip
    torch_s = _best(lambda: unet_kernel_maps(coords_t, shape, levels, build_kernel_map_torch,
                                             inverse_kernel_map_torch), repeats)  # fmt: skip
    return {"kernel_maps_numpy_ms": 1000 * numpy_s, "kernel_maps_torch_ms": 1000 * torch_s}


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def train_step(model, optimizer, features, coords, shape, batch_size: int) -> float:
    """Wall time of forward + backward + optimizer step (kernel maps built inside, as in training)."""
    start = time.perf_counter()
    out = model(SparseTensor(features, coords, shape, batch_size))
    loss = out.features.square().mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def time_train_steps(models: dict, threads: dict, voxels, shape, steps: int) -> dict:
    """Best step time per model, the models' steps interleaved so that load from other processes on a shared
    machine hits them alike; the first step of each warms allocators and caches and is not counted."""
    features, coords = torch.from_numpy(voxels.features), torch.from_numpy(voxels.coords)
    optimizers = {name: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for name, m in models.items()}
    times = {name: [] for name in models}
    first_peak_mb = None  # the peak after the first model's first step is that model's own (plus the process)
    for _ in range(steps + 1):
        for name, model in models.items():
            torch.set_num_threads(threads[name])
            times[name].append(train_step(model, optimizers[name], features, coords, shape, voxels.batch_size))
            first_peak_mb = first_peak_mb or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {f"{name}_s": min(values[1:]) for name, values in times.items()} | {"native_peak_rss_mb": first_peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=Path, default=DEFAULT_SCANS, help="folder of KITTI .bin scans (first two)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    voxels = load_voxels(args.scans, KITTI_GRID)
    shape = KITTI_GRID.grid_shape
    config = SparseUNetConfig(in_channels=voxels.features.shape[1], channels=(16, 32, 64, 128))
    model = SparseUNet(config)
    result = {"benchmark": "sparse_conv_unet_train_step", "voxels": len(voxels), "threads": args.threads,
              "channels": list(config.channels)}  # fmt: skip
    result.update(time_kernel_maps(voxels, shape, len(config.channels), repeats=5))
    models, threads = {"native": model, "native_1thread": copy.deepcopy(model)}, {"native": args.threads,
                                                                                  "native_1thread": 1}  # fmt: skip
    if spconv_available():  # spconv's CPU build is right on one thread only; timed on both for reference
        for name, count in (("spconv_cpu", 1), ("spconv_cpu_threads", args.threads)):
            models[name], threads[name] = set_backend(copy.deepcopy(model), "spconv"), count
    result.update(time_train_steps(models, threads, voxels, shape, args.steps))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "spconv_cpu_s" in result:
        result["native_over_spconv"] = result["native_s"] / result["spconv_cpu_s"]
        result["native_over_spconv_threads"] = result["native_s"] / result["spconv_cpu_threads_s"]
        result["native_over_spconv_1thread"] = result["native_1thread_s"] / result["spconv_cpu_s"]
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
