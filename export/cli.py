"""spot-export: turn a checkpoint into a verified artifact folder."""

import click

from spot.runtime.cli.common import NotAvailableYet


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Artifact folder to write.")
@click.option(
    "--flavour",
    type=click.Choice(["portable", "plugin"]),
    default="portable",
    show_default=True,
    help="portable: standard ONNX ops; plugin: sparse layers as custom ops in the 'spot' domain.",
)
@click.option("--trt", is_flag=True, help="Also build a TensorRT engine (needs TensorRT and a GPU).")
def main(checkpoint: str, output: str, flavour: str, trt: bool) -> None:
    """Export CHECKPOINT to an ONNX artifact, verified against PyTorch before it is written."""
    raise NotAvailableYet("spot-export")
