"""spot-export: turn a checkpoint into a verified artifact folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

from spot.runtime.cli.common import NotAvailableYet, UsageFailure, reports_input_errors, setup_logging
from spot.runtime.io import iter_samples
from spot.sim import SimulatedSequence

SIMULATED_SCANS = 2
TRT_MISSING = (
    "--trt needs TensorRT >= 10.9, which is not installed here: `pip install tensorrt` on the machine with the "
    "NVIDIA GPU that will run the engine (x86 + RTX), or use the TensorRT of JetPack on a Jetson Orin; the engine "
    "must be built on the kind of GPU it runs on"
)


class VerificationError(click.ClickException):
    exit_code = 1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Artifact folder to write.")
@click.option(
    "--flavour",
    type=click.Choice(["portable", "plugin", "fused"]),
    default=None,
    help="portable: standard ONNX ops; plugin: sparse layers as custom ops in the 'spot' domain; fused: sparse "
    "layers run by spot's compiled CPU kernels (needs the cpu extra where it runs). Default: fused where the cpu "
    "extra is installed, else portable.",
)
@click.option("--opset", default=17, show_default=True, help="ONNX opset (16 to 20).")
@click.option("--verify", "verify_paths", multiple=True, type=click.Path(exists=True),
              help="Scan file or folder to verify on (repeatable); default: simulated HDL-64E scans.")  # fmt: skip
@click.option("--max-points", default=500_000, show_default=True, help="Largest scan the artifact accepts.")
@click.option("--trt", is_flag=True, help="Also build a TensorRT engine (needs TensorRT and a GPU).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@reports_input_errors
def main(checkpoint, output, flavour, opset, verify_paths, max_points, trt, verbose) -> None:
    """Export CHECKPOINT to an ONNX artifact, verified against PyTorch before it is written.

    Prints the verification report as one JSON line; exit code 1 (and no artifact) when the graph does not
    compute what PyTorch computes.
    """
    setup_logging(verbose)
    if trt:
        if importlib.util.find_spec("tensorrt") is None:
            raise UsageFailure(TRT_MISSING)
        raise NotAvailableYet("building a TensorRT engine (spot-export --trt)")
    from spot.trainer.engine.checkpoint import resolve_checkpoint

    from .exporter import ExportOptions, VerificationFailed, default_flavour, export_checkpoint, refuse_non_artifact

    # wrong options, output or path: refused before any scan
    options = ExportOptions(flavour or default_flavour(), opset, max_points)
    refuse_non_artifact(Path(output))
    resolve_checkpoint(Path(checkpoint))
    samples = _verification_samples(verify_paths)
    try:
        report = export_checkpoint(Path(checkpoint), Path(output), samples, options)
    except VerificationFailed as failure:
        raise VerificationError(f"{failure}; no artifact was written") from failure
    click.echo(json.dumps({"artifact": str(output), **report.to_dict()}))


def _verification_samples(paths: tuple[str, ...]) -> list:
    if paths:
        return [sample for path in paths for sample in iter_samples(path)]
    return SimulatedSequence("hdl64", frames=SIMULATED_SCANS, seed=0).samples()
