"""spot-export: turn a checkpoint into a verified artifact folder."""

from __future__ import annotations

import json
from pathlib import Path

import click

from spot.runtime.cli.common import UsageFailure, reports_input_errors, setup_logging
from spot.runtime.io import iter_samples
from spot.sim import SimulatedSequence

SIMULATED_SCANS = 2


class VerificationError(click.ClickException):
    exit_code = 1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Artifact folder to write.")
@click.option(
    "--flavour",
    type=click.Choice(["portable", "fused", "autoware"]),
    default=None,
    help="portable: standard ONNX ops; fused: sparse layers run by spot's compiled CPU kernels (needs the cpu extra "
    "where it runs); autoware: sparse layers as the ops of Autoware's TensorRT plugins. Default: fused where the cpu "
    "extra is installed (portable with --trt), else portable.",
)
@click.option("--opset", default=17, show_default=True, help="ONNX opset (16 to 20).")
@click.option("--verify", "verify_paths", multiple=True, type=click.Path(exists=True),
              help="Scan file or folder to verify on (repeatable); default: simulated HDL-64E scans.")  # fmt: skip
@click.option("--max-points", default=500_000, show_default=True, help="Largest scan the artifact accepts.")
@click.option("--domain", help="The domain to export, for a checkpoint trained on several (PPT).")
@click.option("--label-map", help="With --domain and a language-guided PPT model: score this label map's classes "
                                  "(e.g. one it never trained on) by their class texts.")  # fmt: skip
@click.option("--trt", is_flag=True, help="Also build model.engine with TensorRT >= 10 (on the GPU that will run it).")
@click.option("--fp16", is_flag=True, help="With --trt: let TensorRT 10.x use fp16 (TensorRT 11 keeps the graph's).")
@click.option("--plugin-lib", "plugin_libs", multiple=True, type=click.Path(dir_okay=False),
              help="With --trt: a TensorRT plugin library to load (the autoware flavour needs "
                   "libautoware_tensorrt_plugins.so); repeatable.")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@reports_input_errors
def main(checkpoint, output, flavour, opset, verify_paths, max_points, domain, label_map, trt, fp16, plugin_libs,
         verbose) -> None:  # fmt: skip
    """Export CHECKPOINT to an ONNX artifact, verified against PyTorch before it is written.

    Prints the verification report as one JSON line; exit code 1 (and no artifact) when the graph does not
    compute what PyTorch computes or TensorRT cannot build it.
    """
    setup_logging(verbose)
    if (fp16 or plugin_libs) and not trt:
        raise UsageFailure("--fp16 and --plugin-lib only apply with --trt")
    from spot.trainer.engine.checkpoint import resolve_checkpoint

    from .exporter import ExportOptions, VerificationFailed, default_flavour, export_checkpoint, refuse_non_artifact
    from .tensorrt import EngineBuildFailed, TensorRTOptions

    # wrong options (TensorRT's absence included), output or path: refused before any scan
    tensorrt = TensorRTOptions(fp16, tuple(Path(p) for p in plugin_libs)) if trt else None
    flavour = flavour or ("portable" if trt else default_flavour())  # TensorRT runs no fused nodes
    options = ExportOptions(flavour, opset, max_points, domain, label_map, tensorrt)
    refuse_non_artifact(Path(output))
    resolve_checkpoint(Path(checkpoint))
    samples = _verification_samples(verify_paths)
    try:
        report = export_checkpoint(Path(checkpoint), Path(output), samples, options)
    except VerificationFailed as failure:
        raise VerificationError(f"{failure}; no artifact was written") from failure
    except EngineBuildFailed as failure:
        raise VerificationError(f"{failure}; no artifact was written") from failure
    click.echo(json.dumps({"artifact": str(output), **report.to_dict()}))


def _verification_samples(paths: tuple[str, ...]) -> list:
    if paths:
        return [sample for path in paths for sample in iter_samples(path)]
    return SimulatedSequence("hdl64", frames=SIMULATED_SCANS, seed=0).samples()


if __name__ == "__main__":
    main()
