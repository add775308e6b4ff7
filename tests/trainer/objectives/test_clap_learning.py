"""CLAP through the real engine on small simulated sequences: depth error falls, prototypes stay in use, LiDAR and
camera codes agree far above chance, and the pre-trained backbone loads into segmentation fine-tuning."""

import json
import logging
import math

import numpy as np
import pytest

from spot.trainer.config import load_config
from spot.trainer.engine.run import evaluate, train

from .experiments import DATA, write_experiment
from .ring_cameras import REGISTRIES

PROTOTYPES = 32


def clap_objective(camera: bool, **prototypes) -> dict:
    """CPU-test sizes: 128 rays of 512 candidates per frame, 16 + 8 samples per ray, a 10-step warm-up, 32
    prototypes."""
    return {
        "name": "clap_prototypes",
        "camera": camera,
        "mask_ratio": 0.5,
        "mask_block": 4,
        "render": {"uniform_samples": 16, "importance_samples": 8},
        "rays": {"rays": 128, "candidates": 512, "warmup_steps": 10},
        "prototypes": {"num": PROTOTYPES, "dim": 32, **prototypes},
    }


def train_rows(run_dir) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if row["split"] == "train"]


@pytest.fixture(scope="module")
def lidar_only_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clap-lidar")
    # evaluated on four streets: one (a crossroads at the sensor, mostly road) is too few surfaces to judge
    # how many prototypes are in use
    path = write_experiment(folder, clap_objective(camera=False), use_labels=False, steps=60, classes=None,
                            val_seeds=(50, 51, 52, 53))  # fmt: skip
    return train(load_config(path), stage="pretrain")


@pytest.mark.slow
def test_lidar_only_clap_cuts_depth_error_and_keeps_prototypes_in_use(lidar_only_run):
    rows = train_rows(lidar_only_run)
    # The first row already averages steps 1-5: the ratio to the untrained error is smaller still.
    assert rows[-1]["loss_depth"] <= 0.7 * rows[0]["loss_depth"], [row["loss_depth"] for row in rows]
    metrics = evaluate(lidar_only_run / "checkpoints" / "last", None, [])
    assert metrics["prototypes_used"] >= PROTOTYPES / 4, metrics
    assert metrics["code_entropy"] > math.log(PROTOTYPES / 8), metrics  # as spread as K / 8 equally used ones
    assert metrics["code_agreement"] > 5 * metrics["code_agreement_chance"], metrics


@pytest.mark.slow
def test_finetuning_loads_every_backbone_tensor_of_a_clap_checkpoint(lidar_only_run, tmp_path):
    checkpoint = lidar_only_run / "checkpoints" / "last"
    config = write_experiment(tmp_path, {"name": "semantic_segmentation"}, True, steps=2,
                              pretrained={"path": str(checkpoint)})  # fmt: skip
    messages = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("spot")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        train(load_config(config), stage="finetune")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    loaded = next(message for message in messages if "pre-trained weights" in message)
    assert " 0 new" in loaded and "loaded 0 " not in loaded, loaded


@pytest.mark.slow
def test_lidar_and_camera_codes_agree_above_chance_and_more_with_training(tmp_path):
    # At this scale (about 256 shared points per batch, K = 32) SwAV's epsilon 0.05 with 3 Sinkhorn iterations
    # leaves the codes nearly uniform and the two heads settle on predicting uniform codes; sharper codes
    # (epsilon 0.02, 10 iterations) let the modalities align.
    data = {**DATA, "name": "sim_ring", "cameras": 3}
    objective = clap_objective(camera=True, epsilon=0.02, sinkhorn_iterations=10)
    path = write_experiment(tmp_path, objective, use_labels=False, steps=240, data=data, classes=None)
    run_dir = train(load_config(path, registries=REGISTRIES), stage="pretrain", registries=REGISTRIES)
    rows = train_rows(run_dir)
    assert rows[-1]["loss_colour"] < rows[0]["loss_colour"]
    agreement = [row["code_agreement"] for row in rows]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [], registries=REGISTRIES)
    chance = metrics["code_agreement_chance"]
    # Measured (simulator version 2, this config): on the training batches 4.4x chance after 120 steps and 11.0x
    # after 240 (still rising); on the held-out sequence only 1.1-1.75x: at this data scale (8 training frames) the
    # two modalities agree on the frames they trained on and the alignment does not carry over (docs/ARCHITECTURE,
    # CLAP). The test holds the training batches to CLAP's 5x and the held-out sequence to chance.
    assert np.mean(agreement[-4:]) >= 5 * chance, agreement
    assert np.mean(agreement[-4:]) > 2 * np.mean(agreement[:2]), agreement
    assert metrics["code_agreement"] > chance, metrics
    assert metrics["prototypes_used"] >= PROTOTYPES / 4, metrics


@pytest.mark.slow
@pytest.mark.realdata
def test_lidar_only_clap_trains_on_real_semantickitti_scans(lidar_data, tmp_path):
    data = {"name": "semantickitti", "root": str(lidar_data / "semantickitti"), "sequences": ["00"]}
    path = write_experiment(tmp_path, clap_objective(camera=False), use_labels=False, steps=10, data=data,
                            classes=None)  # fmt: skip
    rows = train_rows(train(load_config(path), stage="pretrain"))
    # Two real HDL-64E scans, ten steps: the rendered depth error already falls.
    assert rows[-1]["loss_depth"] < 0.8 * rows[0]["loss_depth"], [row["loss_depth"] for row in rows]
