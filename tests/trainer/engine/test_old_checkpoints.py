"""Checkpoints written before `voxelization` / `classes` were experiment sections still evaluate, export and
fine-tune: their config.yaml repeats the grid under `data.train` / `data.val`, and meta.json records both."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from spot.export.exporter import load_task
from spot.trainer.cli.train import main
from spot.trainer.config import SpotConfigError, load_config, to_plain
from spot.trainer.engine.checkpoint import save_checkpoint
from spot.trainer.engine.run import build_task, experiment_info, train

CONFIGS = Path(__file__).parents[3] / "configs"
TINY = ["data.train.seeds=[7]", "data.train.frames=1", "data.train.horizontal_resolution_deg=2.0",
        "data.val.seeds=[8]", "data.val.frames=1", "data.val.horizontal_resolution_deg=2.0",
        "train.batch_size=1", "train.num_workers=0"]  # fmt: skip


def old_layout(config) -> dict:
    """The config as the trainer wrote it before: every data section with its own grid, no `voxelization`,
    no `classes`, and no data key that did not exist yet (`label_map`)."""
    values = to_plain(config)
    grid = values.pop("voxelization")
    values.pop("classes")
    for section in values["data"].values():
        if section is not None:
            section.pop("label_map", None)
            section.update(grid)
    return values


@pytest.fixture(scope="module")
def old_checkpoint(tmp_path_factory):
    """A seed-0 segmentation checkpoint whose config.yaml has the old layout (meta.json is unchanged)."""
    folder = tmp_path_factory.mktemp("old")
    config = load_config(CONFIGS / "finetune" / "seg-unet-sim-vlp16.yaml", TINY)
    info = experiment_info(config)
    torch.manual_seed(0)
    task = build_task(config, info)
    meta = {"stage": "finetune", "step": 0, "dataset_info": info.to_dict()}
    config_yaml = yaml.safe_dump(old_layout(config), sort_keys=False)
    return save_checkpoint(folder / "checkpoints", "step_0000000", task.state_dict(), {}, config_yaml, meta)


def test_the_old_layout_is_refused_as_a_user_config_but_read_from_a_checkpoint(old_checkpoint):
    with pytest.raises(SpotConfigError, match=r"`data.train.point_cloud_range` moved to `voxelization"):
        load_config(old_checkpoint / "config.yaml")
    recorded = json.loads((old_checkpoint / "meta.json").read_text())["dataset_info"]
    config = load_config(old_checkpoint / "config.yaml", recorded=recorded)
    assert config.voxelization.grid.to_dict() == recorded["voxelization"]
    assert config.classes.class_names == tuple(recorded["class_names"]) and len(recorded["class_names"]) == 19


def test_eval_and_export_read_an_old_checkpoint(old_checkpoint):
    result = CliRunner().invoke(main, ["eval", "--ckpt", str(old_checkpoint)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    assert 0 <= metrics["miou"] <= 1 and 0 <= metrics["accuracy"] <= 1
    task, objective, _ = load_task(old_checkpoint)
    assert objective == "semantic_segmentation" and task.head.out_features == 19
    assert task.info.grid.point_cloud_range == (-25.6, -25.6, -3.0, 25.6, 25.6, 1.8)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["voxelization.voxel_size=[0.4,0.4,0.4]"], "`voxelization` {'point_cloud_range'"),
        (["classes.label_map=null", "classes.names=[road,car]"], "`classes` (2: road, car) differ from the checkpoint"),
    ],
)
def test_eval_with_a_config_declaring_another_spec_is_refused(old_checkpoint, overrides, message):
    """The weights were built for the recorded grid and classes: evaluating them on others is one error line."""
    config = CONFIGS / "finetune" / "seg-unet-sim-vlp16.yaml"
    result = CliRunner().invoke(main, ["eval", "--ckpt", str(old_checkpoint), "-c", str(config), *TINY, *overrides])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_fine_tuning_loads_an_old_checkpoints_backbone(old_checkpoint, tmp_path, caplog):
    overrides = [*TINY, "train.max_steps=1", f"train.output_dir={tmp_path / 'run'}", "data.val=null",
                 f"pretrained.path={old_checkpoint}"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="spot"):
        train(load_config(CONFIGS / "finetune" / "seg-unet-sim-vlp16.yaml", overrides), stage="finetune")
    loaded = [r.getMessage() for r in caplog.records if "pre-trained weights from" in r.getMessage()]
    assert loaded and ", 0 new, " in loaded[0] and "loaded 0 " not in loaded[0]
