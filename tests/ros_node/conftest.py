"""spot_ros installed with pip for the node tests (tests/conftest.py sets the DDS domain and discovery range).

`spot_ros` is pip-installed (no deps, no build isolation) into a temporary prefix once per session, so every
node test runs the package exactly as a user's `pip install ./ros_node` lays it out and finds the executable
through the ament index, as `ros2 run` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spot.runtime.ros.environment import apply_local_ros_defaults

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "ros_node"))  # the in-process unit tests import spot_ros from the source tree


@pytest.fixture(scope="session")
def spot_ros_prefix(tmp_path_factory) -> Path:
    """A prefix holding `pip install ./ros_node` (share/ament_index, lib/spot_ros/perception_node, site-packages)."""
    prefix = tmp_path_factory.mktemp("spot_ros_prefix")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--prefix",
        str(prefix),
        str(REPO / "ros_node"),
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    return prefix


@pytest.fixture(scope="session")
def ros_env(spot_ros_prefix) -> dict[str, str]:
    """Environment for processes that run spot_ros from `spot_ros_prefix` on this session's DDS domain."""
    site = next(spot_ros_prefix.glob("lib/python*/site-packages"))
    env = apply_local_ros_defaults(dict(os.environ))
    env.update(
        AMENT_PREFIX_PATH=os.pathsep.join([str(spot_ros_prefix), sys.prefix]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(site), str(Path(__file__).parent), os.environ.get("PYTHONPATH")])),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        RCUTILS_LOGGING_BUFFERED_STREAM="0",
    )
    return env


@pytest.fixture(scope="session")
def perception_node_executable(ros_env) -> Path:
    """lib/spot_ros/perception_node as `ros2 run spot_ros perception_node` finds it through the ament index."""
    from .harness import resolve_executable

    return resolve_executable("spot_ros", "perception_node", ros_env["AMENT_PREFIX_PATH"])


@pytest.fixture
def launch_node(ros_env, tmp_path):
    """launch(argv, namespace) -> (NodeProcess, connected Probe) for a node started as `argv` + ROS args under
    `namespace`; both are stopped after the test."""
    from .harness import NodeProcess, Probe

    started = []

    def launch(argv: list[str], namespace: str):
        node = NodeProcess(argv, ros_env, tmp_path / f"{namespace.strip('/')}.log")
        probe = Probe(namespace)
        started.append((node, probe))
        assert probe.wait_connected(60.0), f"node did not come up:\n{node.log()}"
        return node, probe

    yield launch
    for node, probe in started:
        probe.close()
        if node.alive():
            node.stop()
