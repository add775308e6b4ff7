"""spot-train: bad configs are one error line with exit code 2; eval prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from spot.trainer import components
from spot.trainer.cli.train import main

TOY_DIR = Path(__file__).parents[1] / "engine"


@pytest.fixture
def toy(monkeypatch):
    """The toy components registered into the shipped registries for the length of a test."""
    monkeypatch.syspath_prepend(str(TOY_DIR))
    import toy_task

    for kind in ("datasets", "models", "objectives"):
        for name, entry in getattr(toy_task.REGISTRIES, kind).items():
            monkeypatch.setitem(getattr(components.REGISTRIES, kind), name, entry)
    return toy_task


def test_unknown_key_exits_2_with_one_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"name": "bad", "trian": {"epochs": 1}}))
    script = Path(sys.executable).with_name("spot-train")
    result = subprocess.run([script, "pretrain", "-c", str(config)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {config}: unknown key `trian` (valid keys: name, data, model, objective, optim, schedule, train, "
        "pretrained)"
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.epochs=two"], "`train.epochs`: Value 'two' of type 'str' could not be converted to Integer"),
        (["data.train.root=/missing/dataset"], "`data.train.root` = '/missing/dataset' does not exist"),
    ],
)
def test_bad_values_exit_2_naming_the_key(tmp_path, toy, overrides, message):
    result = CliRunner().invoke(main, ["finetune", "-c", str(toy.write_config(tmp_path)), *overrides])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_pretrain_then_eval_prints_the_metrics(tmp_path, toy):
    config = toy.write_config(tmp_path, max_steps=4)
    trained = CliRunner().invoke(main, ["pretrain", "-c", str(config)])
    assert trained.exit_code == 0, trained.output
    result = CliRunner().invoke(main, ["eval", "--ckpt", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    assert set(metrics) == {"miou", "accuracy"} and 0 <= metrics["miou"] <= 1
    assert json.loads((tmp_path / "run" / "checkpoints" / "eval_step_0000004.json").read_text()) == metrics
    corrupt = tmp_path / "run" / "checkpoints" / "step_0000004" / "meta.json"
    corrupt.write_text(corrupt.read_text() + " ")
    refused = CliRunner().invoke(main, ["eval", "--ckpt", str(tmp_path / "run")])
    assert refused.exit_code == 2 and "meta.json: has" in refused.output and "truncated" in refused.output
