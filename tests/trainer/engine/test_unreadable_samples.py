"""A sample that cannot be read never stops a run (issue 14 #1): training substitutes it, evaluation leaves it
out, both say so once per file and in a summary, and a resumed run substitutes exactly as the uninterrupted one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from test_resume import Interrupted, interrupt_before_step
from toy_task import (
    REGISTRIES,
    PointClassifier,
    PointClassifierConfig,
    PointMLP,
    PointMLPConfig,
    ToyPoints,
    ToyPointsConfig,
    write_config,
)

from spot.runtime.errors import SpotInputError
from spot.trainer.config import load_config
from spot.trainer.engine.distributed import Distributed
from spot.trainer.engine.hooks import read_metrics
from spot.trainer.engine.run import experiment_info, train
from spot.trainer.engine.trainer import evaluation_totals

BAD = ["data.train.unreadable=[3,17]"]


def run(folder: Path, overrides=(), resume=False, **train_values) -> Path:
    config = load_config(write_config(folder, **train_values), overrides, REGISTRIES)
    return train(config, stage="pretrain", resume=resume, registries=REGISTRIES)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(run_dir / "checkpoints" / "last" / "model.safetensors")


def test_unreadable_training_samples_are_substituted_and_summarised(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_dir = run(tmp_path, BAD)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings.count("training: skipped a sample that cannot be read: toy/000003.bin: scan holds no points") == 1
    assert warnings[-1] == (
        "training skipped 6 samples that could not be read (2 files): toy/000003.bin: scan holds no points (3x); "
        "toy/000017.bin: scan holds no points (3x)"
    )
    steps = [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["split"] == "train"]
    assert steps == list(range(1, 19))  # no step lost: every global batch kept its size


def test_a_run_with_unreadable_samples_resumes_exactly(tmp_path, monkeypatch, caplog):
    reference = run(tmp_path / "reference", BAD, ckpt_every=4)
    with monkeypatch.context() as patch:
        interrupt_before_step(patch, 9)
        with pytest.raises(Interrupted):
            run(tmp_path / "resumed", BAD, ckpt_every=4)
    with caplog.at_level(logging.WARNING):
        resumed = run(tmp_path / "resumed", BAD, resume=True, ckpt_every=4)
    assert caplog.records[-1].getMessage().startswith("training skipped 6 samples")  # the count survived the resume
    assert read_metrics(resumed / "metrics.jsonl") == read_metrics(reference / "metrics.jsonl")
    for key, value in final_weights(reference).items():
        assert torch.equal(final_weights(resumed)[key], value), key


def test_evaluation_leaves_unreadable_samples_out(tmp_path, caplog):
    config = load_config(write_config(tmp_path), (), REGISTRIES)
    info = experiment_info(config)
    task = PointClassifier(PointClassifierConfig(), PointMLP(PointMLPConfig(), info), info)
    context = Distributed(0, 1, torch.device("cpu"))
    every = evaluation_totals(task, ToyPoints(ToyPointsConfig(num_samples=10), info), config, context)
    with caplog.at_level(logging.WARNING):
        some = evaluation_totals(task, ToyPoints(ToyPointsConfig(num_samples=10, unreadable=[2]), info), config,
                                 context)  # fmt: skip
    assert int(every["confusion"].sum()) == 10 * 32 and int(some["confusion"].sum()) == 9 * 32
    assert caplog.records[-1].getMessage() == (
        "evaluation skipped 1 samples that could not be read (1 files): toy/000002.bin: scan holds no points (1x)"
    )


def test_a_dataset_that_cannot_be_read_at_all_stops_with_one_line(tmp_path):
    with pytest.raises(SpotInputError, match=r"^step 1: 9 training samples in a row cannot be read \(a broken dataset"):
        run(tmp_path, [f"data.train.unreadable=[{','.join(map(str, range(24)))}]"], max_steps=2)
