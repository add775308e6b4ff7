"""The study's run order: complete paired comparisons first, so a stopped study already says something."""

from __future__ import annotations

from pathlib import Path

from spot.trainer.study.config import load_study
from spot.trainer.study.runner import plan

STUDY = Path(__file__).resolve().parents[3] / "configs/study/label-efficiency-sim.yaml"


def test_every_method_of_a_fraction_and_seed_runs_before_the_next_seed():
    runs = plan(load_study(STUDY), real_available=False)
    main = [run for run in runs if run.arm == "vlp16" and run.share == 1.0]
    methods = ["scratch", "spot-semantic", "spot-geometric", "spot-geometric-no-br", "also", "clap-lidar"]
    assert [(run.label_fraction, run.seed, run.method) for run in main[:12]] == [
        (0.01, seed, method) for seed in (0, 1) for method in methods
    ]
    fractions = [run.label_fraction for run in main]
    assert fractions == sorted(fractions)  # fewest labels first
    assert len(runs) == len(set(runs))
