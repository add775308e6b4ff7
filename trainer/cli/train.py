"""spot-train: pre-training, fine-tuning and evaluation, all driven by one YAML config."""

import click

from spot.runtime.cli.common import NotAvailableYet


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Pre-train a sparse LiDAR backbone (SPOT, ALSO), fine-tune it with few labels, and evaluate it."""


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(), help="YAML config in configs/.")
@click.argument("overrides", nargs=-1)
def pretrain(config_path: str, overrides: tuple[str, ...]) -> None:
    """Pre-train a backbone with a self-supervised objective (OVERRIDES: key=value)."""
    raise NotAvailableYet("spot-train pretrain")


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(), help="YAML config in configs/.")
@click.argument("overrides", nargs=-1)
def finetune(config_path: str, overrides: tuple[str, ...]) -> None:
    """Fine-tune for segmentation or detection from a pre-trained backbone (OVERRIDES: key=value)."""
    raise NotAvailableYet("spot-train finetune")


@main.command(name="eval")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(), help="YAML config in configs/.")
@click.option("--ckpt", required=True, type=click.Path(), help="Checkpoint to evaluate.")
def evaluate(config_path: str, ckpt: str) -> None:
    """Evaluate a checkpoint: mIoU for segmentation, mAP for detection, occupancy IoU for pre-training."""
    raise NotAvailableYet("spot-train eval")
