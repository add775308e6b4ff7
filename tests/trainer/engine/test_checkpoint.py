"""Checkpoints: round trip, refusal of partial or corrupt ones by file name, pruning, loading by name."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spot.trainer.engine.checkpoint import (
    CheckpointError,
    checkpoint_name,
    list_checkpoints,
    load_pretrained,
    prune_checkpoints,
    read_checkpoint,
    save_checkpoint,
)


class Net(nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.backbone = nn.Linear(2, width)
        self.head = nn.Linear(width, 1)


def save(folder, step, model=None):
    model = model or Net()
    state = {"step": step, "rng": [{"torch": torch.get_rng_state()}], "optimizer": {"lr": 0.1}}
    meta = {"step": step, "dataset_info": {"class_names": ["a"], "voxelization": None}}
    return save_checkpoint(folder, checkpoint_name(step), model.state_dict(), state, "name: x\n", meta)


def test_round_trip_and_last_points_at_the_newest(tmp_path):
    model = Net()
    save(tmp_path, 1)
    path = save(tmp_path, 2, model)
    assert (tmp_path / "last").resolve() == path
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint.path == path and checkpoint.meta["schema_version"] == 1
    assert checkpoint.train_state["step"] == 2 and checkpoint.config_yaml == "name: x\n"
    for key, value in model.state_dict().items():
        assert torch.equal(checkpoint.weights[key], value)
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "manifest.json").unlink(), r"no manifest.json: the checkpoint is incomplete"),
        (lambda p: (p / "train_state.pt").unlink(), r"train_state.pt: missing"),
        (lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:-7]), "truncated"),
        (lambda p: (p / "manifest.json").write_text("{"), r"manifest.json: unreadable manifest"),
    ],
)
def test_partial_or_corrupt_checkpoints_are_refused_naming_the_file(tmp_path, damage, message):
    path = save(tmp_path, 3)
    damage(path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)


def test_a_flipped_byte_is_caught_by_the_hash(tmp_path):
    path = save(tmp_path, 3)
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model.safetensors: sha256 differs from the manifest"):
        read_checkpoint(path)


def test_prune_keeps_the_newest_and_removes_stale_temporaries(tmp_path):
    for step in range(1, 6):
        save(tmp_path, step)
    (tmp_path / ".step_0000009.tmp-123").mkdir()
    prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000004", "step_0000005"]
    assert not (tmp_path / ".step_0000009.tmp-123").exists()


def test_load_pretrained_reports_loaded_new_and_unused(tmp_path):
    source = Net()
    save(tmp_path, 1, source)
    target = Net()
    report = load_pretrained(target, tmp_path, prefix="backbone.")
    assert sorted(report.loaded) == ["backbone.bias", "backbone.weight"]
    assert report.missing == [] and sorted(report.unused) == ["head.bias", "head.weight"]
    assert torch.equal(target.backbone.weight, source.backbone.weight)
    assert not torch.equal(target.head.weight, source.head.weight)
    with pytest.raises(CheckpointError, match=r"holds no tensor of this model under the prefix 'encoder\.'"):
        load_pretrained(Net(), tmp_path, prefix="encoder.")
    with pytest.raises(CheckpointError, match=r"backbone.bias has shape \(3,\) in the checkpoint but \(4,\)"):
        load_pretrained(Net(width=4), tmp_path)


def test_train_state_loads_with_weights_only(tmp_path):
    path = save(tmp_path, 1)
    state = torch.load(path / "train_state.pt", weights_only=True)
    assert state["step"] == 1
    assert json.loads((path / "manifest.json").read_text())["files"].keys() == {
        "model.safetensors",
        "train_state.pt",
        "config.yaml",
        "meta.json",
    }
