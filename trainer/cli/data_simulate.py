"""spot-data simulate: write simulated LiDAR sequences in the SemanticKITTI layout."""

import click

from spot.runtime.cli.common import NotAvailableYet


@click.command()
@click.option("--sensor", type=click.Choice(["hdl64", "hdl32", "vlp16", "os128"]), default="hdl64", show_default=True)
@click.option("--frames", default=10, show_default=True, help="Frames per sequence.")
@click.option("--seed", default=0, show_default=True, help="Scene seed; the same seed writes the same bytes.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Dataset folder to write.")
def simulate(sensor: str, frames: int, seed: int, output: str) -> None:
    """Simulate a driving sequence seen by SENSOR and write scans, labels, poses and boxes."""
    raise NotAvailableYet("spot-data simulate")
