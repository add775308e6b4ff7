"""SPOT and ALSO through the real engine on small simulated sequences: losses fall, metrics beat trivial."""

import json

import pytest
import yaml

from spot.trainer.config import load_config
from spot.trainer.engine.run import evaluate, train

DATA = {
    "name": "sim",
    "sensor": "vlp16",
    "frames": 4,
    "horizontal_resolution_deg": 0.6,
    "point_cloud_range": [-19.2, -19.2, -3.2, 19.2, 19.2, 1.6],
    "voxel_size": [0.3, 0.3, 0.3],
}


def _config(tmp_path, objective, use_labels, steps):
    values = {
        "name": objective["name"],
        "data": {
            "train": {**DATA, "seeds": [0, 1], "use_labels": use_labels},
            "val": {**DATA, "seeds": [50], "frames": 2, "use_labels": use_labels},
        },
        "model": {"name": "sparse_unet", "channels": [16, 32, 64], "encoder_blocks": 1, "decoder_blocks": 1},
        "objective": objective,
        "optim": {"lr": 0.01},
        "schedule": {"name": "onecycle", "pct_start": 0.2},
        "train": {
            "max_steps": steps,
            "batch_size": 2,
            "num_workers": 0,
            "log_every": 5,
            "eval_every": steps,
            "output_dir": str(tmp_path),
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _losses(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if row["split"] == "train"]


@pytest.mark.slow
def test_spot_semantic_occupancy_learns(tmp_path):
    objective = {"name": "spot_occupancy", "target": "semantic", "occupancy_voxel_size": [0.6, 0.6, 0.6]}
    path = _config(tmp_path, objective, use_labels=True, steps=40)
    run_dir = train(load_config(path), stage="pretrain")
    losses = _losses(run_dir)
    assert losses[-1] < 0.7 * losses[0]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    assert metrics["occupied_iou"] > metrics["occupied_iou_trivial"] + 0.1
    assert 0 < metrics["semantic_miou"] <= 1


@pytest.mark.slow
def test_spot_geometric_occupancy_learns_without_labels(tmp_path):
    objective = {"name": "spot_occupancy", "target": "geometric", "occupancy_voxel_size": [0.6, 0.6, 0.6]}
    path = _config(tmp_path, objective, use_labels=False, steps=30)
    run_dir = train(load_config(path), stage="pretrain")
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    assert metrics["occupied_iou"] > metrics["occupied_iou_trivial"] + 0.1
    assert "semantic_miou" not in metrics


@pytest.mark.slow
def test_also_surface_reconstruction_learns(tmp_path):
    objective = {"name": "also_surface", "radius": 0.3, "queries": {"queries_per_scan": 2000}}
    # ALSO plateaus at "everything empty" for ~40 steps at this size before the surface is found.
    path = _config(tmp_path, objective, use_labels=False, steps=80)
    run_dir = train(load_config(path), stage="pretrain")
    losses = _losses(run_dir)
    assert losses[-1] < 0.7 * losses[0]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    assert metrics["surface_accuracy"] > metrics["surface_accuracy_trivial"] + 0.1
    assert metrics["intensity_l1"] < 0.2
