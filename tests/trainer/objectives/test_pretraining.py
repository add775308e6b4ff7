"""SPOT and ALSO through the real engine on small simulated sequences: losses fall, metrics beat trivial."""

import pytest

from spot.trainer.config import load_config
from spot.trainer.engine.run import evaluate, train

from .experiments import train_losses, write_experiment


@pytest.mark.slow
def test_spot_semantic_occupancy_learns(tmp_path):
    objective = {"name": "spot_occupancy", "target": "semantic", "occupancy_voxel_size": [0.6, 0.6, 0.6]}
    path = write_experiment(tmp_path, objective, use_labels=True, steps=40)
    run_dir = train(load_config(path), stage="pretrain")
    losses = train_losses(run_dir)
    assert losses[-1] < 0.7 * losses[0]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    assert metrics["occupied_iou"] > metrics["occupied_iou_trivial"] + 0.1
    assert 0 < metrics["semantic_miou"] <= 1


@pytest.mark.slow
def test_spot_geometric_occupancy_learns_without_labels(tmp_path):
    objective = {"name": "spot_occupancy", "target": "geometric", "occupancy_voxel_size": [0.6, 0.6, 0.6]}
    path = write_experiment(tmp_path, objective, use_labels=False, steps=30)
    run_dir = train(load_config(path), stage="pretrain")
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    assert metrics["occupied_iou"] > metrics["occupied_iou_trivial"] + 0.1
    assert "semantic_miou" not in metrics


@pytest.mark.slow
def test_also_surface_reconstruction_learns(tmp_path):
    objective = {"name": "also_surface", "radius": 0.3, "queries": {"queries_per_scan": 2000}}
    # ALSO plateaus at "everything empty" for ~40 steps at this size before the surface is found.
    path = write_experiment(tmp_path, objective, use_labels=False, steps=80)
    run_dir = train(load_config(path), stage="pretrain")
    losses = train_losses(run_dir)
    assert losses[-1] < 0.7 * losses[0]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    assert metrics["surface_accuracy"] > metrics["surface_accuracy_trivial"] + 0.1
    assert metrics["intensity_l1"] < 0.2
