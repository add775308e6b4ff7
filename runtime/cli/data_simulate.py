"""spot-data simulate: write simulated LiDAR sequences in the SemanticKITTI layout.

The command lines in `runtime/cli/` sit above both `spot.sim` and the rest of `spot.runtime`: the simulator imports
the runtime's contracts, and nothing in the runtime outside `cli/` imports the simulator.
"""

import json

import click

from spot.sim import DEFAULT_OCCUPANCY_GRID, SimulatedSequence
from spot.sim.camera import CAMERA_RIGS
from spot.sim.writer import write_sequence

from ..sensors import SENSORS
from .common import reports_input_errors


@click.command()
@click.option("--sensor", type=click.Choice(sorted(SENSORS)), default="hdl64", show_default=True)
@click.option("--frames", default=10, show_default=True, type=click.IntRange(min=1), help="Frames per sequence.")
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Scene seed; the same seed writes the same bytes.",
)
@click.option(
    "--sequence",
    "sequence_id",
    default=0,
    show_default=True,
    type=click.IntRange(0, 99),
    help="Sequence folder id (sequences/SS).",
)
@click.option("--occupancy/--no-occupancy", default=True, show_default=True, help="Write exact occupancy grids.")
@click.option(
    "--cameras",
    type=click.Choice(sorted(CAMERA_RIGS)),
    default=None,
    help="Also render this camera rig at each sweep: cameras.json + cameras/<name>/NNNNNN.png.",
)
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Dataset folder to write.")
@reports_input_errors
def simulate(
    sensor: str, frames: int, seed: int, sequence_id: int, occupancy: bool, cameras: str | None, output: str
) -> None:
    """Simulate a driving sequence seen by SENSOR (and a camera rig) and write scans, labels, poses, boxes,
    occupancy and images."""
    sequence = SimulatedSequence(sensor=sensor, frames=frames, seed=seed, cameras=cameras)
    folder = write_sequence(sequence, output, sequence_id, DEFAULT_OCCUPANCY_GRID if occupancy else None)
    line = {"sequence": str(folder), "sensor": sensor, "frames": frames, "seed": seed}
    click.echo(json.dumps(line | ({"cameras": cameras} if cameras else {})))
