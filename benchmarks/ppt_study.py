"""PPT's study, a first CPU-sized version: does one backbone trained on several domains lose to single-domain
models (negative transfer), and do PDNorm and the per-domain / language-guided heads fix it?

Three simulated domains, each a sensor with its own label set (HDL-32E / SemanticKITTI-19, VLP-16 / nuScenes-16,
OS-1-128 / Waymo-22, `spot.runtime.io.label_maps`), a 3-level sparse UNet, the same number of steps per domain in
every arm:

    single         one model per domain (plain BatchNorm)
    joint-shared   one model on all domains, shared BatchNorm, a linear head per domain (naive merging)
    ppt-decoupled  BatchNorm per domain + a linear head per domain (Pointcept's PPT-v1m2)
    ppt-language   BatchNorm per domain + the language-guided classifier (PPT-v1m1)

Each arm runs for every seed and is scored by mIoU per domain on held-out sequences (mean ± std over seeds).

Zero-shot (language alignment on a label set never trained): the language-guided model is also trained on
sim-kitti + sim-nusc alone and scores sim-waymo's held-out sequences with Waymo's 22 class texts, run with
sim-kitti's norms (`for_label_set`), against the models that did train on sim-waymo's labels.

Prints the tables in markdown and one JSON line. Every run caches `result.json` in its folder under `--out`, so a
rerun skips finished runs.

    python benchmarks/ppt_study.py [--steps-per-domain 80] [--seeds 0 1 2] [--out runs/ppt-study]

PPT as pre-training for a fourth sensor is a method of the evidence protocol (`spot-train study`,
configs/study/label-efficiency-sim.yaml). Not yet here: the simulator knobs that widen the low-level gap.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from spot.export.exporter import load_task
from spot.trainer.config import load_config
from spot.trainer.data.datasets import SimDataConfig, SimulatedDataset
from spot.trainer.engine import distributed
from spot.trainer.engine.run import CHECKPOINTS, evaluate, train
from spot.trainer.engine.trainer import evaluation_totals

RESULT = "result.json"
ZERO_SHOT_RESULT = "zero_shot.json"
GRID = {"point_cloud_range": [-19.2, -19.2, -3.2, 19.2, 19.2, 1.6], "voxel_size": [0.3, 0.3, 0.3]}
UNET = {"name": "sparse_unet", "channels": [16, 32, 64], "encoder_blocks": 1, "decoder_blocks": 1}
DOMAINS = {  # name -> sensor, label map, first training sequence seed (held-out sequences: +50, +51)
    "sim-kitti": ("hdl32", "semantickitti", 0),
    "sim-nusc": ("vlp16", "semantickitti_nuscenes16", 10),
    "sim-waymo": ("os128", "semantickitti_waymo22", 20),
}
ARMS = {  # name -> (head, decoupled norms, trained on all domains at once)
    "single": ("decoupled", False, False),
    "joint-shared": ("decoupled", False, True),
    "ppt-decoupled": ("decoupled", True, True),
    "ppt-language": ("language", True, True),
}
TRAIN_SEQUENCES, FRAMES = 4, 4


def domain_section(name: str, offsets: range) -> dict:
    sensor, label_map, first = DOMAINS[name]
    data = {"name": "sim", "sensor": sensor, "label_map": label_map, "frames": FRAMES,
            "horizontal_resolution_deg": 1.0, "seeds": [first + offset for offset in offsets]}  # fmt: skip
    return {"name": name, "ratio": 1, "data": data}


def write_config(folder: Path, domains: list[str], head: str, decouple: bool, seed: int, steps: int,
                 momentum: float) -> Path:  # fmt: skip
    values = {
        "name": folder.name,
        "voxelization": GRID,
        "data": {
            "train": {"name": "multi_domain", "domains": [domain_section(d, range(TRAIN_SEQUENCES)) for d in domains]},
            "val": {"name": "multi_domain", "domains": [domain_section(d, range(50, 52)) for d in domains]},
        },
        "model": {**UNET, "norm": {"decouple": decouple, "momentum": momentum}},
        "objective": {"name": "ppt_segmentation", "head": head},
        "optim": {"lr": 0.02},
        "schedule": {"name": "onecycle", "pct_start": 0.2},
        "train": {"max_steps": steps, "batch_size": 2, "num_workers": 0, "log_every": 10, "eval_every": 0,
                  "ckpt_every": steps, "seed": seed, "output_dir": str(folder / "run")},
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    return folder / "config.yaml"


def run(out: Path, arm: str, domains: list[str], seed: int, steps_per_domain: int, momentum: float) -> dict:
    """The per-domain held-out metrics of one run (cached)."""
    folder = out / f"{arm}-{'+'.join(domains)}-seed{seed}"
    if (folder / RESULT).is_file():
        return json.loads((folder / RESULT).read_text())
    head, decouple, _ = ARMS[arm]
    steps = steps_per_domain * len(domains)
    config = load_config(write_config(folder, domains, head, decouple, seed, steps, momentum))
    started = time.time()
    run_dir = train(config, stage="pretrain", resume=(folder / "run" / CHECKPOINTS).is_dir())
    metrics = evaluate(run_dir / CHECKPOINTS / "last")
    metrics["seconds"] = time.time() - started
    (folder / RESULT).write_text(json.dumps(metrics, indent=2))
    return metrics


ZERO_SHOT = ("sim-waymo", "sim-kitti")  # the label set never trained, the trained domain whose norms run it


def zero_shot(out: Path, seed: int, steps_per_domain: int, momentum: float) -> float:
    """mIoU on the held-out sequences of ZERO_SHOT[0] of a language-guided model trained on the other domains."""
    target, norms = ZERO_SHOT
    trained = [d for d in DOMAINS if d != target]
    run(out, "ppt-language", trained, seed, steps_per_domain, momentum)  # trains it (cached)
    folder = out / f"ppt-language-{'+'.join(trained)}-seed{seed}"
    if (folder / ZERO_SHOT_RESULT).is_file():
        return json.loads((folder / ZERO_SHOT_RESULT).read_text())["miou"]
    task, _, _ = load_task(folder / "run" / CHECKPOINTS / "last", norms, DOMAINS[target][1])
    section = domain_section(target, range(50, 52))["data"]
    dataset = SimulatedDataset(SimDataConfig(**{k: v for k, v in section.items() if k != "name"}), task.info)
    config = load_config(folder / "config.yaml")  # its train section: evaluation batch size and workers
    context = distributed.start("cpu")
    try:
        with torch.no_grad():
            metrics = task.summarize(evaluation_totals(task, dataset, config, context))
    finally:
        distributed.stop(context)
    (folder / ZERO_SHOT_RESULT).write_text(json.dumps(metrics, indent=2))
    return metrics["miou"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps-per-domain", type=int, default=80)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/ppt-study"))
    parser.add_argument("--bn-momentum", type=float, default=0.1,
                        help="BatchNorm running-statistics momentum: Pointcept's 0.01 has not forgotten the initial "
                             "statistics after 80 updates per domain (0.99^80 = 0.45), which would handicap the arms "
                             "that update a BatchNorm less often (single, decoupled)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)  # small tensors: one thread is faster, and deterministic
    miou: dict[str, dict[str, list[float]]] = {arm: {d: [] for d in DOMAINS} for arm in ARMS}
    for seed in args.seeds:
        for arm, (_, _, joint) in ARMS.items():
            for domains in [list(DOMAINS)] if joint else [[d] for d in DOMAINS]:
                metrics = run(args.out, arm, domains, seed, args.steps_per_domain, args.bn_momentum)
                for domain in domains:
                    miou[arm][domain].append(metrics[f"miou/{domain}"])
    unseen = [zero_shot(args.out, seed, args.steps_per_domain, args.bn_momentum) for seed in args.seeds]
    print("| arm | " + " | ".join(f"mIoU {d} (%)" for d in DOMAINS) + " |")
    print("|---|" + "---|" * len(DOMAINS))
    for arm, by_domain in miou.items():
        cells = [f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f}" for v in by_domain.values()]
        print(f"| {arm} | " + " | ".join(cells) + " |")
    target, norms = ZERO_SHOT
    print(
        f"\nZero-shot: ppt-language trained without {target}'s labels, scored on it by its class texts with {norms}'s "
        f"norms: {100 * np.mean(unseen):.1f} ± {100 * np.std(unseen):.1f} mIoU (trained on its labels: single "
        f"{100 * np.mean(miou['single'][target]):.1f}, ppt-language {100 * np.mean(miou['ppt-language'][target]):.1f})"
    )
    print(json.dumps({"steps_per_domain": args.steps_per_domain, "seeds": args.seeds, "bn_momentum": args.bn_momentum,
                      "miou": miou, "zero_shot": {"target": target, "norms": norms, "miou": unseen}}))  # fmt: skip


if __name__ == "__main__":
    main()
