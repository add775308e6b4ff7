"""With `.[train,export,dev]` only (no ROS 2 wheels, rosbags or mcap) the suite collects and the tests needing
them skip with a reason. `without_extras/sitecustomize.py` on PYTHONPATH makes those packages absent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKER = Path(__file__).with_name("without_extras")


def run_without_extras(*arguments: str) -> subprocess.CompletedProcess:
    python_path = os.pathsep.join(filter(None, [str(BLOCKER), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path}
    command = [sys.executable, *arguments]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_the_blocker_makes_the_extras_absent():
    result = run_without_extras("-c", "import sensor_msgs.msg")
    assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr


@pytest.mark.slow
def test_every_test_module_collects_without_the_extras():
    result = run_without_extras("-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.splitlines()[-1]


def test_ros_and_bag_tests_skip_with_a_reason_without_the_extras():
    modules = ["tests/ros_node", "tests/runtime/io/test_rosbag.py"]
    result = run_without_extras("-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "not slow", *modules)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.splitlines()[-1]
    assert "passed" in summary and "skipped" in summary and "failed" not in summary, summary
    assert "needs the ROS 2 wheels" in result.stdout and "could not import 'rclpy'" in result.stdout
    assert "bag tests need rosbags" in result.stdout
