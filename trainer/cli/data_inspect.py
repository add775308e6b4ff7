"""spot-data stats / show: what is in a scan or a dataset folder, as a JSON line or a picture."""

import click

from spot.runtime.cli.common import NotAvailableYet


@click.command()
@click.argument("path", type=click.Path(exists=True))
def stats(path: str) -> None:
    """Print one JSON line about the scan(s) at PATH: points, columns, ranges, rings, labels."""
    raise NotAvailableYet("spot-data stats")


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
def show(path: str, output: str) -> None:
    """Draw a bird's-eye view of the scan at PATH, coloured by label or intensity, with boxes."""
    raise NotAvailableYet("spot-data show")
