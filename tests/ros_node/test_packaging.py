"""spot_ros installs as `ros2 run` expects, with pip (every session) and with colcon (slow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]


def resolve_executable(package: str, executable: str, ament_prefix_path: str) -> Path:
    """What `ros2 run PACKAGE EXECUTABLE` runs: <package prefix from the ament index>/lib/PACKAGE/EXECUTABLE."""
    from ament_index_python.packages import get_package_prefix, get_packages_with_prefixes

    previous = os.environ.get("AMENT_PREFIX_PATH")
    os.environ["AMENT_PREFIX_PATH"] = ament_prefix_path
    try:
        assert package in get_packages_with_prefixes(), f"{package} is not in the ament index"
        return Path(get_package_prefix(package)) / "lib" / package / executable
    finally:
        if previous is None:
            del os.environ["AMENT_PREFIX_PATH"]
        else:
            os.environ["AMENT_PREFIX_PATH"] = previous


def check_installed_tree(prefix: Path, executable: Path) -> None:
    assert executable == prefix / "lib" / "spot_ros" / "perception_node"
    assert os.access(executable, os.X_OK)
    assert executable.read_text().startswith("#!" + sys.executable)
    share = prefix / "share" / "spot_ros"
    for file in ("package.xml", "launch/perception.launch.py", "config/perception.yaml"):
        assert (share / file).is_file(), file


def run_without_artifact(executable: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(executable), "--ros-args", "-r", "__ns:=/no_artifact"], env=env, capture_output=True, text=True, timeout=60
    )


def test_pip_install_puts_the_node_where_ros2_run_finds_it(spot_ros_prefix, ros_env):
    executable = resolve_executable("spot_ros", "perception_node", ros_env["AMENT_PREFIX_PATH"])
    check_installed_tree(spot_ros_prefix, executable)
    result = run_without_artifact(executable, ros_env)
    assert result.returncode == 2
    assert "parameter 'artifact' is required" in result.stderr + result.stdout


@pytest.mark.slow
def test_colcon_build_in_a_workspace_installs_the_same_tree(tmp_path, ros_env):
    workspace = tmp_path / "ws"
    shutil.copytree(REPO / "ros_node", workspace / "src" / "spot_ros", ignore=shutil.ignore_patterns("build"))
    colcon = Path(sys.executable).parent / "colcon"
    env = {**ros_env, "AMENT_PREFIX_PATH": sys.prefix}
    build = subprocess.run(
        [str(colcon), "build", "--event-handlers", "console_direct-"],
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
