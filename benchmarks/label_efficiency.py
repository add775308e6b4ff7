"""The label-efficiency study: with few labels, does a pre-trained backbone beat one trained from scratch?

Pre-trains a sparse UNet on unlabeled simulated HDL-64E sequences (SPOT geometric occupancy with and without
beam re-sampling, ALSO surface reconstruction), fine-tunes semantic segmentation on a different sensor
(simulated VLP-16) with 1 % and 10 % of the labelled frames for several seeds, and evaluates on held-out
sequences. A second table varies the share of pre-training data. Prints the tables in markdown and one JSON
line; `--report` writes them with the exact command to a markdown file (docs/results.md).

    python benchmarks/label_efficiency.py [-c configs/study/label-efficiency-sim.yaml] [--scale 1]
        [--split test] [--out runs/label-efficiency] [--report docs/results.md]

Every run's result is cached in its folder: rerunning the command skips finished runs and resumes interrupted
ones from their last checkpoint. `--split dev` evaluates on the development sequences instead: choose the
study's settings there, never on `test`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from spot.trainer.config import load_config
from spot.trainer.engine.checkpoint import LAST
from spot.trainer.engine.run import CHECKPOINTS, train

SCRATCH = "scratch"
RESULT = "result.json"
FINETUNE_SEED_BASE = 200  # the labelled pool's simulated sequences are 200, 201, ...
METRIC = "miou"


@dataclass(frozen=True)
class Study:
    """The study config (configs/study/*.yaml) with `--scale` applied to step counts and pre-training data.

    The fine-tuning pool is never scaled: its size is what "1 % of the labels" means."""

    values: dict
    scale: float
    split: str
    out: Path
    device: str

    def count(self, section: str, key: str) -> int:
        return max(1, round(self.values[section][key] * self.scale))

    @property
    def seeds(self) -> list[int]:
        return list(self.values["seeds"])

    @property
    def methods(self) -> dict[str, dict]:
        return self.values["pretrain"]["methods"]


def pretrain_overrides(study: Study, method: str, share: float, folder: Path) -> list[str]:
    steps = study.count("pretrain", "steps")
    return [
        f"name=pretrain-{folder.name}",
        f"train.output_dir={folder}",
        f"train.max_steps={steps}",
        f"train.ckpt_every={max(1, steps // 4)}",
        f"train.device={study.device}",
        "data.val=null",  # pre-training is judged by what it does to fine-tuning, not by its own loss
        f"data.train.seeds={list(range(study.count('pretrain', 'sequences')))}",
        f"data.train.frames={study.values['pretrain']['frames']}",
        f"data.train.fraction={share}",
        f"data.train.beam_resample.probability={study.methods[method]['beam_resample']}",
    ]


def finetune_overrides(study: Study, pretrained: Path | None, fraction: float, seed: int, folder: Path) -> list[str]:
    steps = study.count("finetune", "steps")
    held_out = study.values["finetune"]["splits"][study.split]
    pool = list(range(FINETUNE_SEED_BASE, FINETUNE_SEED_BASE + study.values["finetune"]["sequences"]))
    return [
        f"name=finetune-{folder.parent.name}-{folder.name}",
        f"train.output_dir={folder}",
        f"train.max_steps={steps}",
        f"train.eval_every={steps}",
        f"train.ckpt_every={max(1, steps // 2)}",
        "train.keep_checkpoints=1",
        f"train.seed={seed}",
        f"train.device={study.device}",
        f"pretrained.path={pretrained if pretrained else 'null'}",
        f"data.train.seeds={pool}",
        f"data.train.frames={study.values['finetune']['frames']}",
        f"data.train.label_fraction={fraction}",
        "data.train.subset_seed=0",
        f"data.val.seeds={list(held_out['seeds'])}",
        f"data.val.frames={held_out['frames']}",
    ]


def run_cached(config: str, overrides: list[str], folder: Path, stage: str) -> dict:
    """Train (or resume) once; the final validation metrics and the wall time are cached in RESULT."""
    result_file = folder / RESULT
    if result_file.is_file():
        return json.loads(result_file.read_text())
    resume = (folder / CHECKPOINTS / LAST).exists()
    start = time.perf_counter()
    train(load_config(config, overrides), stage=stage, resume=resume)
    result = {"seconds": time.perf_counter() - start, "resumed": resume, **last_validation(folder)}
    result_file.write_text(json.dumps(result, indent=2))
    return result


def last_validation(folder: Path) -> dict:
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    val = [row for row in rows if row.get("split") == "val"]
    return val[-1] if val else {}


def pretrain_all(study: Study) -> dict[str, Path]:
    """Every pre-training run the tables need -> its checkpoint, keyed `<method>@<share>`."""
    runs = {(method, 1.0) for method in study.methods}
    runs |= {(study.values["pretrain"]["scaling_method"], share) for share in study.values["pretrain"]["data_shares"]}
    checkpoints = {}
    for method, share in sorted(runs):
        folder = study.out / "pretrain" / f"{method}@{share:g}"
        config = study.methods[method]["config"]
        result = run_cached(config, pretrain_overrides(study, method, share, folder), folder, "pretrain")
        logging.info("pre-trained %s on %g of the data in %.0f s", method, share, result["seconds"])
        checkpoints[f"{method}@{share:g}"] = folder / CHECKPOINTS / LAST
    return checkpoints


def finetune_all(study: Study, checkpoints: dict[str, Path]) -> dict[str, dict[float, list[float]]]:
    """mIoU per (backbone, label fraction), one value per seed; only `@1` backbones get the 10 % runs."""
    config = study.values["finetune"]["config"]
    backbones: dict[str, Path | None] = {SCRATCH: None, **checkpoints}
    scores: dict[str, dict[float, list[float]]] = {}
    for name, checkpoint in backbones.items():
        fractions = study.values["finetune"]["label_fractions"]
        if name != SCRATCH and not name.endswith("@1"):
            fractions = fractions[:1]  # the data-scaling table is at the smallest label fraction
        for fraction in fractions:
            for seed in study.seeds:
                folder = study.out / f"finetune-{study.split}" / name / f"labels{fraction:g}-seed{seed}"
                overrides = finetune_overrides(study, checkpoint, fraction, seed, folder)
                result = run_cached(config, overrides, folder, "finetune")
                scores.setdefault(name, {}).setdefault(fraction, []).append(result[METRIC])
                logging.info("%s, %g labels, seed %d: mIoU %.4f", name, fraction, seed, result[METRIC])
    return scores


def training_minutes(study: Study) -> float:
    """Wall time of every run behind the tables, resumed or cached ones included."""
    folders = [study.out / "pretrain", study.out / f"finetune-{study.split}"]
    results = [path for folder in folders for path in folder.rglob(RESULT)]
    return sum(json.loads(path.read_text())["seconds"] for path in results) / 60


def cell(values: list[float]) -> str:
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"


def tables(study: Study, scores: dict[str, dict[float, list[float]]]) -> str:
    fractions = study.values["finetune"]["label_fractions"]
    head = "| pre-training | " + " | ".join(f"mIoU @ {100 * f:g} % labels" for f in fractions) + " |"
    lines = [head, "|" + " --- |" * (len(fractions) + 1)]
    for name in [SCRATCH, *(f"{method}@1" for method in study.methods)]:
        label = "none (scratch)" if name == SCRATCH else name.removesuffix("@1")
        lines.append(f"| {label} | " + " | ".join(cell(scores[name][f]) for f in fractions) + " |")
    method, smallest = study.values["pretrain"]["scaling_method"], fractions[0]
    lines += ["", f"| {method} pre-training data | mIoU @ {100 * smallest:g} % labels |", "| --- | --- |"]
    for share in study.values["pretrain"]["data_shares"]:
        lines.append(f"| {100 * share:g} % | {cell(scores[f'{method}@{share:g}'][smallest])} |")
    return "\n".join(lines)


def targets(study: Study, scores: dict[str, dict[float, list[float]]]) -> dict[str, dict]:
    """The issue's three claims, each with the numbers it was decided on (means in mIoU points)."""
    smallest = study.values["finetune"]["label_fractions"][0]
    method = study.values["pretrain"]["scaling_method"]

    def mean(name: str) -> float:
        return float(100 * np.mean(scores[name][smallest]))

    def spread(name: str) -> float:
        return float(100 * np.std(scores[name][smallest]))

    full, without = f"{method}@1", f"{method}-no-br@1"
    gain = mean(full) - mean(SCRATCH)
    noise = max(spread(full), spread(SCRATCH))
    shares = study.values["pretrain"]["data_shares"]
    by_share = [mean(f"{method}@{share:g}") for share in shares]
    verdicts = {"pretraining_beats_scratch": {"gain": gain, "seed_std": noise, "met": gain >= 3.0 and gain > noise}}
    if without in scores:
        difference, noise = mean(full) - mean(without), max(spread(full), spread(without))
        verdicts["beam_resampling_helps"] = {
            "with": mean(full), "without": mean(without), "seed_std": noise,
            "met": difference > 0, "larger_than_seed_std": difference > noise,
        }  # fmt: skip
    verdicts["more_data_does_not_hurt"] = {
        "by_share": dict(zip(map(str, shares), by_share, strict=True)),
        "seed_std": spread(full),
        "met": all(by_share[-1] >= smaller - spread(full) for smaller in by_share[:-1]),
        "improves_beyond_seed_std": by_share[-1] - by_share[0] > spread(full),
    }
    return verdicts


def report(study: Study, command: str, table: str, verdicts: dict, minutes: float) -> str:
    verdict_lines = [f"- **{name.replace('_', ' ')}**: {'met' if v['met'] else 'NOT met'} — "
                     + ", ".join(f"{k} {_fmt(x)}" for k, x in v.items() if k != "met")
                     for name, v in verdicts.items()]  # fmt: skip
    return "\n".join(
        [
            "# Results",
            "",
            "## Label efficiency on the simulator (issue 6)",
            "",
            "Produced by",
            "",
            f"    {command}",
            "",
            f"in {minutes:.0f} min of training ({study.split} split, scale {study.scale:g}, {machine(study.device)}).",
            "mIoU in points (mean ± std over fine-tuning seeds) on held-out simulated VLP-16 sequences; pre-training",
            "on unlabeled simulated HDL-64E sequences; the labelled subset is the same for every seed.",
            "",
            table,
            "",
            "Targets (at the smallest label fraction):",
            "",
            *verdict_lines,
            "",
        ]
    )


def machine(device: str) -> str:
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.get_device_name()
    return f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def _fmt(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, default=Path("configs/study/label-efficiency-sim.yaml"))
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply step and sequence counts (GPU: 10).")
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--out", type=Path, default=Path("runs/label-efficiency"))
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--report", type=Path, help="Write the tables and the command to this markdown file.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    study = Study(yaml.safe_load(args.config.read_text()), args.scale, args.split, args.out, args.device)
    scores = finetune_all(study, pretrain_all(study))
    minutes = training_minutes(study)
    table, verdicts = tables(study, scores), targets(study, scores)
    print(table)
    if args.report:
        threads = [f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"] if "OMP_NUM_THREADS" in os.environ else []
        command = " ".join([*threads, shlex.join(["python", *sys.argv])])
        args.report.write_text(report(study, command, table, verdicts, minutes))
    summary = {"split": args.split, "scale": args.scale, "minutes": minutes, "miou": scores, "targets": verdicts}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
