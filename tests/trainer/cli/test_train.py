"""spot-train: bad configs are one error line with exit code 2; eval prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from spot.trainer import components
from spot.trainer.cli.train import main

TOY_DIR = Path(__file__).parents[1] / "engine"
CONFIGS = Path(__file__).parents[3] / "configs"


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
        f"Error: {config}: unknown key `trian` (valid keys: name, voxelization, classes, data, model, objective, "
        "optim, schedule, train, pretrained)"
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


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        # Issue 13 item 7: checks that raised a plain ValueError from a task builder, now config validation.
        ("finetune/seg-unet-sim-vlp16", ["data.train.use_labels=false"],
         "`data.train.use_labels` = false: semantic_segmentation needs labelled frames (set it true)"),
        (["data/sim_hdl64", "voxelization/25m-0.2m", "classes/semantickitti", "model/bev_encoder_small",
          {"objective": {"name": "semantic_segmentation"}}], [],
         "`model.name` = 'sparse_bev_encoder': gives a BEV map, but semantic_segmentation needs per-voxel features"),
        ("finetune/seg-unet-sim-vlp16", ["objective.class_weights=[1,2]"],
         "`objective.class_weights` = [1.0, 2.0]: expected one weight per class (19)"),
        ("finetune/seg-unet-sim-vlp16", ["classes=null"], "`classes` is missing: semantic_segmentation predicts"),
        ("pretrain/spot-unet-sim-semantic", ["objective.target=semantik"],
         "`objective.target`: Invalid value 'semantik', expected one of [semantic, geometric]"),
        ("pretrain/spot-unet-sim-semantic", ["objective.occupancy_voxel_size=[0.3,0.3,0.3]"],
         "`objective.occupancy_voxel_size` = [0.3, 0.3, 0.3]: expected a whole multiple of voxelization.voxel_size"),
        (["data/sim_hdl64", "voxelization/25m-0.2m", "model/unet_small", "objective/centerpoint"], [],
         "`model.name` = 'sparse_unet': gives per-voxel features, but centerpoint_detection needs a BEV map"),
        ("finetune/det-bev-sim-hdl64", ["objective.nms=nms"],
         "`objective.nms`: Invalid value 'nms', expected one of [circle, bev_iou]"),
        ("finetune/det-bev-sim-hdl64", ["objective.class_names=[car,bus]"],
         "`objective.class_map`: maps no box class onto ['bus'] (of class_names)"),
        ("finetune/det-bev-sim-hdl64", ["objective.regression_channel_weights=[1,1]"],
         "`objective.regression_channel_weights` = [1.0, 1.0]: expected 8 values, found 2"),
        ("finetune/det-bev-sim-hdl64", ["objective.eval_iou_thresholds=[0.5]"],
         "`objective.eval_iou_thresholds` = [0.5]: expected one value per class (4)"),
        ("pretrain/also-unet-sim", ["objective.queries.front_max=0.01"],
         "`objective.queries.front_max` = 0.01: expected more than front_min (0.05)"),
        ("pretrain/also-unet-sim", ["model.channels=[16]"], "`model.channels` = [16]: expected at least 2 values"),
        ("pretrain/spot-bev-sim-semantic", ["model.blocks=[1,1]"],
         "`model.blocks` = [1, 1]: expected one block count per stage (3 channels)"),
        # Issue 14 item 17: the simulator's messages did not name the key.
        ("pretrain/also-unet-sim", ["data.train.frames=0"], "`data.train.frames` = 0: expected an integer >= 1"),
        ("pretrain/also-unet-sim", ["data.val.sensor=hdl65"],
         "`data.val.sensor`: Invalid value 'hdl65', expected one of [hdl64, hdl32, vlp16, os128]"),
        ("pretrain/also-unet-sim", ["voxelization.voxel_size=[0.2,-0.2,0.2]"],
         "`voxelization.voxel_size[1]` = -0.2: expected a number > 0"),
        ("pretrain/spot-unet-sim-geometric", ["data.train.class_balanced=true"],
         "`data.train.class_balanced` = true: needs labels: set use_labels: true or class_balanced: false"),
        ("pretrain/also-unet-sim", ["data.train.class_balanced=true", "data.train.use_labels=true"],
         "`data.train.class_balanced` = true: weights frames by their classes: declare the experiment's `classes`"),
        (["data/kitti_object_real", "voxelization/25m-0.2m", "classes/semantickitti", "model/unet_small",
          {"objective": {"name": "semantic_segmentation"}}], ["data.train.root=.", "data.val.root=."],
         "`data.train.name` = 'kitti_object': its frames carry no per-point labels, which semantic_segmentation"),
        # Issue 13 item 1: an old-style config says where its grid moved.
        ("finetune/seg-unet-sim-vlp16", ["data.train.point_cloud_range=[-20,-20,-3,20,20,2]"],
         "`data.train.point_cloud_range` moved to `voxelization.point_cloud_range`: the voxel grid is declared once"),
    ],
)
def test_shipped_components_refuse_what_they_cannot_train(tmp_path, config, overrides, message):
    """`config`: a shipped config, or shipped parts (and sections) composed into one."""
    if isinstance(config, list):
        bases = [str(CONFIGS / f"{part}.yaml") for part in config if isinstance(part, str)]
        sections = {key: value for part in config if isinstance(part, dict) for key, value in part.items()}
        path = tmp_path / "composed.yaml"
        path.write_text(yaml.safe_dump({"_base_": bases, "name": "composed", **sections}))
    else:
        path = CONFIGS / f"{config}.yaml"
    result = CliRunner().invoke(main, ["finetune", "-c", str(path), *overrides])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_config_error_from_a_component_check_is_one_line_in_a_real_process(tmp_path):
    config = CONFIGS / "finetune" / "seg-unet-sim-vlp16.yaml"
    script = Path(sys.executable).with_name("spot-train")
    result = subprocess.run([script, "finetune", "-c", str(config), "data.val.use_labels=false"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {config}: `data.val.use_labels` = false: semantic_segmentation needs labelled frames (set it true)"
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_cuda_device_is_one_line(tmp_path, toy):
    """Issue 14 item 13: `train.device=cuda` on a machine without CUDA was a torch traceback."""
    result = CliRunner().invoke(main, ["pretrain", "-c", str(toy.write_config(tmp_path)), "train.device=cuda"])
    assert result.exit_code == 2
    assert "`train.device` = 'cuda' but torch" in result.output and "finds no CUDA device" in result.output
    assert len(result.output.strip().splitlines()) == 1


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
