"""The loop end to end on the toy task: learning, run folder, exact resume after SIGKILL, torchrun parity."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from toy_task import REGISTRIES, write_config

from spot.runtime.errors import SpotInputError
from spot.trainer.config import load_config
from spot.trainer.engine.hooks import read_metrics
from spot.trainer.engine.run import train

TOY = Path(__file__).with_name("toy_task.py")


def run_in_process(folder: Path, overrides=(), resume=False, **train_values) -> Path:
    config = load_config(write_config(folder, **train_values), overrides, REGISTRIES)
    return train(config, stage="pretrain", resume=resume, registries=REGISTRIES)


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "checkpoints" / "last" / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def child_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}


def test_training_learns_and_fills_the_run_folder(tmp_path):
    run_dir = run_in_process(tmp_path)
    records = read_metrics(run_dir / "metrics.jsonl")
    train_losses = [r["loss"] for r in records if r["split"] == "train"]
    assert len(train_losses) == 18  # 3 epochs x 24 samples // 4, logged every step
    assert sum(train_losses[-3:]) < 0.8 * sum(train_losses[:3])
    val = [r for r in records if r["split"] == "val"]
    assert [r["step"] for r in val] == [6, 12, 18]  # end of every epoch
    assert val[-1]["accuracy"] > 0.7
    assert (run_dir / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    reloaded = load_config(run_dir / "config.yaml", registries=REGISTRIES)
    assert reloaded == load_config(tmp_path / "toy.yaml", registries=REGISTRIES)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "last",
        "step_0000006",
        "step_0000012",
        "step_0000018",
    ]


def test_same_config_same_weights_whatever_the_worker_count(tmp_path):
    a = run_in_process(tmp_path / "a", epochs=1, num_workers=0)
    b = run_in_process(tmp_path / "b", epochs=1, num_workers=2)
    assert_same_weights(final_weights(a), final_weights(b))


def test_fresh_start_refuses_to_overwrite_and_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(SpotInputError, match="no checkpoint to resume from"):
        run_in_process(tmp_path, resume=True, max_steps=2)
    run_in_process(tmp_path, max_steps=2)
    with pytest.raises(SpotInputError, match="already holds checkpoints: pass --resume"):
        run_in_process(tmp_path, max_steps=2)


@pytest.mark.slow
def test_resume_after_sigkill_mid_epoch_gives_the_same_weights(tmp_path):
    reference = run_in_process(tmp_path / "reference", ckpt_every=4)
    config = write_config(tmp_path / "killed", ckpt_every=4)
    checkpoints = tmp_path / "killed" / "run" / "checkpoints"
    child = subprocess.Popen(
        [sys.executable, str(TOY), str(config), "objective.step_delay_s=0.1"], env=child_env(), stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120  # a loaded 2-core machine starts torch slowly
    while not (checkpoints / "step_0000008").exists():  # step 8 = batch 2 of 6 in epoch 2
        assert child.poll() is None, child.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint at step 8 in time"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (checkpoints / "step_0000018").exists()  # it really died mid-run

    resumed = subprocess.run(  # the same config: a resume may not change what is computed
        [sys.executable, str(TOY), str(config), "objective.step_delay_s=0.1", "--resume"],
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(final_weights(tmp_path / "killed" / "run"), final_weights(reference))
    steps = [r["step"] for r in read_metrics(tmp_path / "killed" / "run" / "metrics.jsonl") if r["split"] == "train"]
    assert steps == list(range(1, 19))  # one clean history, no steps twice


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    overrides = ["model.dropout=0.0"]  # dropout draws differ per rank by design; the data order does not
    single = run_in_process(tmp_path / "single", overrides, epochs=2, batch_size=8)
    config = write_config(tmp_path / "ddp", epochs=2, batch_size=8)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2"]
    launcher += ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}"]
    env = {**child_env(), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    result = subprocess.run(
        [*launcher, str(TOY), str(config), *overrides], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]

    def curves(run_dir: Path) -> tuple[list[float], list[float]]:
        records = read_metrics(run_dir / "metrics.jsonl")
        losses = [r["loss"] for r in records if r["split"] == "train"]
        return losses, [r["miou"] for r in records if r["split"] == "val"]

    (single_loss, single_miou), (ddp_loss, ddp_miou) = curves(single), curves(tmp_path / "ddp" / "run")
    assert len(ddp_loss) == len(single_loss) == 6
    assert ddp_loss == pytest.approx(single_loss, rel=1e-5)
    assert ddp_miou == pytest.approx(single_miou, abs=1e-6)
    for key, value in final_weights(tmp_path / "ddp" / "run").items():
        torch.testing.assert_close(value, final_weights(single)[key], rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "ddp" / "run" / "checkpoints" / "last" / "meta.json").read_text())["step"] == 6


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_on_cuda_learns(tmp_path, amp):
    run_dir = run_in_process(tmp_path, [f"train.amp={amp}", "train.device=cuda"])
    losses = [r["loss"] for r in read_metrics(run_dir / "metrics.jsonl") if r["split"] == "train"]
    assert sum(losses[-3:]) < 0.8 * sum(losses[:3])
