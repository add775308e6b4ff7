"""The run folder: one training at a time (issue 14 #3), one line for a folder that cannot be written (#8)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from toy_task import REGISTRIES, write_config

from spot.trainer.config import load_config
from spot.trainer.engine import checkpoint
from spot.trainer.engine.checkpoint import list_checkpoints
from spot.trainer.engine.hooks import read_metrics
from spot.trainer.engine.run import train
from spot.trainer.engine.run_folder import RunFolderError, claim_run_folder, write_error


def run(folder: Path, resume: bool = False, **train_values) -> Path:
    config = load_config(write_config(folder, **train_values), (), REGISTRIES)
    return train(config, stage="pretrain", resume=resume, registries=REGISTRIES)


def test_a_second_training_into_a_held_run_folder_is_refused_naming_the_holder(tmp_path):
    with claim_run_folder(tmp_path / "run"):
        with pytest.raises(RunFolderError) as refused:
            run(tmp_path, max_steps=2)
        assert str(refused.value) == (
            f"another training (PID {os.getpid()}) is running in {tmp_path / 'run'}: wait for it to end, "
            "or set train.output_dir to another folder"
        )
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock"]  # nothing of it was written
    run(tmp_path, max_steps=2)  # released: the folder is free again
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step_0000002"]


def test_the_lock_of_a_killed_training_is_released_by_the_os(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from spot.trainer.engine.run_folder import claim_run_folder as c\n"
         f"with c(__import__('pathlib').Path({str(tmp_path)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = pytest.raises(RunFolderError, match=f"another training \\(PID {holder.pid}\\)")
        with refused, claim_run_folder(tmp_path):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with claim_run_folder(tmp_path):  # no stale lock after SIGKILL
        pass


def test_an_output_folder_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = load_config(write_config(tmp_path, max_steps=2, output_dir=str(blocker / "run")), (), REGISTRIES)
    with pytest.raises(RunFolderError) as refused:
        train(config, stage="pretrain", registries=REGISTRIES)
    assert str(refused.value) == f"cannot write {blocker / 'run'}: Not a directory"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "no space left on /runs/a (writing /runs/a/x): free some space, then --resume continues"),
        (errno.EDQUOT, "no space left on /runs/a (writing /runs/a/x)"),
        (errno.EACCES, "cannot write /runs/a (writing /runs/a/x): Permission denied"),
        (errno.EROFS, "cannot write /runs/a (writing /runs/a/x): Read-only file system"),
    ],
)
def test_write_errors_name_the_folder(code, message):
    assert str(write_error(Path("/runs/a"), OSError(code, os.strerror(code), "/runs/a/x"))).startswith(message)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_the_next_resume_works(tmp_path, monkeypatch):
    real_write = checkpoint._write_synced

    def full_from_step_4(path, data):
        if path.parent.name.startswith(".step_0000004.tmp-") and path.name == "train_state.pt":
            path.write_bytes(data[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write_synced", full_from_step_4)
    run_dir = tmp_path / "run"
    with pytest.raises(RunFolderError) as refused:
        run(tmp_path, ckpt_every=2, epochs=1)
    assert re.fullmatch(
        f"no space left on {run_dir} \\(writing {run_dir}/checkpoints/.step_0000004.tmp-\\d+/train_state.pt\\): "
        "free some space, then --resume continues the run",
        str(refused.value),
    )
    checkpoints = run_dir / "checkpoints"
    assert not list(checkpoints.glob(".*tmp*"))  # the partial write is gone
    assert [p.name for p in list_checkpoints(checkpoints)] == ["step_0000002"]

    monkeypatch.setattr(checkpoint, "_write_synced", real_write)  # space freed
    (checkpoints / ".step_0000004.tmp-999999").mkdir()  # what a writer killed mid-checkpoint leaves
    run(tmp_path, resume=True, ckpt_every=2, epochs=1)
    assert not list(checkpoints.glob(".*tmp*"))  # swept by the lock's holder
    assert [p.name for p in list_checkpoints(checkpoints)][-1] == "step_0000006"
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl") if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
