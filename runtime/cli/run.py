"""spot-run: run an exported artifact on scan files, folders and bags, writing labels, boxes and PNGs."""

import click

from .common import NotAvailableYet


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("artifact", type=click.Path(file_okay=False))
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Folder for .label / JSON outputs and PNGs.")
def main(artifact: str, inputs: tuple[str, ...], output: str | None) -> None:
    """Run the exported model in ARTIFACT (a folder with model.onnx + spot.json) on INPUTS."""
    raise NotAvailableYet("spot-run (needs the exported artifacts of the export/runtime work)")
