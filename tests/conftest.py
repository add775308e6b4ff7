"""Markers that skip with a reason where a GPU, TensorRT, ROS 2 or the real LiDAR samples are absent."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from spot.runtime.ros.environment import apply_local_ros_defaults

REPO = Path(__file__).resolve().parents[1]
LIDAR_DATA = Path(os.environ.get("SPOT_LIDAR_DATA", REPO.parent / "shared" / "data" / "lidar"))

# Every process a test starts that may touch ROS 2 keeps DDS discovery on this machine, on a DDS domain of this
# test session's own (1-100, so sessions running side by side do not hear each other), with a Fast DDS profile
# that carries full-size scans over best-effort QoS (see spot.runtime.ros.environment).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = os.environ.get("SPOT_TEST_ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
apply_local_ros_defaults()


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _reason_to_skip(marker: str) -> str | None:
    if marker == "gpu" and not _cuda_available():
        return "needs a CUDA device"
    if marker == "trt" and importlib.util.find_spec("tensorrt") is None:
        return "needs TensorRT (pip install tensorrt, on a machine with a GPU)"
    if marker == "ros" and importlib.util.find_spec("rclpy") is None:
        return "needs the ROS 2 wheels (pip install '.[ros]')"
    if marker == "realdata" and not LIDAR_DATA.is_dir():
        return f"needs the real LiDAR samples in {LIDAR_DATA}"
    return None


def pytest_collection_modifyitems(config, items):
    reasons: dict[str, str | None] = {}
    for item in items:
        for marker in ("gpu", "trt", "ros", "realdata"):
            if marker in item.keywords:
                if marker not in reasons:
                    reasons[marker] = _reason_to_skip(marker)
                if reasons[marker]:
                    item.add_marker(pytest.mark.skip(reason=reasons[marker]))


@pytest.fixture(scope="session")
def lidar_data() -> Path:
    """The real LiDAR samples folder (tests using it carry the `realdata` marker)."""
    if not LIDAR_DATA.is_dir():
        pytest.skip(f"needs the real LiDAR samples in {LIDAR_DATA}")
    return LIDAR_DATA
