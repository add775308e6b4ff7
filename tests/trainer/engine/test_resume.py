"""--resume: the same config or a refusal (issue 14 #5), a torn metrics line (#7), the logging window (#11),
a finished run (#14)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from toy_task import REGISTRIES, write_config

from spot.runtime.errors import SpotInputError
from spot.trainer.config import load_config
from spot.trainer.engine.hooks import read_metrics
from spot.trainer.engine.run import train
from spot.trainer.engine.trainer import Trainer


def run(folder: Path, overrides=(), resume=False, **train_values) -> Path:
    config = load_config(write_config(folder, **train_values), overrides, REGISTRIES)
    return train(config, stage="pretrain", resume=resume, registries=REGISTRIES)


class Interrupted(Exception):
    pass


def interrupt_before_step(monkeypatch, step: int) -> None:
    """Stop the run as a Ctrl-C or SIGKILL would, once `step - 1` steps (and their checkpoint) are done."""
    real_step = Trainer.train_step

    def train_step(self, batch):
        if self.step == step - 1:
            raise Interrupted
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", train_step)


def test_a_resumed_run_logs_exactly_what_the_uninterrupted_run_logs(tmp_path, monkeypatch):
    """#11: the checkpoint at step 8 carries the window of steps 6-8 into the record at step 10."""
    values = dict(log_every=5, ckpt_every=4)
    reference = read_metrics(run(tmp_path / "reference", **values) / "metrics.jsonl")
    with monkeypatch.context() as patch:
        interrupt_before_step(patch, 9)
        with pytest.raises(Interrupted):
            run(tmp_path / "resumed", **values)
    run(tmp_path / "resumed", resume=True, **values)
    resumed = read_metrics(tmp_path / "resumed" / "run" / "metrics.jsonl")
    assert [r["step"] for r in resumed if r["split"] == "train"] == [5, 10, 15, 18]
    assert resumed == reference  # every value, bit for bit (the first record after the resume included)


def test_resuming_a_finished_run_evaluates_and_checkpoints_nothing_again(tmp_path, caplog):
    """#14: no second final evaluation, no duplicate record, the last checkpoint untouched."""
    run_dir = run(tmp_path, max_steps=3)
    metrics = (run_dir / "metrics.jsonl").read_text()
    last = run_dir / "checkpoints" / "step_0000003" / "manifest.json"
    written = last.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        run(tmp_path, resume=True, max_steps=3)
    assert f"{run_dir} finished at step 3: nothing left to train" in caplog.text
    assert (run_dir / "metrics.jsonl").read_text() == metrics
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["split"] == "val"] == [3]
    assert last.stat().st_mtime_ns == written


def test_a_half_written_last_metrics_line_is_dropped_on_resume(tmp_path, caplog):
    """#7: a run killed during an append left a torn last line; --resume truncates to the last whole record."""
    run_dir = run(tmp_path, max_steps=3)
    metrics = (run_dir / "metrics.jsonl").read_text()
    (run_dir / "metrics.jsonl").write_text(metrics + '{"step": 4, "epoch": 0, "spl')
    with caplog.at_level(logging.WARNING):
        run(tmp_path, resume=True, max_steps=3)
    assert "metrics.jsonl: dropped its half-written last line (28 characters)" in caplog.text
    assert (run_dir / "metrics.jsonl").read_text() == metrics


def test_a_bad_metrics_line_before_the_last_is_an_error_naming_it(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "split": "train"}\nnot json\n{"step": 2, "split": "train"}\n')
    with pytest.raises(SpotInputError, match=f"^{path}: line 2 is not a JSON record: 'not json'$"):
        read_metrics(path)


def test_resume_with_another_config_is_refused_naming_every_differing_key(tmp_path):
    """#5: seed, lr and the run's length differ -> refused, and config.yaml still says what was trained."""
    run_dir = run(tmp_path, max_steps=2)
    trained = (run_dir / "config.yaml").read_text()
    with pytest.raises(SpotInputError) as refused:
        run(tmp_path, ["optim.lr=0.1", "train.seed=7"], resume=True, max_steps=4)
    message = str(refused.value)
    assert message.startswith(
        f"--resume with another config than the run's ({run_dir.resolve()}/checkpoints/step_0000002/config.yaml): "
        "optim.lr 0.03 -> 0.1, train.max_steps 2 -> 4, train.seed 0 -> 7. Only train.output_dir, "
    )
    assert (run_dir / "config.yaml").read_text() == trained


def test_resume_may_change_where_data_is_and_how_fast_it_is_read(tmp_path):
    """#5: keys that do not change what is computed may differ; config.yaml records the values used."""
    run_dir = run(tmp_path, max_steps=2, num_workers=0)
    run(tmp_path, ["data.train.root=" + str(tmp_path)], resume=True, max_steps=2, num_workers=1)
    used = load_config(run_dir / "config.yaml", registries=REGISTRIES)
    assert used.train.num_workers == 1 and used.data.train.config.root == str(tmp_path)
