"""`spot-train study` end to end on a tiny study (seconds): outputs, numbers, caching and config errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import spot.trainer.study.runner as runner
from spot.trainer.cli.train import main as spot_train
from spot.trainer.study.config import load_study

CONFIGS = Path(__file__).parents[3] / "configs"
TINY = [
    "model.channels=[8,8,8,8]",
    "train.num_workers=0",
    "train.batch_size=1",
    "data.train.horizontal_resolution_deg=3.0",
]
TINY_VAL = ["data.val.horizontal_resolution_deg=3.0"]


SPOT = {
    "config": str(CONFIGS / "pretrain/spot-unet-sim-geometric.yaml"),
    "overrides": [*TINY, "data.train.aggregate_frames=0"],
}


def tiny_study(folder: Path, **changes) -> Path:
    values = {
        "name": "tiny",
        "seeds": [0, 1],
        "pretrain": {
            "epochs": 1,
            "pool": {"first_seed": 0, "sequences": 2, "frames": 1},
            "methods": {"spot-geometric": SPOT},
        },
        "finetune": {
            "config": str(CONFIGS / "finetune/seg-unet-sim-vlp16.yaml"),
            "steps": {0.5: 2},
            "evaluations": 2,
            "pool": {"first_seed": 200, "sequences": 2, "frames": 1},
            "dev": {"first_seed": 900, "sequences": 1, "frames": 1},
            "test": {"first_seed": 1000, "sequences": 1, "frames": 1},
        },
        "arms": [{"name": "vlp16", "overrides": [*TINY, *TINY_VAL], "label_fractions": [0.5]}],
        "scaling": {"method": "spot-geometric", "shares": [0.5, 1.0], "arm": "vlp16", "label_fraction": 0.5},
        "claims": [{"name": "SPOT beats scratch", "method": "spot-geometric", "arm": "vlp16", "label_fraction": 0.5}],
        "budget": {"minutes": 0.001, "cores": 2},  # missed by any study: the report says by how much
    }
    values.update(changes)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def run(config: Path, tmp_path: Path, *extra: str):
    args = ["study", "-c", str(config), "--out", str(tmp_path / "runs"), "--report", str(tmp_path / "docs/results.md"),
            "--device", "cpu", *extra]  # fmt: skip
    return CliRunner().invoke(spot_train, args)


@pytest.mark.slow
def test_a_tiny_study_writes_its_report_and_a_second_run_recomputes_nothing(tmp_path, monkeypatch):
    config = tiny_study(tmp_path)
    result = run(config, tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "docs/results.json").read_text())
    # scratch and spot x 2 seeds, plus data scaling: spot pre-trained on half and all of the pool, per seed
    assert len(report["runs"]) == 2 * 2 + 2 * 2
    assert {(r["method"], r["pretrain_share"], r["pretrain_seed"]) for r in report["runs"]} == {
        ("scratch", 1.0, None), ("spot-geometric", 1.0, None), *(("spot-geometric", share, seed)
        for share in (0.5, 1.0) for seed in (0, 1))}  # fmt: skip
    for r in report["runs"]:
        assert 0 <= r["test_miou"] <= 100 and r["best_step"] in (1, 2)
        assert r["dev_miou"] == max(value for _, value in r["curve"])  # the selected checkpoint is the best on dev
    cell = report["tables"]["vlp16"]["spot-geometric"]["0.5"]["test"]
    assert cell["values"] == [r["test_miou"] for r in report["runs"] if r["method"] == "spot-geometric"
                              and r["label_fraction"] == 0.5 and r["pretrain_seed"] is None]  # fmt: skip
    claim = report["claims"][0]
    scratch = report["tables"]["vlp16"]["scratch"]["0.5"]["test"]["values"]
    assert claim["difference"]["mean"] == pytest.approx(sum(cell["values"]) / 2 - sum(scratch) / 2)
    assert claim["verdict"] in ("met", "not shown", "below target", "opposite")
    assert report["pretrain_steps"] == {"spot-geometric@1": 2, "spot-geometric@0.5-seed0": 1,  # fixed epochs
                                        "spot-geometric@0.5-seed1": 1, "spot-geometric@1-seed0": 2,
                                        "spot-geometric@1-seed1": 2}  # fmt: skip
    assert report["scaling"]["shares"]["0.5"]["pretrain_steps"] == 1
    scaled = tmp_path / "runs/pretrain/spot-geometric@1-seed1/config.yaml"
    assert yaml.safe_load(scaled.read_text())["train"]["seed"] == 1  # its own pre-training, seeded as the run
    markdown = (tmp_path / "docs/results.md").read_text()
    assert "| spot-geometric |" in markdown and "SPOT beats scratch" in markdown
    pretraining = report["pretrainings"]["spot-geometric@1"]
    assert pretraining["steps"] == 2 and pretraining["loss"] > 0  # the last training record's loss
    assert (
        f"| spot-geometric@1 | 2 | {pretraining['seconds'] / 60:.1f} | {pretraining['loss']:.3g} | – | – |" in markdown
    )
    # where the time went: every run in one part, the parts summing to the training time
    assert sum(row["runs"] for row in report["time"]) == len(report["runs"]) + len(report["pretrainings"])
    assert sum(row["minutes"] for row in report["time"]) == pytest.approx(report["training_minutes"])
    assert {row["part"]: row["steps"] for row in report["time"]}["fine-tuning vlp16, 50 % labels"] == [2]
    missed = {entry["target"]: entry for entry in report["shortfalls"]}
    budget = missed["the study fits in 0.001 min on 2 cores"]
    assert budget["by"] == pytest.approx(report["training_minutes"] / 2 - 0.001)
    assert ("SPOT beats scratch" in missed) == (claim["verdict"] != "met")
    assert "### Targets not reached: by how much, and why" in markdown
    assert "### Where the training time went" in markdown
    for name in report["figures"]:
        assert (tmp_path / "docs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {Path(name).name for name in report["figures"]} >= {"miou_vs_labels.png", "learning_curves.png",
                                                              "data_scaling.png"}  # fmt: skip

    def refuse(*args, **kwargs):
        raise AssertionError("a cached run was recomputed")

    monkeypatch.setattr(runner, "train", refuse)
    monkeypatch.setattr(runner, "evaluate", refuse)
    again = run(config, tmp_path)
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "docs/results.json").read_text())["runs"] == report["runs"]


@pytest.mark.slow
def test_two_jobs_train_every_run_once_into_the_same_folders_as_one(tmp_path, monkeypatch):
    arms = [{"name": "vlp16", "overrides": [*TINY, *TINY_VAL, "train.num_workers=1"], "label_fractions": [0.5]}]
    config = tiny_study(tmp_path, seeds=[0], scaling=None, arms=arms)  # a data loader worker in each job
    result = run(config, tmp_path, "--jobs", "2")
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "docs/results.json").read_text())["runs"]
    assert sorted(r["method"] for r in runs) == ["scratch", "spot-geometric"]
    assert all(0 <= r["test_miou"] <= 100 for r in runs)

    def refuse(*args, **kwargs):
        raise AssertionError("a run trained in a worker was recomputed")

    monkeypatch.setattr(runner, "train", refuse)
    monkeypatch.setattr(runner, "evaluate", refuse)
    again = run(config, tmp_path)  # one job reads back what two wrote
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "docs/results.json").read_text())["runs"] == runs


@pytest.mark.slow
def test_a_changed_study_config_is_refused_rather_than_mixed_with_old_runs(tmp_path, monkeypatch):
    arms = [{"name": "vlp16", "overrides": [*TINY, *TINY_VAL], "label_fractions": [0.5], "methods": ["scratch"]}]
    cheap = {"seeds": [0], "arms": arms, "scaling": None, "claims": []}
    assert run(tiny_study(tmp_path, **cheap), tmp_path).exit_code == 0
    finetune = yaml.safe_load((tmp_path / "tiny.yaml").read_text())["finetune"]
    with monkeypatch.context() as patch:  # a key that changes no result (as on resume): the run is reused
        patch.setattr(runner, "train", lambda *a, **k: pytest.fail("a finished run was retrained"))
        arms_one_worker = [{**arms[0], "overrides": [*arms[0]["overrides"], "train.num_workers=1"]}]
        assert run(tiny_study(tmp_path, **{**cheap, "arms": arms_one_worker}), tmp_path).exit_code == 0
    result = run(tiny_study(tmp_path, **cheap, finetune={**finetune, "steps": {0.5: 3}}), tmp_path)
    assert result.exit_code == 2
    assert "holds a run of another config than the study asks for now (train.max_steps 2 -> 3" in result.output


@pytest.mark.slow
def test_no_train_reports_a_study_stopped_part_way(tmp_path, monkeypatch):
    config = tiny_study(tmp_path)
    assert run(config, tmp_path).exit_code == 0
    assert run(config, tmp_path, "--no-train").exit_code == 0  # every run finished: a complete report
    assert json.loads((tmp_path / "docs/results.json").read_text())["complete"] is True
    assert "Part-way" not in (tmp_path / "docs/results.md").read_text()
    (tmp_path / "runs/vlp16/spot-geometric@0.5-seed0/labels0.5-seed0/result.json").unlink()  # a scaling run to come
    unfinished = tmp_path / "runs/vlp16/spot-geometric@1/labels0.5-seed1/result.json"
    unfinished.unlink()  # as if the study had stopped during spot's seed-1 run

    def refuse(*args, **kwargs):
        raise AssertionError("--no-train trained or evaluated")

    monkeypatch.setattr(runner, "train", refuse)
    monkeypatch.setattr(runner, "evaluate", refuse)
    result = run(config, tmp_path, "--no-train")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "docs/results.json").read_text())  # strict JSON: no NaN for the missing interval
    assert len(report["runs"]) == 6 and report["planned_runs"] == 8 and report["complete"] is False
    claim = report["claims"][0]  # paired over the one seed both sides have
    assert claim["difference"]["seeds"] == 1 and claim["difference"]["low"] is None and claim["verdict"] == "not shown"
    markdown = (tmp_path / "docs/results.md").read_text()
    assert "**Part-way**: 6 of 8 fine-tuning runs" in markdown and "(one seed: no interval) not shown" in markdown
    assert not unfinished.exists()


@pytest.mark.slow
def test_runs_of_another_simulator_version_are_refused_rather_than_mixed(tmp_path, monkeypatch):
    arms = [{"name": "vlp16", "overrides": [*TINY, *TINY_VAL], "label_fractions": [0.5], "methods": ["scratch"]}]
    config = tiny_study(tmp_path, seeds=[0], arms=arms, scaling=None, claims=[])
    assert run(config, tmp_path).exit_code == 0
    monkeypatch.setattr(runner, "SIMULATOR_VERSION", runner.SIMULATOR_VERSION + 1)
    result = run(config, tmp_path)
    assert result.exit_code == 2
    assert f"was trained on simulator version {runner.SIMULATOR_VERSION - 1}, this spot simulates" in result.output


@pytest.mark.slow
@pytest.mark.realdata
def test_every_fine_tuned_model_is_scored_on_the_real_scans_and_a_real_few_label_arm_runs(tmp_path, lidar_data):
    real = tmp_path / "real.yaml"
    root = lidar_data / "semantickitti"
    real.write_text(yaml.safe_dump({"data": {"val": {"name": "semantickitti", "root": str(root)}}}))
    finetune = yaml.safe_load(tiny_study(tmp_path).read_text())["finetune"] | {"real": str(real)}
    few = {
        "config": str(CONFIGS / "finetune/seg-unet-real-one-scan.yaml"),
        "steps": 2,
        "overrides": ["model.channels=[8,8,8,8]", f"data.train.root={root}", f"data.val.root={root}"],
    }
    result = run(tiny_study(tmp_path, finetune=finetune, real_few_label=few, scaling=None), tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "docs/results.json").read_text())
    simulated = [r for r in report["runs"] if r["arm"] == "vlp16"]
    assert len(simulated) == 4 and all(0 <= r["real_miou"] <= 100 and r["real_iou"] for r in simulated)
    few_label = report["real_few_label"]
    assert set(few_label) == {"scratch", "spot-geometric"} and len(few_label["scratch"]["values"]) == 2
    assert few_label["spot-geometric"]["vs_scratch"]["difference"]["seeds"] == 2
    markdown = (tmp_path / "docs/results.md").read_text()
    assert "on the real SemanticKITTI scans" in markdown and "Real few-label arm" in markdown


@pytest.mark.slow
def test_a_method_with_its_own_data_pretrains_on_it_and_fine_tunes_with_its_overrides(tmp_path):
    """PPT's entry: several labelled datasets of its own config, not the pool; its runs fine-tune one domain."""
    ppt = {
        "config": str(CONFIGS / "pretrain/ppt-unet-sim-language.yaml"),
        "overrides": ["model.channels=[8,8,8,8]", "train.num_workers=0", "train.batch_size=1", "train.max_steps=3"],
        "pool": False,
        "finetune_overrides": ["pretrained.domain=sim-kitti"],
    }
    study = tiny_study(tmp_path, seeds=[0], pretrain={"epochs": 1, "methods": {"ppt": ppt}}, scaling=None, claims=[],
                       arms=[{"name": "vlp16", "overrides": [*TINY, *TINY_VAL], "label_fractions": [0.5],
                              "methods": ["ppt"]}])  # fmt: skip
    result = run(study, tmp_path)
    assert result.exit_code == 0, result.output
    pretrain = yaml.safe_load((tmp_path / "runs/pretrain/ppt@1/config.yaml").read_text())
    assert [d["name"] for d in pretrain["data"]["train"]["domains"]] == ["sim-kitti", "sim-nusc", "sim-waymo"]
    assert "seeds" not in pretrain["data"]["train"] and "fraction" not in pretrain["data"]["train"]
    finetune = yaml.safe_load((tmp_path / "runs/vlp16/ppt@1/labels0.5-seed0/config.yaml").read_text())
    assert finetune["pretrained"]["domain"] == "sim-kitti"
    assert finetune["pretrained"]["path"].endswith("pretrain/ppt@1/checkpoints/last")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"claims": [{"name": "x", "method": "ppt", "arm": "vlp16", "label_fraction": 0.5}]},
            "`study.claims[0]` = 'ppt': is not a method of pretrain.methods (scratch, spot-geometric)",
        ),
        (
            {"arms": [{"name": "vlp16", "label_fractions": [0.25]}], "scaling": None, "claims": []},
            "`study.arms[0].label_fractions` = 0.25: has no entry in finetune.steps",
        ),
        (
            {"arms": [{"name": "vlp16", "label_fractions": [1.5]}], "scaling": None, "claims": []},
            "`study.arms[0].label_fractions[0]` = 1.5: expected a number > 0 and <= 1",
        ),
        (
            {"pretrain": {"methods": {"spot-geometric": {**SPOT, "label_fractions": [0.25]}}}, "scaling": None},
            "`study.pretrain.methods.spot-geometric.label_fractions` = 0.25: has no entry in finetune.steps",
        ),
        (
            {
                "pretrain": {"epochs": 1, "methods": {"spot-geometric": {**SPOT, "label_fractions": [1.0]}}},
                "finetune": {"config": "x", "steps": {0.5: 2, 1.0: 2}},
                "scaling": None,
                "arms": [{"name": "vlp16", "label_fractions": [0.5, 1.0]}],
            },
            "`study.claims[0].label_fraction` = 0.5: 'spot-geometric' is not fine-tuned at this fraction",
        ),
        (
            {"pretrain": {"methods": {"spot-geometric": {**SPOT, "pool": False}}}},
            "`study.scaling.method` = 'spot-geometric': trains on its own data (pool: false)",
        ),
        (
            {"scaling": {"method": "spot-geometric", "arm": "vlp16", "label_fraction": 0.5, "seeds": [3]}},
            "`study.scaling.seeds` = [3]: expected at least 2 values",
        ),
        (
            {"scaling": {"method": "spot-geometric", "arm": "vlp16", "label_fraction": 0.5, "shares": [0.25, 1.0]}},
            "`study.scaling.shares` = 0.25: expected whole numbers of the pool's 2 sequences; 0.25 x 2 is not",
        ),
        (
            {"scaling": {"method": "spot-geometric", "arm": "vlp16", "label_fraction": 0.5, "shares": [1.0, 0.5]}},
            "`study.scaling.shares` = [1.0, 0.5]: expected increasing shares",
        ),
    ],
)
def test_study_config_mistakes_are_one_error_line(tmp_path, change, message):
    result = run(tiny_study(tmp_path, **change), tmp_path)
    assert result.exit_code == 2
    assert message in result.output, result.output


@pytest.mark.parametrize(("share", "scale", "seeds"), [(0.5, 1, [0]), (1.0, 1, [0, 1]), (2.0, 1, [0, 1, 2, 3]),
                                                       (0.5, 3, [0, 1, 2])])  # fmt: skip
def test_a_pretraining_share_is_whole_sequences_and_above_one_the_sequences_after_the_pool(
    tmp_path, monkeypatch, share, scale, seeds
):
    """The tiny pool is sequences 0 and 1; --scale multiplies the sequences of every share."""
    study = load_study(tiny_study(tmp_path))
    trained = {}
    monkeypatch.setattr(runner.StudyRunner, "_train_once", lambda self, config, folder, stage: trained.update(c=config))
    study_runner = runner.StudyRunner(study, runner.Settings(out=tmp_path, scale=scale))
    study_runner.pretrain(runner.Pretraining("spot-geometric", share))
    data = trained["c"].data.train.config
    assert data.seeds == seeds and data.frames == 1 and data.fraction == 1 and trained["c"].train.seed == 0
    study_runner.pretrain(runner.Pretraining("spot-geometric", share, seed=3))  # a data-scaling run's own
    assert trained["c"].train.seed == 3 and trained["c"].data.train.config.seeds == seeds


def test_the_workers_environment_is_restored_after_the_block(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "0")
    monkeypatch.delenv("SPOT_TEST_UNSET", raising=False)
    with runner._environment(TQDM_DISABLE="1", SPOT_TEST_UNSET="x"):
        assert os.environ["TQDM_DISABLE"] == "1" and os.environ["SPOT_TEST_UNSET"] == "x"
    assert os.environ["TQDM_DISABLE"] == "0" and "SPOT_TEST_UNSET" not in os.environ
