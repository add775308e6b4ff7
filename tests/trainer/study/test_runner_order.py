"""The study's run order: complete paired comparisons first, so a stopped study already says something."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from spot.trainer.study.config import load_study
from spot.trainer.study.runner import plan

STUDY = Path(__file__).resolve().parents[3] / "configs/study/label-efficiency-sim.yaml"


def test_every_method_of_a_fraction_and_seed_runs_before_the_next_seed():
    study = load_study(STUDY)
    runs = plan(study, real_available=False)
    main = [run for run in runs if run.arm == "vlp16" and run.share == 1.0]
    methods = study.method_names
    assert methods[:3] == ["scratch", "spot-semantic", "spot-geometric"] and "ppt-language" in methods
    assert [(run.label_fraction, run.seed, run.method) for run in main[: 2 * len(methods)]] == [
        (0.01, seed, method) for seed in (0, 1) for method in methods
    ]
    assert len(runs) == len(set(runs))


def test_every_arm_and_the_scaling_runs_at_the_fewest_labels_come_before_more_labels():
    runs = plan(load_study(STUDY), real_available=False)
    fractions = [run.label_fraction for run in runs]
    assert fractions == sorted(fractions)
    few = [run for run in runs if run.label_fraction == 0.01]
    assert {run.arm for run in few} == {"vlp16", "os128"} and {run.share for run in few} == {0.25, 1, 4}
    arms = [run.arm for run in few]
    assert arms == sorted(arms, key=["vlp16", "os128"].index)  # vlp16's scaling runs before the os128 arm


def test_a_method_with_label_fractions_of_its_own_is_fine_tuned_at_those_only():
    runs = plan(load_study(STUDY), real_available=False)
    ablation = [run for run in runs if run.method == "clap-no-gram"]
    assert {run.label_fraction for run in ablation} == {0.01} and len(ablation) == 3  # one run per seed
    assert {run.label_fraction for run in runs if run.method == "also"} == {0.01, 0.1, 1.0}


def test_the_report_leaves_the_fractions_a_method_never_runs_blank_rather_than_not_run():
    from spot.trainer.study.report import collect, markdown

    study = load_study(STUDY)
    lines = markdown(study, collect(study, {}, {}), []).splitlines()
    rows = [line for line in lines if line.startswith("| clap-no-gram |")]
    assert rows[1] == "| clap-no-gram | not run | – | – |"  # the paired-difference table, before any run


def test_the_scaling_runs_take_their_own_seeds_and_the_tables_and_claims_keep_the_studys():
    from spot.trainer.study.report import collect

    study = load_study(STUDY)
    study.scaling = dataclasses.replace(study.scaling, seeds=[0, 1, 2, 3, 4])
    runs = plan(study, real_available=False)
    scaling = [run for run in runs if run.pretrain_seed is not None]
    assert {(run.share, run.seed, run.pretrain_seed) for run in scaling} == {
        (share, seed, seed) for share in (0.25, 1.0, 4.0) for seed in range(5)}  # fmt: skip
    assert {run.method for run in scaling} == {study.scaling.method}
    assert {run.seed for run in runs if run not in scaling} == {0, 1, 2}
    # every run scores 10 + its seed (the pre-trained ones 20 + seed + 10 x share): seeds 3 and 4 would move the
    # table's mean and the claim's difference, and they must not
    results = {run: {"test": {"miou": (10 + run.seed + (0 if run.method == "scratch" else 10 + 10 * run.share)) / 100},
                     "dev": 0.1, "best_step": 1, "seconds": 1.0, "curve": []} for run in runs}  # fmt: skip
    report = collect(study, results, {})
    cell = report["tables"]["vlp16"]["spot-geometric"]["0.01"]["test"]
    assert cell["values"] == pytest.approx([30, 31, 32]) and cell["mean"] == pytest.approx(31)
    claim = next(c for c in report["claims"] if c["method"] == "spot-geometric" and c["baseline"] == "scratch")
    assert claim["difference"]["seeds"] == 3 and claim["difference"]["mean"] == pytest.approx(20)
    assert report["scaling"]["seeds"] == [0, 1, 2, 3, 4]
    assert report["scaling"]["shares"]["0.25"]["values"] == pytest.approx([22.5, 23.5, 24.5, 25.5, 26.5])
    assert [step["difference"]["seeds"] for step in report["scaling"]["steps"]] == [5, 5]
    assert [entry["sequences"] for entry in report["scaling"]["shares"].values()] == [4, 16, 64]
