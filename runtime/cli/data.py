"""spot-data: inspect scans and datasets, and simulate new ones; numpy only, so the base install has it."""

import click

from .data_inspect import show, stats
from .data_simulate import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Inspect LiDAR scans and datasets (stats, bird's-eye pictures) and simulate labelled ones."""


main.add_command(stats)
main.add_command(show)
main.add_command(simulate)
