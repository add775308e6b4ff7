"""spot-bench: per-stage latency of an artifact (read, voxelize, kernel maps, network, post-process)."""

import click

from .common import NotAvailableYet


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("artifact", type=click.Path(file_okay=False))
@click.option("--input", "input_path", type=click.Path(), help="Scan to time on (default: a simulated one).")
@click.option("--runs", default=20, show_default=True, help="Timed runs after warm-up.")
def main(artifact: str, input_path: str | None, runs: int) -> None:
    """Print one JSON line of per-stage latency (median / p90) for the model in ARTIFACT."""
    raise NotAvailableYet("spot-bench (needs the exported artifacts of the export/runtime work)")
