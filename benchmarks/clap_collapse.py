"""CLAP's collapse metric with and without the Gram term: two short LiDAR-only pre-trainings, one JSON line.

Run as `nice -n 10 python benchmarks/clap_collapse.py [--steps 60]` (CPU; a few minutes per run). Both runs
share everything (data, seed, steps, K) but `objective.prototypes.gram_weight`; each is evaluated on the
held-out sequence and the line reports, per run, the prototypes in use (nearest-prototype histogram of the
LiDAR embeddings, out of K), the code entropy (nats, at most log K) and the code agreement of the two views.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import yaml

from spot.trainer.config import load_config
from spot.trainer.engine.run import evaluate, train

DATA = {"name": "sim", "sensor": "vlp16", "frames": 4, "horizontal_resolution_deg": 0.6, "use_labels": False}
GRID = {"point_cloud_range": [-19.2, -19.2, -3.2, 19.2, 19.2, 1.6], "voxel_size": [0.3, 0.3, 0.3]}


def experiment(folder: Path, steps: int, prototypes: int, gram_weight: float) -> Path:
    values = {
        "name": f"clap-collapse-gram{gram_weight:g}",
        "voxelization": GRID,
        "data": {"train": {**DATA, "seeds": [0, 1]}, "val": {**DATA, "seeds": [50], "frames": 2}},
        "model": {"name": "sparse_unet", "channels": [16, 32, 64], "encoder_blocks": 1, "decoder_blocks": 1},
        "objective": {
            "name": "clap_prototypes",
            "camera": False,
            "mask_ratio": 0.5,
            "mask_block": 4,
            "render": {"uniform_samples": 16, "importance_samples": 8},
            "rays": {"rays": 128, "candidates": 512, "warmup_steps": 10},
            "prototypes": {"num": prototypes, "dim": 32, "gram_weight": gram_weight},
        },
        "optim": {"lr": 0.01},
        "schedule": {"name": "onecycle", "pct_start": 0.2},
        "train": {
            "max_steps": steps,
            "batch_size": 2,
            "num_workers": 0,
            "log_every": 5,
            "eval_every": steps,
            "output_dir": str(folder / "run"),
        },
    }
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(values))
    return folder / "config.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--prototypes", type=int, default=32)
    args = parser.parse_args()
    line = {"benchmark": "clap_collapse", "steps": args.steps, "prototypes": args.prototypes,
            "entropy_max": round(math.log(args.prototypes), 3)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, weight in (("gram", 1.0), ("no_gram", 0.0)):
            run_dir = train(load_config(experiment(Path(tmp) / name, args.steps, args.prototypes, weight)), "pretrain")
            metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
            for key in ("prototypes_used", "code_entropy", "code_agreement", "depth_l1"):
                line[f"{name}_{key}"] = round(metrics[key], 4)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
