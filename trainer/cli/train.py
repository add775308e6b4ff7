"""spot-train: pre-training, fine-tuning and evaluation, all driven by one YAML config.

Data-parallel: `torchrun --nproc_per_node N -m spot.trainer.cli.train pretrain -c CONFIG` (or the
`spot-train` script path); the config's `train.batch_size` stays the global batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from spot.runtime.cli.common import reports_input_errors, setup_logging

CONFIG_HELP = "YAML config (see configs/); OVERRIDES are section.key=value."
# The commands import the engine (torch, every component) when they run, not at import: `--help` stays instant.


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Pre-train a sparse LiDAR backbone (SPOT, ALSO), fine-tune it with few labels, and evaluate it."""
    setup_logging(verbose)


def _training_command(stage: str, summary: str) -> click.Command:
    """`spot-train pretrain` and `spot-train finetune`: the same options, a different stage."""

    @main.command(name=stage, help=summary)
    @click.option("-c", "--config", "config_path", required=True, type=click.Path(), help=CONFIG_HELP)
    @click.option("--resume", is_flag=True, help="Continue the run from its output folder's last checkpoint.")
    @click.argument("overrides", nargs=-1)
    @reports_input_errors
    def command(config_path: str, resume: bool, overrides: tuple[str, ...]) -> None:
        _train(config_path, overrides, resume, stage=stage)

    return command


pretrain = _training_command(
    "pretrain", "Pre-train a backbone with a self-supervised objective (OVERRIDES: key=value)."
)
finetune = _training_command(
    "finetune", "Fine-tune for segmentation or detection; `pretrained.path=CKPT` loads a pre-trained backbone."
)


@main.command(name="eval")
@click.option("--ckpt", required=True, type=click.Path(), help="Checkpoint folder, or a run folder (uses its last).")
@click.option("-c", "--config", "config_path", type=click.Path(), help="Config to use instead of the checkpoint's.")
@click.option("--data", "val_data", type=click.Path(), help="YAML whose `data.val` replaces the config's.")
@click.argument("overrides", nargs=-1)
@reports_input_errors
def evaluate(ckpt: str, config_path: str | None, val_data: str | None, overrides: tuple[str, ...]) -> None:
    """Evaluate a checkpoint on its validation set (or --data's) and print the metrics as one JSON line."""
    from spot.trainer.engine.run import evaluate as evaluate_checkpoint

    config = Path(config_path) if config_path else None
    metrics = evaluate_checkpoint(Path(ckpt), config, overrides, val_data=Path(val_data) if val_data else None)
    click.echo(json.dumps(metrics))


@main.command(name="study")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(), help="Study YAML (configs/study/).")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="K x the pre-training pool and K x the fine-tuning steps (a GPU-sized run: 10).")
@click.option("--out", type=click.Path(), default=None, help="Run folders (default: runs/study-<config name>).")
@click.option("--report", "report_md", type=click.Path(), default="docs/results.md", show_default=True,
              help="Markdown report; the .json twin and a <stem>_figures/ folder are written beside it.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Trainings at once, each in its own process with its share of the cores (or OMP_NUM_THREADS).")
@click.option("--no-train", is_flag=True,
              help="Train nothing: report the runs finished so far (a study running elsewhere or stopped part-way).")
@reports_input_errors
def study(config_path: str, scale: float, out: str | None, report_md: str, device: str, jobs: int,
          no_train: bool) -> None:  # fmt: skip
    """Every pre-training method through one fine-tuning protocol: label fractions x seeds, model selection on
    dev, test and real-scan scores, paired differences to scratch with 95 % intervals. Finished runs are cached:
    rerunning resumes."""
    import shlex
    import sys

    from spot.trainer.study.command import run_study
    from spot.trainer.study.runner import Settings

    folder = Path(out) if out else Path("runs") / f"study-{Path(config_path).stem}" / f"scale{scale:g}"
    threads = [f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"] if "OMP_NUM_THREADS" in os.environ else []
    command = " ".join([*threads, "spot-train", shlex.join(sys.argv[1:])])
    run_study(Path(config_path), Settings(folder, scale, device, jobs, not no_train), Path(report_md), command)


def _train(config_path: str, overrides: tuple[str, ...], resume: bool, stage: str) -> None:
    from spot.trainer.config import load_config
    from spot.trainer.engine.run import train

    run_dir = train(load_config(config_path, overrides), stage=stage, resume=resume)
    click.echo(f"run folder: {run_dir}")


if __name__ == "__main__":
    main()
