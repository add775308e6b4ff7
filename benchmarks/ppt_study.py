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

Every run evaluates its held-out sequences EVALUATIONS times as it trains (the learning curves: the report says
whether each arm had plateaued) and is scored at its last step (no selection on held-out data). Claims are paired
by seed (`spot.trainer.study.stats`, Student t, 95 %): naive merging against single-domain models (negative
transfer, either sign), each PPT variant against naive merging, language-guided against decoupled. Prints the
tables in markdown and one JSON line; `--report docs/results-ppt.md` also writes them there with the command,
machine and time, the numbers as `.json` and the curves as `.png`. Every run caches `result.json` in its folder
under `--out`, so a rerun skips finished runs (and runs for different seeds can go in parallel processes).

    python benchmarks/ppt_study.py [--steps-per-domain 500] [--seeds 0 1 2] [--out runs/ppt-study] [--report F]

PPT as pre-training for a fourth sensor is a method of the evidence protocol (`spot-train study`,
configs/study/label-efficiency-sim.yaml). Not yet here: the simulator knobs that widen the low-level gap.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from spot.export.exporter import load_task
from spot.runtime.io.label_maps import named_label_map
from spot.trainer.config import load_config
from spot.trainer.data.datasets import SimDataConfig, SimulatedDataset
from spot.trainer.engine import distributed
from spot.trainer.engine.checkpoint import write_atomically
from spot.trainer.engine.hooks import METRICS_FILE, read_metrics
from spot.trainer.engine.run import CHECKPOINTS, evaluate, train
from spot.trainer.engine.trainer import evaluation_totals
from spot.trainer.study.command import machine
from spot.trainer.study.report import cell, compare, difference_text, last_share_gain, summary

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
EVALUATIONS = 8  # held-out evaluations per run: the learning curve


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
        "train": {"max_steps": steps, "batch_size": 2, "num_workers": 0, "log_every": 10,
                  "eval_every": max(steps // EVALUATIONS, 1), "ckpt_every": steps, "seed": seed,
                  "output_dir": str(folder / "run")},
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
    metrics = evaluate(run_dir / CHECKPOINTS / "last", pictures=False)
    metrics["seconds"] = time.time() - started
    metrics["curve"] = [[r["step"], {d: r[f"miou/{d}"] for d in domains}]
                        for r in read_metrics(run_dir / METRICS_FILE) if r["split"] == "val"]  # fmt: skip
    write_atomically(folder / RESULT, json.dumps(metrics, indent=2))
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
    write_atomically(folder / ZERO_SHOT_RESULT, json.dumps(metrics, indent=2))
    return metrics["miou"]


def claims(miou: dict) -> list[dict]:
    """The paired comparisons, per domain and on the mean over domains (points)."""
    pairs = [("naive merging against single-domain models (negative transfer if below zero)", "joint-shared",
              "single", True),
             ("PPT (decoupled) against naive merging", "ppt-decoupled", "joint-shared", False),
             ("PPT (language-guided) against naive merging", "ppt-language", "joint-shared", False),
             ("language-guided against decoupled PPT", "ppt-language", "ppt-decoupled", True)]  # fmt: skip
    out = []
    for name, method, baseline, two_sided in pairs:
        for domain in [*DOMAINS, "mean"]:
            out.append({"name": name, "domain": domain, "method": method, "baseline": baseline,
                        **compare(miou[method][domain], miou[baseline][domain], two_sided=two_sided)})  # fmt: skip
    return out


def markdown(report: dict) -> str:
    domains = [*DOMAINS, "mean"]
    lines = ["# PPT: one backbone on three simulated domains (issue 16)", "",
             "Generated by `benchmarks/ppt_study.py`; do not edit by hand. Command:", "", f"    {report['command']}",
             "", f"Machine: {report['machine']}; {report['minutes']:.0f} min of training and scoring in this "
             f"invocation (cached runs cost nothing). {report['steps_per_domain']} steps per domain in every arm, "
             f"seeds {report['seeds']}, BatchNorm momentum {report['bn_momentum']}; held-out sequences, last "
             "checkpoint. Domains: " + ", ".join(f"{d} ({sensor}, {labels})" for d, (sensor, labels, _) in
                                                 DOMAINS.items()) + ".", "",
             "### Held-out mIoU per domain (mean ± std over seeds)", "",
             "| arm | " + " | ".join(domains) + " |", "|" + " --- |" * (len(domains) + 1)]  # fmt: skip
    for arm, by_domain in report["miou"].items():
        lines.append(f"| {arm} | " + " | ".join(cell(summary(by_domain[d])) for d in domains) + " |")
    lines += ["", "### Claims (paired by seed, mIoU points, mean [95 % interval])", "",
              "| comparison | " + " | ".join(domains) + " |", "|" + " --- |" * (len(domains) + 1)]  # fmt: skip
    for name in dict.fromkeys(c["name"] for c in report["claims"]):
        row = {c["domain"]: c for c in report["claims"] if c["name"] == name}
        lines.append(f"| {name} | " + " | ".join(f"{difference_text(row[d]['difference'])} **{row[d]['verdict']}**"
                                                 for d in domains) + " |")  # fmt: skip
    z = report["zero_shot"]
    lines += ["", f"### Zero-shot: a label set never trained ({z['target']})", "",
              f"ppt-language trained on the other two domains, scored on {z['target']}'s held-out sequences "
              f"through its {len(z['classes'])} class texts with {z['norms']}'s norms: "
              f"**{cell(summary(z['miou']))} mIoU**; trained on its labels: single "
              f"{cell(summary(report['miou']['single'][z['target']]))}, ppt-language "
              f"{cell(summary(report['miou']['ppt-language'][z['target']]))}.", "",
              "### Did the runs converge? Held-out mIoU gain over the last third of the schedule (points, "
              "mean over seeds)", "",
              "| arm | " + " | ".join(DOMAINS) + " |", "|" + " --- |" * (len(DOMAINS) + 1)]  # fmt: skip
    for arm, by_domain in report["plateau"].items():
        lines.append(f"| {arm} | " + " | ".join(f"{by_domain[d]:.1f}" for d in DOMAINS) + " |")
    if "figure" in report:
        lines += ["", f"![held-out learning curves]({report['figure']})"]
    return "\n".join(lines) + "\n"


def draw_curves(curves: dict, path: Path) -> None:
    """Held-out mIoU against the step per arm (seeds as thin lines), one panel per domain."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, len(DOMAINS), figsize=(5 * len(DOMAINS), 3.8), squeeze=False)
    for axis, domain in zip(axes[0], DOMAINS, strict=True):
        for index, (arm, runs) in enumerate(curves.items()):
            for number, curve in enumerate(runs[domain]):
                steps = [step for step, _ in curve]
                axis.plot(steps, [100 * values[domain] for _, values in curve], color=f"C{index}", linewidth=1,
                          label=arm if number == 0 else None)  # fmt: skip
        axis.set(title=domain, xlabel="step (of the run)", ylabel="held-out mIoU (%)")
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps-per-domain", type=int, default=500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/ppt-study"))
    parser.add_argument("--report", type=Path, help="also write the report here (markdown), with .json and .png")
    parser.add_argument("--bn-momentum", type=float, default=0.1,
                        help="BatchNorm running-statistics momentum: Pointcept's 0.01 has not forgotten the initial "
                             "statistics after 80 updates per domain (0.99^80 = 0.45), which would handicap the arms "
                             "that update a BatchNorm less often (single, decoupled)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)  # small tensors: one thread is faster, and deterministic
    started = time.time()
    miou: dict[str, dict[str, list[float]]] = {arm: {d: [] for d in [*DOMAINS, "mean"]} for arm in ARMS}
    curves: dict[str, dict[str, list]] = {arm: {d: [] for d in DOMAINS} for arm in ARMS}
    for seed in args.seeds:
        for arm, (_, _, joint) in ARMS.items():
            for domains in [list(DOMAINS)] if joint else [[d] for d in DOMAINS]:
                metrics = run(args.out, arm, domains, seed, args.steps_per_domain, args.bn_momentum)
                for domain in domains:
                    miou[arm][domain].append(100 * metrics[f"miou/{domain}"])
                    curves[arm][domain].append(metrics["curve"])
            miou[arm]["mean"].append(float(np.mean([miou[arm][d][-1] for d in DOMAINS])))
    unseen = [100 * zero_shot(args.out, seed, args.steps_per_domain, args.bn_momentum) for seed in args.seeds]
    target, norms = ZERO_SHOT
    report = {
        "command": shlex.join(["python", *sys.argv]), "machine": machine("cpu"),
        "minutes": (time.time() - started) / 60, "steps_per_domain": args.steps_per_domain, "seeds": args.seeds,
        "bn_momentum": args.bn_momentum, "miou": miou, "claims": claims(miou),
        "plateau": {arm: {d: float(np.mean([last_share_gain([(step, 100 * v[d]) for step, v in c]) for c in runs[d]]))
                          for d in DOMAINS} for arm, runs in curves.items()},
        "zero_shot": {"target": target, "norms": norms, "miou": unseen,
                      "classes": list(named_label_map(DOMAINS[target][1]).class_names)},
    }  # fmt: skip
    if args.report is not None:
        figure = args.report.with_suffix(".png")
        report["figure"] = figure.name
        draw_curves(curves, figure)
        args.report.with_suffix(".json").write_text(json.dumps({**report, "curves": curves}, indent=1) + "\n")
    text = markdown(report)
    if args.report is not None:
        args.report.write_text(text)
    print(text)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
