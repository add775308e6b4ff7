"""Sparse convolution benchmark: one training step of a 4-level sparse UNet (16-32-64-128) on two real
HDL-64E scans (~110k voxels), native backend vs spconv's CPU build in the same run, plus kernel-map build time.

Prints one JSON line. spconv's CPU build is only correct on one thread, so it is timed on one thread (the
figure to compare with) and, for reference, on the benchmark's thread count (its results are then wrong).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
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
KITTI_GRID = VoxelGrid((0.0, -40.0, -3.0, 70.4, 40.0, 1.0), (0.05, 0.05, 0.05))


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


def train_step_seconds(model, voxels, shape, steps: int) -> float:
    """Median wall time of forward + backward + optimizer step (kernel maps built inside, as in training)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    features = torch.from_numpy(voxels.features)
    coords = torch.from_numpy(voxels.coords)
    times = []
    for _ in range(steps + 1):  # the first step warms up allocators and caches
        start = time.perf_counter()
        out = model(SparseTensor(features, coords, shape, voxels.batch_size))
        loss = out.features.square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


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
    result.update(time_kernel_maps(voxels, shape, len(config.channels), repeats=3))
    result["native_s"] = train_step_seconds(model, voxels, shape, args.steps)
    result["native_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if spconv_available():
        set_backend(model, "spconv")
        result["spconv_cpu_s"] = _spconv_seconds(model, voxels, shape, args.steps, threads=1)
        result["spconv_cpu_threads_s"] = _spconv_seconds(model, voxels, shape, args.steps, threads=args.threads)
        result["native_over_spconv"] = result["native_s"] / result["spconv_cpu_s"]
        result["native_over_spconv_threads"] = result["native_s"] / result["spconv_cpu_threads_s"]
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))


def _spconv_seconds(model, voxels, shape, steps: int, threads: int) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return train_step_seconds(model, voxels, shape, steps)
    finally:
        torch.set_num_threads(previous)


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
