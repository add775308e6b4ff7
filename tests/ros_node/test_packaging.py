"""spot_ros installs as `ros2 run` expects, with pip (every session) and with colcon (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
from .harness import resolve_executable

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[2]


def check_installed_tree(prefix: Path, executable: Path) -> None:
    assert executable == prefix / "lib" / "spot_ros" / "perception_node"
    for launcher in (executable, prefix / "lib" / "spot_ros" / "replay", prefix / "bin" / "spot-replay"):
        assert os.access(launcher, os.X_OK) and launcher.read_text().startswith("#!" + sys.executable), launcher
    share = prefix / "share" / "spot_ros"
    for file in ("package.xml", "launch/perception.launch.py"):
        assert (share / file).is_file(), file


def run_without_artifact(executable: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(executable), "--ros-args", "-r", "__ns:=/no_artifact"], env=env, capture_output=True, text=True, timeout=60
    )


def test_pip_install_puts_the_node_and_replay_where_ros2_run_finds_them(spot_ros_prefix, ros_env):
    executable = resolve_executable("spot_ros", "perception_node", ros_env["AMENT_PREFIX_PATH"])
    check_installed_tree(spot_ros_prefix, executable)
    result = run_without_artifact(executable, ros_env)
    assert result.returncode == 2
    assert "parameter 'artifact' is required" in result.stderr + result.stdout
    replay = subprocess.run(
        [str(executable.with_name("replay")), "--help"], env=ros_env, capture_output=True, text=True
    )
    assert replay.returncode == 0 and "Publish the scans in INPUT_PATH" in replay.stdout


@pytest.mark.slow
def test_colcon_build_in_a_workspace_installs_the_same_tree(tmp_path, ros_env):
    workspace = tmp_path / "ws"
    shutil.copytree(REPO / "ros_node", workspace / "src" / "spot_ros", ignore=shutil.ignore_patterns("build"))
    colcon = Path(sys.executable).parent / "colcon"  # run by this Python, whichever interpreter its shebang names
    env = {**ros_env, "AMENT_PREFIX_PATH": sys.prefix}
    build = subprocess.run(
        [sys.executable, str(colcon), "build", "--event-handlers", "console_direct-"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    prefix = workspace / "install" / "spot_ros"
    executable = resolve_executable("spot_ros", "perception_node", os.pathsep.join([str(prefix), sys.prefix]))
    check_installed_tree(prefix, executable)
    site = next(prefix.glob("lib/python*/site-packages"))
    result = run_without_artifact(executable, {**env, "PYTHONPATH": str(site)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "parameter 'artifact' is required" in result.stderr + result.stdout
