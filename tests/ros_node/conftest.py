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

from spot_ros.environment import apply_local_ros_defaults

REPO = Path(__file__).resolve().parents[2]


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
    """launch(argv, namespace, env=ros_env, connect=True) -> (NodeProcess, Probe) for a node started as `argv`
    + ROS args under `namespace`; with `connect`, once it subscribes and publishes (an active node), else once its
    lifecycle services answer. Both are stopped after the test."""
    from .harness import NodeProcess, Probe

    started = []

    def launch(argv: list[str], namespace: str, env: dict[str, str] | None = None, connect: bool = True):
        node = NodeProcess(argv, env or ros_env, tmp_path / f"{namespace.strip('/')}.log")
        probe = Probe(namespace)
        started.append((node, probe))
        up = probe.wait_connected(60.0) if connect else probe.lifecycle_state(60.0) is not None
        assert up, f"node did not come up:\n{node.log()}"
        return node, probe

    yield launch
    for node, probe in started:
        probe.close()
        if node.alive():
            node.stop()


SMALL_BOUND = 30_000  # max_points of `bounded_artifact`


@pytest.fixture(scope="session")
def bounded_artifact(segmentation_checkpoint, tmp_path_factory) -> Path:
    """The portable export of `segmentation_checkpoint` with `--max-points` 30,000, verified on a simulated-size
    random scan (no real data needed)."""
    pytest.importorskip("torch", reason="exporting an artifact needs the train and export extras")
    import numpy as np

    from spot.export.exporter import ExportOptions, export_checkpoint
    from spot.runtime import Sample, Scan

    rng = np.random.default_rng(0)
    points = rng.uniform([-40, -40, -2.5, 0], [40, 40, 1.5, 1], (20_000, 4)).astype(np.float32)
    output = tmp_path_factory.mktemp("artifact") / "bounded"
    export_checkpoint(
        segmentation_checkpoint, output, [Sample(Scan(points))], ExportOptions("portable", max_points=SMALL_BOUND)
    )
    return output
