"""Runtime latency: an exported segmentation model (unet_small) on a 120k-point real KITTI scan, end to end,
against the same model in PyTorch eager.

End to end = points array -> per-point labels and scores: voxelization, kernel maps, network, post-processing
(the file read is left out of both). The model is the default segmentation model (configs/model/unet_small.yaml
with a linear head, seeded random weights: latency does not depend on their values) on a +-51.2 m x/y,
-3..1.8 m z grid of 0.2 m voxels; it is exported (portable flavour, verified on the scan) to a temporary folder.
Runs of the two alternate (the machine may be shared) after warm-up; both use `--threads` threads.

Prints one JSON line: median / p90 of both, the runtime's per-stage medians and the ratio runtime / eager.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spot.export.exporter import ExportOptions, export_checkpoint
from spot.runtime import Perception, voxelize
from spot.runtime.io import read_sample
from spot.trainer.config import load_config, to_yaml
from spot.trainer.engine.checkpoint import save_checkpoint
from spot.trainer.engine.run import build_task, experiment_info
from spot.trainer.sparse import SparseTensor

REPO = Path(__file__).resolve().parents[1]
SCAN = REPO.parent / "shared/data/lidar/kitti_object/training/velodyne/000001.bin"  # 120,268 points
GRID = "voxelization.point_cloud_range=[-51.2,-51.2,-3.0,51.2,51.2,1.8]"


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


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) * 1e3


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 2), "p90": round(float(np.percentile(values, 90)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scan", type=Path, default=SCAN)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sample = read_sample(args.scan)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = make_checkpoint(Path(tmp) / "checkpoints")
        report = export_checkpoint(checkpoint, Path(tmp) / "artifact", [sample], ExportOptions("portable"))
        perception = Perception.load(Path(tmp) / "artifact", num_threads=args.threads)
        from spot.export.exporter import load_task

        task, _, _ = load_task(checkpoint)
        points = sample.scan.points
        runtime, eager, stages = [], [], []
        for run in range(3 + args.runs):
            runtime_ms = timed(lambda: stages.append(perception(points).timings))
            eager_ms = timed(lambda: eager_labels(task, points))
            if run >= 3:
                runtime.append(runtime_ms)
                eager.append(eager_ms)
    stage_medians = {k: round(float(np.median([s[k] for s in stages[3:]])), 2) for k in stages[0] if k != "total"}
    line = {
        "benchmark": "runtime_latency",
        "scan": args.scan.name,
        "points": len(points),
        "voxels": report.checks[0].voxels,
        "model": "unet_small + linear head, 0.2 m voxels, x/y +-51.2 m, z -3..1.8 m",
        "threads": args.threads,
        "runs": args.runs,
        "runtime_end_to_end_ms": summary(runtime),
        "runtime_stages_median_ms": stage_medians,
        "pytorch_eager_ms": summary(eager),
        "ratio_runtime_over_eager": round(float(np.median(runtime) / np.median(eager)), 3),
        "label_agreement": report.checks[0].label_agreement,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
