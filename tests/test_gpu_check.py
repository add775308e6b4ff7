"""benchmarks/gpu_check.sh --dry-run: the prepared GPU check's cheap part runs on CPU and prints its JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dry_run_prints_a_json_line_per_step_and_passes():
    result = subprocess.run(
        ["bash", str(REPO / "benchmarks/gpu_check.sh"), "--dry-run", "gpu_tests", "gpu_pretrain"],
        env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    steps = {line["step"]: line for line in lines if "step" in line}
    assert steps["imports"]["missing"] == []
    assert steps["gpu_tests"]["rc"] == 0 and steps["gpu_pretrain"]["rc"] == 0
    runs = [line for line in lines if line.get("benchmark") == "gpu_pretrain"]
    assert {(run["backend"], run["precision"]) for run in runs} == {("native", "fp32"), ("native", "bf16")}
    assert all(run["loss_last"] > 0 and run["voxels_per_scan"] > 1000 for run in runs)
