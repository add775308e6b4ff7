"""CLAP's collapse metric with and without the Gram term: two short LiDAR-only pre-trainings, one JSON line.

Run as `nice -n 10 python benchmarks/clap_collapse.py [--steps 60]` (CPU; a few minutes per run). Both runs are
`configs/pretrain/clap-lidar-unet-sim.yaml` shrunk to CPU-test size (VLP-16 sequences, 128 rays per frame, K
prototypes) and differ only in `objective.prototypes.gram_weight`; each is evaluated on the held-out sequence
and the line reports, per run, the prototypes in use (nearest-prototype histogram of the LiDAR embeddings, out
of K), the code entropy (nats, at most log K), the two views' code agreement and the rendered depth error.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from spot.trainer.config import load_config
from spot.trainer.engine.run import evaluate, train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "clap-lidar-unet-sim.yaml"
SMALL = [
    "voxelization.point_cloud_range=[-19.2,-19.2,-3.2,19.2,19.2,1.6]",
    "voxelization.voxel_size=[0.3,0.3,0.3]",
    "model.channels=[16,32,64]",
    *(f"data.{part}.{key}" for part in ("train", "val") for key in ("sensor=vlp16", "horizontal_resolution_deg=0.6")),
    "data.train.seeds=[0,1]",
    "data.train.frames=4",
    "data.val.seeds=[50]",
    "data.val.frames=2",
    "objective.mask_ratio=0.5",
    "objective.mask_block=4",
    "objective.render.uniform_samples=16",
    "objective.render.importance_samples=8",
    "objective.rays.rays=128",
    "objective.rays.candidates=512",
    "objective.rays.warmup_steps=10",
    "objective.prototypes.dim=32",
    "optim.lr=0.01",
    "train.num_workers=0",
    "train.log_every=5",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--prototypes", type=int, default=32)
    args = parser.parse_args()
    line = {"benchmark": "clap_collapse", "steps": args.steps, "prototypes": args.prototypes,
            "entropy_max": round(math.log(args.prototypes), 3)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, weight in (("gram", 1.0), ("no_gram", 0.0)):
            overrides = [*SMALL, f"objective.prototypes.num={args.prototypes}", f"objective.prototypes.gram_weight="
                         f"{weight}", f"train.max_steps={args.steps}", f"train.eval_every={args.steps}",
                         f"train.output_dir={Path(tmp) / name}"]  # fmt: skip
            run_dir = train(load_config(CONFIG, overrides), "pretrain")
            metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
            for key in ("prototypes_used", "code_entropy", "code_agreement", "depth_l1"):
                line[f"{name}_{key}"] = round(metrics[key], 4)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
