"""The shipped study configs: they load, and the data-scaling replication is the study's protocol on new seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from spot.trainer.study.config import load_study
from spot.trainer.study.runner import plan

STUDIES = Path(__file__).resolve().parents[3] / "configs/study"


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_study_loads(path):
    assert plan(load_study(path), real_available=False)


def test_the_scaling_replication_is_the_study_protocol_on_seeds_the_study_never_ran():
    study = load_study(STUDIES / "label-efficiency-sim.yaml")
    replication = load_study(STUDIES / "data-scaling-replication-sim.yaml")
    # the same pre-training and fine-tuning, so the runs both plan are the same runs (reused from the study's --out)
    assert replication.pretrain.epochs == study.pretrain.epochs and replication.pretrain.pool == study.pretrain.pool
    assert replication.pretrain.methods["spot-geometric"] == study.pretrain.methods["spot-geometric"]
    assert replication.finetune.pool == study.finetune.pool and replication.finetune.dev == study.finetune.dev
    assert replication.finetune.test == study.finetune.test and replication.finetune.config == study.finetune.config
    assert replication.finetune.steps[0.01] == study.finetune.steps[0.01]
    # an independent experiment: none of its scaling seeds is one the study's scaling table already holds
    assert not set(replication.scaling_seeds) & set(study.scaling_seeds) and len(replication.scaling_seeds) == 16
    assert replication.scaling.shares == [0.25, 1.0] and replication.scaling.label_fraction == 0.01
