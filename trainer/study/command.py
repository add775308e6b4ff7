"""`spot-train study`: run (or resume) a study and write its report, JSON and figures."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from spot.sim import SIMULATOR_VERSION

from .config import load_study
from .report import collect, figures, markdown, shortfalls, time_spent, write_json
from .runner import Settings, StudyRunner, plan

log = logging.getLogger(__name__)


def run_study(config_path: Path, settings: Settings, report_md: Path, command: str) -> dict:
    """Train what is not cached, then write `report_md`, its .json twin and the figures beside them."""
    study = load_study(config_path)
    start = time.perf_counter()
    runner = StudyRunner(study, settings)
    results = runner.run_all()
    planned = plan(study, runner.real_few_label_available)
    pretrainings = {run.pretraining for run in planned if run.pretraining}  # finished ones are reported
    pretrain_results = {p.key: r | {"seed": p.seed}  # a seed of its own: a data-scaling run
                        for p in pretrainings if (r := runner.pretrain_result(p)) is not None}  # fmt: skip
    report = collect(study, results, dict(sorted(pretrain_results.items())), settings.scale)
    training_minutes = (sum(r["seconds"] for r in results.values())
                        + sum(r["seconds"] for r in pretrain_results.values())) / 60  # fmt: skip
    report |= {"planned_runs": len(planned), "complete": len(results) == len(planned)}  # --no-train may find all
    report |= {"command": command, "machine": machine(settings.device), "scale": settings.scale,
               "simulator_version": SIMULATOR_VERSION,
               "training_minutes": training_minutes, "real_scans": runner.real_available,
               "real_few_label_available": runner.real_few_label_available}  # fmt: skip
    report["time"] = time_spent(report)
    report["shortfalls"] = shortfalls(study, report)
    figure_folder = report_md.parent / f"{report_md.stem}_figures"
    pictures = figures(study, report, figure_folder)
    report["figures"] = [str(p.relative_to(report_md.parent)) for p in pictures]
    part_way = (
        f"**Part-way**: {len(results)} of {report['planned_runs']} fine-tuning runs had finished when this "
        "report was written (`--no-train`); empty cells and `not run` are runs still to come."
    )
    header = [
        f"# Results: {study.name}",
        "",
        "Produced by",
        "",
        f"    {command}",
        "",
        f"on {report['machine']} (scale {settings.scale:g}, simulator version {SIMULATOR_VERSION}): "
        f"{training_minutes:.0f} min of training in all, this invocation {(time.perf_counter() - start) / 60:.0f} "
        "min (cached runs are not retrained). mIoU in points, "
        f"mean ± std (ddof 1) over fine-tuning seeds {study.seeds}; the model of each run is its checkpoint with the "
        f"best dev mIoU; differences are paired by seed ({report['interval']} interval); a claim is met only when "
        "the interval excludes zero.",
        *([] if report["complete"] else ["", part_way]),
        "",
        *(f"![{p.stem}]({p.relative_to(report_md.parent)})" for p in pictures),
    ]
    report_md.parent.mkdir(parents=True, exist_ok=True)
    report_md.write_text(markdown(study, report, header))
    write_json(report, report_md.with_suffix(".json"))
    log.info("wrote %s, %s and %d figures", report_md, report_md.with_suffix(".json"), len(pictures))
    return report


def machine(device: str) -> str:
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return torch.cuda.get_device_name()
    return f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)"
