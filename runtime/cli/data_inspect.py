"""spot-data stats / show: what is in a scan or a dataset folder, as a JSON line or a picture."""

import json
from itertools import islice
from pathlib import Path

import click
from tqdm import tqdm

from ..errors import SpotInputError
from ..io import read_sample
from ..io.cameras import read_camera_frames
from ..stats import scan_statistics
from ..viz import save_bev_png
from ..viz_camera import PROJECTION_COLOR_MODES, save_projection_png
from .common import InputFiles, reports_input_errors

LABEL_MAP_OPTION = click.option(
    "--label-map", type=click.Path(exists=True, dir_okay=False), help="SemanticKITTI label-map YAML to use."
)


@click.command()
@click.argument("path", type=click.Path(exists=True))
@LABEL_MAP_OPTION
@reports_input_errors
def stats(path: str, label_map: str | None) -> None:
    """Print one JSON line about the scan(s) at PATH: points, columns, ranges, rings, labels.

    In a folder every file is read: unreadable ones are reported (exit code 2) and left out of the line."""
    files = InputFiles([path], label_map)
    progress = tqdm(files.samples(), desc="samples", unit="scan", disable=not Path(path).is_dir(), leave=False)
    click.echo(json.dumps(scan_statistics(progress)))
    files.finish()


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@click.option("--frame", default=0, show_default=True, help="Frame of a multi-frame file; index in a folder.")
@click.option(
    "--color-by",
    type=click.Choice(PROJECTION_COLOR_MODES),
    default="auto",
    show_default=True,
    help="auto: labels where the scan has them, else intensity (bird's-eye) or depth (camera); depth: --camera only.",
)
@click.option("--extent", default=50.0, show_default=True, help="Half-width of the view in metres.")
@click.option("--resolution", default=0.1, show_default=True, help="Metres per pixel.")
@click.option(
    "--camera",
    default=None,
    help="Draw the points onto this camera's image (the scan's cameras.json + cameras/NAME/) instead.",
)
@LABEL_MAP_OPTION
@reports_input_errors
def show(
    path: str,
    output: str,
    frame: int,
    color_by: str,
    extent: float,
    resolution: float,
    camera: str | None,
    label_map: str | None,
) -> None:
    """Draw a bird's-eye view of the scan at PATH, coloured by label or intensity, with boxes; or, with
    --camera, the scan projected onto that camera's image taken with it."""
    files = InputFiles([path], label_map)
    if Path(path).is_dir():  # frame = index among the readable samples; unreadable files are reported
        sample = next(islice(files.samples(), frame, None), None)
        if sample is None:
            raise click.BadParameter(f"the folder holds fewer than {frame + 1} samples", param_hint="--frame")
    else:
        sample = read_sample(path, frame, label_map)
    if camera is None:
        image = save_bev_png(output, sample, extent_m=extent, resolution_m=resolution, color_by=color_by)
    else:
        image = save_projection_png(output, sample, _camera_frame(sample.source, camera), color_by=color_by)
    click.echo(f"wrote {output} ({image.width}x{image.height}) from {sample.source}")
    files.finish()


def _camera_frame(scan_path: str, name: str):
    frames = {frame.name: frame for frame in read_camera_frames(scan_path)}
    if name not in frames:
        raise SpotInputError(f"has no camera {name!r}; its cameras are {sorted(frames)}", source=scan_path)
    return frames[name]
