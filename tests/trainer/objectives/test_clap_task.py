"""CLAP's task without training: simulated cameras reach the batch, the config refuses cameras it cannot get."""

import numpy as np
import pytest
import torch

from spot.trainer.config import SpotConfigError, load_config
from spot.trainer.engine.run import build_dataset, build_task, experiment_info

from .experiments import DATA, write_experiment


def clap(camera: bool) -> dict:
    return {"name": "clap_prototypes", "camera": camera, "rays": {"rays": 64, "candidates": 256},
            "prototypes": {"num": 16, "dim": 16}}  # fmt: skip


def test_camera_objective_without_camera_frames_is_one_config_error(tmp_path):
    path = write_experiment(tmp_path, clap(camera=True), use_labels=False, steps=1, classes=None)
    with pytest.raises(SpotConfigError, match=r"data\.train\.cameras.*camera: false"):
        load_config(path)


@pytest.mark.slow
def test_simulated_cameras_give_colour_targets_and_lift_onto_the_volume(tmp_path):
    data = {**DATA, "cameras": "nusc6"}
    config = load_config(write_experiment(tmp_path, clap(camera=True), False, 1, data=data, classes=None))
    info = experiment_info(config)
    frames = build_dataset(config.data.train, info)
    task = build_task(config, info).eval()
    frame = frames[0]
    assert [camera.name for camera in frame.cameras][:2] == ["CAM_FRONT", "CAM_FRONT_RIGHT"]
    batch = task.collate([frame, frames[1]])
    assert batch["images"].shape == (2, 6, 3, 144, 256)
    seen = batch["ray_camera_seen"]
    assert seen.float().mean() > 0.6  # six cameras around the car see most returns near the sensor
    colour = batch["ray_colour"][seen]
    assert colour.min() >= 0 and colour.max() <= 1 and colour.std(0).min() > 0.03  # real texture, not one colour
    # The camera centre of a seen return lies within a metre of the LiDAR (nuScenes-like mounting).
    assert batch["ray_camera_origin"][seen].norm(dim=1).max() < 1.0
    with torch.no_grad():
        _, camera, _ = task._volumes(batch)
    covered = (camera.abs().sum(1) > 0).float().mean().item()
    assert covered > 0.5, covered  # most cells are seen by some camera
    assert np.isfinite(camera.numpy()).all()
