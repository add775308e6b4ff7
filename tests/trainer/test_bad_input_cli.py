"""spot-train and spot-export on generated bad files and keys, as a user runs them (issue 14, trainer part).

Every case is a real process: exit code 2, exactly one `Error:` line naming the file, folder or key at fault,
and no traceback. The cases that need a checkpoint get one written directly (no training).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spot.sim import SimulatedSequence
from spot.sim.writer import write_sequence

REPO = Path(__file__).resolve().parents[2]
SEGMENTATION = REPO / "configs" / "finetune" / "seg-unet-sim-vlp16.yaml"


def cli(command: str, *args: str | Path) -> str:
    """Run a spot command; assert exit 2, one `Error:` line and no traceback; return that line."""
    result = subprocess.run(
        [Path(sys.executable).with_name(command), *map(str, args)], capture_output=True, text=True, timeout=120
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return errors[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A two-frame SemanticKITTI-layout folder, written by the simulator."""
    root = tmp_path_factory.mktemp("data")
    sequence = SimulatedSequence("vlp16", frames=2, seed=0, horizontal_resolution_deg=2.0)
    write_sequence(sequence, root, 0, occupancy_grid=None, progress=False)
    return root


def folder_config(folder: Path, data_root: Path) -> Path:
    """A segmentation config training on `data_root`, into folder/run."""
    values = {
        "_base_": [str(REPO / "configs" / part) for part in
                   ("model/unet_small.yaml", "voxelization/25m-0.2m.yaml", "classes/semantickitti.yaml")],
        "name": "bad-input",
        "data": {"train": {"name": "semantickitti", "root": str(data_root), "sequences": ["00"]}},
        "objective": {"name": "semantic_segmentation"},
        "train": {"batch_size": 1, "max_steps": 1, "num_workers": 0, "output_dir": str(folder / "run")},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(values))
    return folder / "config.yaml"


def fake_checkpoint(config_path: Path, overrides: tuple[str, ...] = ()) -> Path:
    """The checkpoint folder of a run of `config_path` at step 1 (the weights of a freshly built task)."""
    import torch

    from spot.trainer.config import load_config, to_yaml
    from spot.trainer.engine.checkpoint import save_checkpoint
    from spot.trainer.engine.run import build_task, experiment_info

    config = load_config(config_path, overrides)
    info = experiment_info(config)
    torch.manual_seed(0)
    task = build_task(config, info)
    meta = {"stage": "finetune", "step": 1, "dataset_info": info.to_dict()}
    folder = config.output_dir / "checkpoints"
    return save_checkpoint(folder, "step_0000001", task.state_dict(), {"step": 1}, to_yaml(config), meta)


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def rewrite_manifest(checkpoint: Path, change) -> None:
    """Edit the manifest (after making it agree with the files, as someone tampering with them would)."""
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (checkpoint / name).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (checkpoint / "manifest.json").write_text(json.dumps(change(manifest)))


def test_a_truncated_scan_is_named_before_training(dataset, tmp_path):
    """#1: refused before step 1, not a DataLoader worker's traceback mid-epoch."""
    broken = tmp_path / "data"
    shutil.copytree(dataset, broken)
    scan = broken / "sequences" / "00" / "velodyne" / "000001.bin"
    scan.write_bytes(scan.read_bytes()[:-6])
    line = cli("spot-train", "finetune", "-c", folder_config(tmp_path / "exp", broken))
    assert line.startswith(f"Error: 1 of the 2 frames to read cannot be used: {scan}: size ")


def test_a_second_training_into_a_held_run_folder(dataset, tmp_path):
    """#3: the holder's PID and the folder."""
    from spot.trainer.engine.run_folder import claim_run_folder

    config = folder_config(tmp_path, dataset)
    with claim_run_folder(tmp_path / "run"):
        line = cli("spot-train", "finetune", "-c", config)
    assert line.startswith(f"Error: another training (PID {os.getpid()}) is running in {tmp_path / 'run'}: ")


def test_an_output_folder_that_cannot_be_written(dataset, tmp_path):
    """#8: one line naming the folder."""
    (tmp_path / "file").write_text("")
    config = folder_config(tmp_path, dataset)
    line = cli("spot-train", "finetune", "-c", config, f"train.output_dir={tmp_path}/file/run")
    assert line == f"Error: cannot write {tmp_path}/file/run: Not a directory"


def test_resume_with_another_config(dataset, tmp_path):
    """#5: the differing keys, and config.yaml untouched."""
    config = folder_config(tmp_path, dataset)
    fake_checkpoint(config)
    line = cli("spot-train", "finetune", "-c", config, "--resume", "train.seed=5", "optim.lr=0.5")
    assert "another config than the run's" in line and "optim.lr 0.001 -> 0.5, train.seed 0 -> 5." in line
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_a_pickle_in_train_state(dataset, tmp_path):
    """#19: a checkpoint error line, and no advice to load it unsafely."""
    config = folder_config(tmp_path, dataset)
    checkpoint = fake_checkpoint(config)
    (checkpoint / "train_state.pt").write_bytes(pickle.dumps(Payload()))
    rewrite_manifest(checkpoint, lambda manifest: manifest)
    line = cli("spot-train", "finetune", "-c", config, "--resume")
    assert line.startswith(f"Error: {checkpoint.resolve()}/train_state.pt: holds Python objects besides tensors")
    assert "weights_only" not in line


def test_a_manifest_whose_files_is_a_list(dataset, tmp_path):
    """#13: spot-export names the manifest."""
    checkpoint = fake_checkpoint(folder_config(tmp_path, dataset))
    rewrite_manifest(checkpoint, lambda manifest: {**manifest, "files": list(manifest["files"])})
    line = cli("spot-export", checkpoint, "-o", tmp_path / "artifact")
    assert line.startswith(f"Error: {checkpoint.resolve()}/manifest.json: malformed manifest: `files` is a list")


def test_eval_with_another_models_config(dataset, tmp_path):
    """#13: the config named, the mismatched tensors counted."""
    config = folder_config(tmp_path, dataset)
    checkpoint = fake_checkpoint(config)
    narrow = ["model.channels=[8,16,32,64]", f"data.val={{name: semantickitti, root: {dataset}}}"]
    line = cli("spot-train", "eval", "--ckpt", checkpoint, "-c", config, *narrow)
    assert line.startswith(f"Error: {config}: builds a model whose tensors do not fit the checkpoint's (")
    assert "of another shape (" in line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--opset", "99"], "Error: opset 99 is newer than torch's ONNX exporter writes (<= 20)"),
        (["--max-points", "0"], "Error: max_points 0: expected a positive number of points"),
    ],
)
def test_export_options_are_checked_first(tmp_path, options, message):
    """#13 (--opset 99) and #17 (--max-points 0): refused before the checkpoint is read."""
    assert cli("spot-export", tmp_path / "missing", "-o", tmp_path / "artifact", *options) == message


def test_export_onto_a_folder_that_is_not_an_artifact(tmp_path):
    """#17: the user's folder is named, before any export work."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("")
    line = cli("spot-export", tmp_path / "missing", "-o", tmp_path / "notes")
    assert line == f"Error: {tmp_path / 'notes'}: exists and is not a spot artifact: refusing to replace it"
