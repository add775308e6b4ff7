"""Checkpoints: round trip, refusal of partial or corrupt ones by file name, pruning, loading by name."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import re

import pytest
import torch
from torch import nn

from spot.trainer.engine import checkpoint
from spot.trainer.engine.checkpoint import (
    CheckpointError,
    checkpoint_name,
    list_checkpoints,
    load_pretrained,
    load_weights,
    prune_checkpoints,
    read_checkpoint,
    remove_temporaries,
    save_checkpoint,
    write_atomically,
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


class Payload:
    """What an attacker's pickle would run on load."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def rewrite_manifest(path):
    """Make the manifest agree with the files, as someone tampering with a checkpoint would."""
    manifest = json.loads((path / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (path / name).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (path / "manifest.json").write_text(json.dumps(manifest))


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


def test_prune_keeps_the_newest_and_removes_only_its_own_temporaries(tmp_path):
    """Issue 14 #3: another process's unfinished write is not pruning's to delete."""
    for step in range(1, 6):
        save(tmp_path, step)
    (tmp_path / ".step_0000009.tmp-123").mkdir()  # another process's
    (tmp_path / f".step_0000009.tmp-{os.getpid()}").mkdir()  # this process's, left by an interrupted write
    prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000004", "step_0000005"]
    assert [p.name for p in tmp_path.glob(".*tmp*")] == [".step_0000009.tmp-123"]
    remove_temporaries(tmp_path)  # the run folder's lock holder: every other writer is gone
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_full_disk_leaves_no_partial_checkpoint_behind(tmp_path, monkeypatch):
    """Issue 14 #8: ENOSPC halfway through train_state.pt removes the temporary folder and keeps `last`."""
    save(tmp_path, 1)
    real_write = checkpoint._write_synced

    def fill_the_disk(path, data):
        if path.name == "train_state.pt":
            path.write_bytes(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write_synced", fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        save(tmp_path, 2)
    assert not list(tmp_path.glob(".*tmp*")) and [p.name for p in list_checkpoints(tmp_path)] == ["step_0000001"]
    assert read_checkpoint(tmp_path).train_state["step"] == 1


def test_a_pickle_in_train_state_is_a_checkpoint_error_without_unsafe_advice(tmp_path):
    """Issue 14 #19: a tampered train_state.pt (manifest updated to match) is refused in one line."""
    path = save(tmp_path, 1)
    (path / "train_state.pt").write_bytes(pickle.dumps(Payload()))
    rewrite_manifest(path)
    with pytest.raises(CheckpointError) as refused:
        read_checkpoint(path)
    message = str(refused.value)
    assert message.startswith(f"{path / 'train_state.pt'}: holds Python objects besides tensors")
    assert "weights_only" not in message and "\n" not in message


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"schema_version": 1, "files": ["model.safetensors"]}, "malformed manifest: `files` is a list"),
        (["model.safetensors"], "malformed manifest: a list at the top"),
        ({"schema_version": "1", "files": {}}, "malformed manifest: `schema_version` is '1'"),
        ({"schema_version": 1, "files": {"model.safetensors": [1, 2], "train_state.pt": {}, "config.yaml": {},
                                         "meta.json": {}}}, "model.safetensors: the manifest's entry is [1, 2]"),
    ],
)  # fmt: skip
def test_a_malformed_manifest_is_a_checkpoint_error(tmp_path, manifest, message):
    """Issue 14 #13: a manifest of the wrong shape is named, not an AttributeError."""
    path = save(tmp_path, 1)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=re.escape(message)):
        read_checkpoint(path)


def test_load_weights_names_and_counts_what_does_not_fit():
    """Issue 14 #13: another model's config -> one line naming the config and the mismatched tensors."""
    with pytest.raises(CheckpointError) as refused:
        load_weights(Net(width=4), {**Net().state_dict(), "extra.weight": torch.zeros(1)}, "other.yaml")
    assert str(refused.value) == (
        "other.yaml: builds a model whose tensors do not fit the checkpoint's (4 in the model, 5 in the "
        "checkpoint): 1 not in the model (extra.weight); 3 of another shape (backbone.weight, backbone.bias, "
        "head.weight)"
    )
    model = Net()
    load_weights(model, Net().state_dict(), "same.yaml")


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


def test_a_result_killed_while_being_written_leaves_the_old_one_whole(tmp_path, monkeypatch):
    result = tmp_path / "result.json"
    write_atomically(result, '{"miou": 0.5}')
    assert result.read_text() == '{"miou": 0.5}'

    def killed(*_):  # the process dies after writing the new text, before renaming it into place
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(result, '{"miou": 0.7, "curve": [')
    assert result.read_text() == '{"miou": 0.5}'  # a resume reads the old result, not half of the new one
    monkeypatch.undo()
    write_atomically(result, '{"miou": 0.7}')  # the next write replaces the leftover partial too
    assert result.read_text() == '{"miou": 0.7}' and [p.name for p in tmp_path.iterdir()] == ["result.json"]
