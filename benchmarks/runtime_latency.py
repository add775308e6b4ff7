"""Runtime latency: an exported segmentation model (unet_small) on a 120k-point real KITTI scan, end to end, in
the fused flavour, the portable flavour and PyTorch eager, in one run.

End to end = points array -> per-point labels and scores: voxelization, kernel maps, network, post-processing
(the file read is left out of all three). The model is the default segmentation model (configs/model/
unet_small.yaml with a linear head, seeded random weights: latency does not depend on their values) on a
+-51.2 m x/y, -3..1.8 m z grid of 0.2 m voxels; it is exported in both flavours (each verified on the scan) to
a temporary folder. After warm-up, every round runs the three once each, in an order that rotates from round
to round (the machine may be shared: load hits them alike); all use `--threads` threads. The fused flavour is
skipped with a note where the cpu extra is not installed.

Cold start (`--cold-start`): fresh processes load the fused artifact and run the scan once, first with an empty
numba cache (compilation) and then with the cache that the first one wrote; each reports import + load, and
the first call.

Prints one JSON line: every run's end-to-end and per-stage times per path (`runs`), median / p90 per path, the
stage medians, the ratios to eager, label agreement between the flavours, the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spot.export.exporter import ExportOptions, export_checkpoint, load_task
from spot.runtime import Perception, fused, voxelize
from spot.runtime.io import read_sample
from spot.trainer.config import load_config, to_yaml
from spot.trainer.engine.checkpoint import save_checkpoint
from spot.trainer.engine.run import build_task, experiment_info
from spot.trainer.sparse import SparseTensor

REPO = Path(__file__).resolve().parents[1]
SCAN = REPO.parent / "shared/data/lidar/kitti_object/training/velodyne/000001.bin"  # 120,268 points
GRID = "voxelization.point_cloud_range=[-51.2,-51.2,-3.0,51.2,51.2,1.8]"
WARM_UP_ROUNDS = 3
COLD_START = """
import sys, time
start = time.perf_counter()
import numpy as np
from spot.runtime import Perception
from spot.runtime.io import read_sample
points = read_sample(sys.argv[2]).scan.points
loaded = time.perf_counter()
perception = Perception.load(sys.argv[1], num_threads=int(sys.argv[3]))
ready = time.perf_counter()
perception(points)
done = time.perf_counter()
print((ready - loaded) * 1e3, (done - ready) * 1e3, (loaded - start) * 1e3)
"""


def make_checkpoint(folder: Path) -> Path:
    config = load_config(REPO / "configs/finetune/seg-unet-sim-vlp16.yaml", [GRID, "data.val=null"])
    info = experiment_info(config)
    torch.manual_seed(0)
    task = build_task(config, info)
    meta = {"stage": "finetune", "step": 0, "dataset_info": info.to_dict()}
    return save_checkpoint(folder, "step_0000000", task.state_dict(), {}, to_yaml(config), meta)


def eager_labels(task, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same end-to-end work in PyTorch eager: voxelize, forward (torch kernel maps), labels per point."""
    voxels = voxelize(task.info.grid, points)
    x = SparseTensor.from_voxels(voxels.features, voxels.coords, task.info.grid.grid_shape, 1)
    with torch.no_grad():
        probabilities = torch.softmax(task.infer(x)[0], dim=1)
        scores, labels = probabilities.max(dim=1)
    index = torch.from_numpy(voxels.point_to_voxel).clamp(min=0)
    inside = voxels.point_to_voxel >= 0
    return np.where(inside, labels[index].numpy(), -1), np.where(inside, scores[index].numpy(), 0.0)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 2), "p90": round(float(np.percentile(values, 90)), 2)}


def timed_runs(paths: dict, rounds: int, gap_s: float) -> dict[str, list[dict[str, float]]]:
    """Per path, one timing dict per round (after warm-up): `total` and, for spot.runtime, its stages; `gap_s`
    idle seconds before each run."""
    runs = {name: [] for name in paths}
    names = list(paths)
    for round_index in range(WARM_UP_ROUNDS + rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:  # the order rotates: no path always runs first
            time.sleep(gap_s)
            start = time.perf_counter()
            timings = paths[name]()
            total = (time.perf_counter() - start) * 1e3
            if round_index >= WARM_UP_ROUNDS:
                runs[name].append({"total": round(total, 2), **{k: round(v, 2) for k, v in timings.items()
                                                               if k != "total"}})  # fmt: skip
    return runs


def cold_start(artifact: Path, scan: Path, threads: int) -> dict[str, float]:
    """Fresh processes on the fused artifact: an empty numba cache (compiles), then the cache it wrote."""
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for state in ("empty_cache", "warm_cache"):
            command = [sys.executable, "-c", COLD_START, str(artifact), str(scan), str(threads)]
            output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
            load_ms, first_call_ms, imports_ms = (float(v) for v in output.split())
            result[state] = {"imports_ms": round(imports_ms, 1), "load_ms": round(load_ms, 1),
                             "first_call_ms": round(first_call_ms, 1)}  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scan", type=Path, default=SCAN)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gap-ms", type=float, default=50.0,
                        help="Idle time before each run: scans arrive every 50-100 ms (10-20 Hz), and the idle "
                             "time lets the previous path's spinning thread pools go to sleep.")  # fmt: skip
    parser.add_argument("--cold-start", action="store_true", help="Also time fresh processes (numba cache).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sample = read_sample(args.scan)
    points = sample.scan.points
    flavours = ["portable"] + (["fused"] if fused.available() else [])
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint(Path(tmp) / "checkpoints")
        reports, perceptions = {}, {}
        for flavour in flavours:
            folder = Path(tmp) / flavour
            reports[flavour] = export_checkpoint(checkpoint, folder, [sample], ExportOptions(flavour))
            perceptions[flavour] = Perception.load(folder, num_threads=args.threads)
        task, _, _ = load_task(checkpoint)
        paths = {flavour: (lambda p=perception: p(points).timings) for flavour, perception in perceptions.items()}

        def eager() -> dict:
            eager_labels(task, points)
            return {}  # no stages

        paths["pytorch_eager"] = eager
        runs = timed_runs(paths, args.runs, args.gap_ms / 1e3)
        labels = {flavour: perception(points).labels for flavour, perception in perceptions.items()}
        with_cold_start = args.cold_start and "fused" in perceptions
        cold = cold_start(Path(tmp) / "fused", args.scan, args.threads) if with_cold_start else None
    medians = {name: float(np.median([run["total"] for run in values])) for name, values in runs.items()}
    stages = {flavour: [k for k in runs[flavour][0] if k != "total"] for flavour in flavours}
    agreement = float((labels["fused"] == labels["portable"]).mean()) if "fused" in labels else None
    line = {
        "benchmark": "runtime_latency",
        "scan": args.scan.name,
        "points": len(points),
        "voxels": reports["portable"].checks[0].voxels,
        "model": "unet_small + linear head, 0.2 m voxels, x/y +-51.2 m, z -3..1.8 m",
        "threads": args.threads,
        "runs": args.runs,
        "gap_ms": args.gap_ms,
        "fused": "fused" in flavours or "skipped: the cpu extra is not installed",
        "end_to_end_ms": {name: summary([run["total"] for run in values]) for name, values in runs.items()},
        "stages_median_ms": {
            flavour: {k: round(float(np.median([run[k] for run in runs[flavour]])), 2) for k in stages[flavour]}
            for flavour in flavours
        },
        "ratio_over_eager": {flavour: round(medians[flavour] / medians["pytorch_eager"], 3) for flavour in flavours},
        "label_agreement_fused_portable": agreement,
        "cold_start": cold,
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "every_run_ms": runs,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
