"""spot-run: run an exported artifact on scan files and folders, writing labels, boxes and PNGs.

Per frame, into the output folder: `<name>.label` (SemanticKITTI packing: uint32 per point, low 16 bits the
training id = class id + 1, 0 where unlabeled or outside the grid), `<name>.json` (class names, boxes, per-class
point counts, timings) and `<name>.png` (bird's-eye view coloured by the predicted class, boxes drawn).

Every input file is processed: a file that cannot be read or that the model refuses is one `Error:` line and
the run goes on; the exit code is 2 at the end if any failed. A broken artifact stops the run at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from ..io.semantickitti import write_label_file
from ..perception import Perception, Result
from ..sample import Sample
from ..viz import save_bev_png
from .common import InputFiles, reports_input_errors, setup_logging


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("artifact", type=click.Path(file_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Folder for the outputs.")
@click.option("--threads", type=int, default=None, help="Engine threads (default: the engine's own choice).")
@click.option("--png/--no-png", default=True, show_default=True, help="Write a bird's-eye-view PNG per frame.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@reports_input_errors
def main(artifact: str, inputs: tuple[str, ...], output: str, threads: int | None, png: bool, verbose: bool) -> None:
    """Run the exported model in ARTIFACT (a folder with model.onnx + spot.json) on INPUTS (files or folders)."""
    setup_logging(verbose)
    perception = Perception.load(artifact, num_threads=threads)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    files = InputFiles(inputs)
    for index, sample in enumerate(tqdm(files.samples(), desc="spot-run", unit="scan")):
        with files.processing(sample):
            result = perception(sample.scan)
            write_outputs(folder / f"{index:06d}_{_stem(sample.source)}", sample, result, perception, png)
    files.finish()


def write_outputs(base: Path, sample: Sample, result: Result, perception: Perception, png: bool) -> None:
    """base.label, base.json and (with `png`) base.png for one frame."""
    summary = {"source": sample.source, "points": len(sample.scan), "timings_ms": result.timings}
    if result.labels is not None:
        write_label_file(base.with_suffix(".label"), result.labels + 1, np.zeros_like(result.labels))
        counts = np.bincount(result.labels[result.labels >= 0], minlength=len(perception.class_names))
        summary["class_names"] = list(perception.class_names)
        summary["points_per_class"] = {name: int(n) for name, n in zip(perception.class_names, counts, strict=True)}
    if result.boxes is not None:
        summary["box_class_names"] = list(perception.box_class_names)
        summary["boxes"] = [
            {"box": box.tolist(), "class_id": int(c), "score": float(s)}
            for box, c, s in zip(result.boxes.data, result.boxes.class_ids, result.boxes.scores, strict=True)
        ]
    base.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    if png:
        predicted = Sample(sample.scan, labels=result.labels, boxes=result.boxes, source=sample.source,
                           class_names=perception.class_names, box_class_names=perception.box_class_names)  # fmt: skip
        save_bev_png(base.with_suffix(".png"), predicted)


def _stem(source: str) -> str:
    name = Path(source).name or "scan"
    return name.split(".")[0]
