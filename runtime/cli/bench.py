"""spot-bench: per-stage latency of an artifact (read, voxelize, kernel maps, network, post-process)."""

from __future__ import annotations

import json
import resource
import time

import click
import numpy as np

from spot.sim import SimulatedSequence

from ..errors import errors_from
from ..io import read_sample
from ..perception import Perception
from .common import reports_input_errors

STAGES = ("read", "voxelize", "kernel_maps", "network", "postprocess", "total")
SIMULATED_SENSOR = "hdl64"  # without --input: the first frame of the seed-0 street, ~125k points


def time_stages(perception: Perception, read, runs: int, warmup: int = 3) -> dict[str, list[float]]:
    """Milliseconds per stage for `runs` timed calls of read() + perception() after `warmup` untimed ones."""
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for run in range(warmup + runs):
        start = time.perf_counter()
        scan = read()
        read_ms = (time.perf_counter() - start) * 1e3
        timings = perception(scan).timings
        if run >= warmup:
            samples["read"].append(read_ms)
            for stage in STAGES[1:]:
                samples[stage].append(timings[stage] + (read_ms if stage == "total" else 0.0))
    return samples


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        stage: {"median_ms": round(float(np.median(v)), 3), "p90_ms": round(float(np.percentile(v, 90)), 3)}
        for stage, v in samples.items()
    }


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("artifact", type=click.Path(file_okay=False))
@click.option("--input", "input_path", type=click.Path(exists=True),
              help="Scan to time on (default: a simulated HDL-64E frame, 125k points; read time then ~0).")  # fmt: skip
@click.option("--runs", default=20, show_default=True, help="Timed runs after 3 warm-up runs.")
@click.option("--threads", type=int, default=None, help="Engine threads (default: the engine's own choice).")
@reports_input_errors
def main(artifact: str, input_path: str | None, runs: int, threads: int | None) -> None:
    """Print one JSON line of per-stage latency (median / p90) for the model in ARTIFACT."""
    perception = Perception.load(artifact, num_threads=threads)
    if input_path:
        source, read = input_path, lambda: read_sample(input_path).scan
    else:
        sample = SimulatedSequence(SIMULATED_SENSOR, frames=1, seed=0).samples()[0]
        source, read = sample.source, lambda: sample.scan
    points = len(read())
    with errors_from(source):
        stages = summarize(time_stages(perception, read, runs))
    line = {
        "artifact": artifact,
        "input": source,
        "points": points,
        "threads": threads,
        "runs": runs,
        "stages": stages,
        "points_per_s": round(points / (stages["total"]["median_ms"] / 1e3)),
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    click.echo(json.dumps(line))
