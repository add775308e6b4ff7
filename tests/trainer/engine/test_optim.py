"""Schedules against torch's own, and which parameters get weight decay."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spot.trainer.config import OptimConfig, ScheduleConfig, ScheduleName
from spot.trainer.engine.optim import WarmupCosine, build_optimizer, build_scheduler


def lrs(scheduler, steps):
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return values


@pytest.mark.parametrize("total", [10, 101])
def test_onecycle_matches_torch(total):
    model = nn.Linear(2, 2)
    config = ScheduleConfig(name=ScheduleName.onecycle, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    ours = build_scheduler(build_optimizer(model, OptimConfig(lr=0.1)), config, total)
    reference_optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        reference_optimizer, max_lr=0.1, total_steps=total, pct_start=0.3, cycle_momentum=False
    )
    assert lrs(ours, total) == pytest.approx(lrs(reference, total), rel=1e-9, abs=1e-15)


def test_cosine_warms_up_linearly_then_decays_to_the_floor():
    factor = WarmupCosine(total_steps=100, warmup_steps=10, start_ratio=0.1, min_ratio=0.01)
    assert [factor(s) for s in (0, 5, 10)] == pytest.approx([0.1, 0.55, 1.0])
    assert factor(55) == pytest.approx(0.01 + 0.99 * 0.5)
    assert factor(100) == pytest.approx(0.01) and factor(150) == pytest.approx(0.01)


def test_norms_and_biases_get_no_weight_decay_unless_asked():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    groups = build_optimizer(model, OptimConfig(weight_decay=0.05)).param_groups
    assert [(len(g["params"]), g["weight_decay"]) for g in groups] == [(1, 0.05), (3, 0.0)]
    groups = build_optimizer(model, OptimConfig(weight_decay=0.05, decay_norm_and_bias=True)).param_groups
    assert [(len(g["params"]), g["weight_decay"]) for g in groups] == [(4, 0.05)]
