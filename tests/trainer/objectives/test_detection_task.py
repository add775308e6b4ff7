import json

import numpy as np
import pytest
import torch
import yaml

from spot.runtime.detection import decode_center_heatmaps
from spot.trainer.config import SpotConfigError, load_config
from spot.trainer.engine.run import build_dataset, build_task, evaluate, experiment_info, train
from spot.trainer.engine.seeding import seed_everything

from .experiments import GRID, SEMANTIC_KITTI, UNET, train_losses, write_experiment

# A tiny detector on simulated HDL-64E frames: +-19.2 m at 0.3 m voxels, a 2-stage BEV encoder (stride 2 ->
# 0.6 m cells, 64 x 64 map). One frame from each of many streets trains better than consecutive, near-identical
# frames of a few.
DATA = {"name": "sim", "sensor": "hdl64", "frames": 1, "horizontal_resolution_deg": 0.5}
VAL_SEEDS = (100, 101, 102, 103)  # four unseen streets, one frame each
MODEL = {"name": "sparse_bev_encoder", "channels": [16, 32], "blocks": [1, 1], "out_channels": 32}


def write_config(folder, objective, steps, train_seeds=tuple(range(16)), classes=None, **extra):
    """A detection experiment (no `classes`: boxes have their own), or with `classes` a pre-training one."""
    return write_experiment(folder, objective, True, steps, DATA, MODEL, train_seeds, VAL_SEEDS, classes, **extra)


DETECTION = {"name": "centerpoint_detection", "neck_channels": 32, "head_channels": 32, "score_threshold": 0.05}


def test_collate_targets_decode_into_the_frames_boxes(tmp_path):
    config = load_config(write_config(tmp_path, DETECTION, steps=1))
    info = experiment_info(config)
    dataset = build_dataset(config.data.train, info)
    seed_everything(0)
    task = build_task(config, info)
    frames = [dataset[0], dataset[5]]
    batch = task.collate(frames)
    h, w = task.spec.map_shape
    assert batch["heatmap"].shape == (2, 4, h, w) and (h, w) == (64, 64)
    truth = task.frame_boxes(frames[1])
    assert len(truth) >= 3 and (truth.class_ids == 0).any()  # a simulated street: cars and others
    regression = np.zeros((task.spec.regression_channels, 2 * h * w), np.float32)
    regression[:, batch["centre_cells"].numpy()] = batch["regression"].numpy().T
    second = regression.reshape(-1, 2, h, w)[:, 1]
    decoded = decode_center_heatmaps(batch["heatmap"][1].numpy(), second, task.spec)
    inside = np.abs(truth.data[:, :2]).max(axis=1) < 19.2
    assert len(decoded) == inside.sum()  # every box centred on the map, nothing else
    outputs = task(batch)
    assert torch.isfinite(outputs["loss"]) and outputs["regression_loss"] > 0
    task.eval()
    stats = task.evaluate_step(batch)
    assert (
        stats["num_gt"].tolist()
        == np.bincount(np.concatenate([task.frame_boxes(f).class_ids for f in frames]), minlength=4).tolist()
    )


def test_the_backbone_must_be_a_bev_encoder(tmp_path):
    path = write_experiment(tmp_path, DETECTION, True, 1, DATA, UNET, classes=None)
    with pytest.raises(SpotConfigError, match=r"`model.name` = 'sparse_unet': gives per-voxel features, but "
                                              r"centerpoint_detection needs a BEV map"):  # fmt: skip
        load_config(path)


@pytest.mark.slow
def test_finetuned_detector_finds_cars_on_held_out_frames(tmp_path, caplog):
    occupancy = {"name": "spot_occupancy", "target": "semantic", "occupancy_voxel_size": [0.6, 0.6, 0.6]}
    pretraining = write_config(tmp_path / "pre", occupancy, steps=4, train_seeds=[20, 21], classes=SEMANTIC_KITTI)
    checkpoint = train(load_config(pretraining), "pretrain") / "checkpoints" / "last"
    config = write_config(tmp_path / "fine", DETECTION, steps=40, pretrained={"path": str(checkpoint)})
    with caplog.at_level("INFO"):
        run_dir = train(load_config(config), stage="finetune")
    report = " ".join(record.getMessage() for record in caplog.records)
    assert "loaded" in report and "0 new" in report  # the whole BEV encoder came from the pre-training run
    losses = train_losses(run_dir)
    assert losses[-1] < 0.5 * losses[0]
    metrics = evaluate(run_dir / "checkpoints" / "last", None, [])
    # 40 steps on 16 frames, evaluated on 4 frames of two unseen streets (25 cars): AP 0.76, 0.94 at 2 m.
    assert metrics["num_gt/car"] >= 20, metrics
    assert metrics["ap/car@2m"] > 0.6 and metrics["ap/car"] > 0.4, metrics
    folder = run_dir / "checkpoints"
    written = json.loads((folder / "eval_step_0000040.json").read_text())
    assert written["ap/car"] == metrics["ap/car"]
    pictures = sorted(p.name for p in (folder / "eval_step_0000040").iterdir())
    assert pictures == ["bev_frame0.png", "precision_recall.png"]


@pytest.mark.slow
@pytest.mark.realdata
def test_eval_on_real_kitti_scans_writes_pictures(tmp_path, lidar_data):
    run_dir = train(load_config(write_config(tmp_path / "sim", DETECTION, steps=2, train_seeds=[0, 1])), "finetune")
    root = lidar_data / "kitti_object" / "training"
    kitti = {"name": "kitti_object", "root": str(root)}
    config = tmp_path / "kitti.yaml"
    values = {"name": "kitti", "voxelization": GRID, "data": {"train": kitti, "val": kitti}, "model": MODEL,
              "objective": DETECTION | {"report_frames": 3}, "train": {"batch_size": 1, "num_workers": 0}}  # fmt: skip
    config.write_text(yaml.safe_dump(values))
    metrics = evaluate(run_dir / "checkpoints" / "last", config, [])
    # Within +-19.2 m the three frames hold one labelled pedestrian (8.4 m ahead in frame 0) and nothing else.
    assert metrics["num_gt/pedestrian"] == 1 and metrics["num_gt/car"] == 0
    pictures = sorted(p.name for p in (run_dir / "checkpoints" / "eval_step_0000002_kitti").iterdir())
    assert pictures == ["bev_frame0.png", "bev_frame1.png", "bev_frame2.png", "precision_recall.png"]
