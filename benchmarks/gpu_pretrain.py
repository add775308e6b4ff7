"""SPOT pre-training steps of the paper-sized sparse UNet (configs/model/unet_paper.yaml) on simulated HDL-64E scans
at 0.1 m voxels, per sparse backend and precision: scans/s, peak memory, loss after N steps.

One JSON line per (backend, precision), then one per precision comparing the final losses across backends. Every
run starts from the same seeded weights and sees the same batches (simulated once, before any timing), so the
losses differ only by the backends' arithmetic. The first step is left out of the timing (Triton compiles and
autotunes its kernels there; set TRITON_CACHE_DIR to keep them between runs).

    python benchmarks/gpu_pretrain.py --device cuda --backends native spconv-triton --precisions fp32 bf16
    python benchmarks/gpu_pretrain.py --device cpu --backends native --precisions fp32 --steps 2 --scans 2  # CPU check
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import time
from pathlib import Path

import torch
import yaml

from spot.trainer.config import load_config
from spot.trainer.engine.optim import build_optimizer
from spot.trainer.engine.run import build_dataset, build_task, experiment_info
from spot.trainer.engine.sampling import SeededSamples
from spot.trainer.engine.task import move_to_device
from spot.trainer.sparse import set_backend

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/pretrain/spot-unet-sim-semantic.yaml"
PAPER_MODEL = REPO / "configs/model/unet_paper.yaml"


def experiment(voxel_size: float, scans: int):
    model = yaml.safe_load(PAPER_MODEL.read_text())["model"]
    overrides = [f"model.{key}={json.dumps(value)}" for key, value in model.items() if key != "name"]
    size = f"[{voxel_size},{voxel_size},{voxel_size}]"
    overrides += [f"voxelization.voxel_size={size}", "data.train.seeds=[0]", f"data.train.frames={scans}",
                  "data.train.horizontal_resolution_deg=0.17", "data.val=null"]  # fmt: skip
    return load_config(CONFIG, overrides)


def batches(config, batch_size: int) -> tuple[list, object]:
    """Every scan of the training set collated into batches of `batch_size`, simulated once (seeded)."""
    info = experiment_info(config)
    dataset = build_dataset(config.data.train, info)
    task = build_task(config, info)
    samples = SeededSamples(dataset, config.train.seed, 0)
    starts = range(0, len(dataset) - batch_size + 1, batch_size)
    return [task.collate([samples[i].sample for i in range(s, s + batch_size)]) for s in starts], info


def run(config, info, data: list, backend: str, precision: str, device: torch.device, steps: int) -> dict:
    torch.manual_seed(0)
    task = set_backend(build_task(config, info), backend).to(device).train()
    optimizer = build_optimizer(task, config.optim)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())  # fmt: skip
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses, start = [], None
    for step, batch in zip(range(steps), itertools.cycle(data), strict=False):
        if step == 1:
            _synchronize(device)
            start = time.perf_counter()
        batch = move_to_device(batch, device)
        with autocast:
            loss = task(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(task.parameters(), config.train.grad_clip or float("inf"))
        optimizer.step()
        losses.append(float(loss.detach()))
    _synchronize(device)
    elapsed = time.perf_counter() - start if start is not None else float("nan")
    scans = (steps - 1) * config.train.batch_size
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"backend": backend, "precision": precision, "device": str(device), "steps": steps,
            "batch_size": config.train.batch_size, "scans_per_s": round(scans / elapsed, 2) if scans else None,
            "peak_memory_mb": None if peak is None else round(peak, 1), "loss_first": round(losses[0], 5),
            "loss_last": round(losses[-1], 5)}  # fmt: skip


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--backends", nargs="+", default=["native", "spconv-triton"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--scans", type=int, default=8, help="simulated scans, cycled through")
    parser.add_argument("--voxel-size", type=float, default=0.1)
    parser.add_argument("--loss-tolerance", type=float, default=0.05, help="max relative spread of final losses")
    args = parser.parse_args()
    config = experiment(args.voxel_size, args.scans)
    config.train.batch_size = args.batch_size
    data, info = batches(config, args.batch_size)
    voxels = sum(len(batch["coords"]) for batch in data) / (len(data) * args.batch_size)
    device = torch.device(args.device)
    for precision in args.precisions:
        results = [run(config, info, data, backend, precision, device, args.steps) for backend in args.backends]
        for result in results:
            print(json.dumps({"benchmark": "gpu_pretrain", "voxel_size": args.voxel_size,
                              "voxels_per_scan": round(voxels), **result}), flush=True)  # fmt: skip
        final = {r["backend"]: r["loss_last"] for r in results}
        spread = (max(final.values()) - min(final.values())) / max(abs(min(final.values())), 1e-12)
        print(json.dumps({"benchmark": "gpu_pretrain_losses", "precision": precision, "loss_last": final,
                          "relative_spread": round(spread, 5), "tolerance": args.loss_tolerance,
                          "agree": spread <= args.loss_tolerance}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
