"""spot-replay publishes recorded scans at the asked rate, loops, exits 0 on Ctrl-C, says what it needs, and
refuses a damaged bag in one line. It runs as pip installed it (spot_ros's console script)."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from spot.runtime import Scan
from spot.runtime.io import write_scan


@pytest.fixture(scope="module")
def spot_replay(spot_ros_prefix) -> str:
    return str(spot_ros_prefix / "bin" / "spot-replay")


@pytest.mark.ros
def test_paced_keeps_an_absolute_schedule():
    from spot_ros.replay import paced  # imports rclpy

    started = time.monotonic()
    stamps = [time.monotonic() - started for _ in paced(range(6), rate_hz=50.0)]
    np.testing.assert_allclose(stamps, np.arange(6) * 0.02, atol=0.012)


def write_folder(folder: Path, sizes=(300, 400, 500)) -> None:
    rng = np.random.default_rng(0)
    for i, size in enumerate(sizes):
        write_scan(folder / f"{i:06d}.bin", Scan(rng.uniform(-20, 20, (size, 4)).astype(np.float32)))


@pytest.mark.ros
def test_replay_loops_a_folder_at_its_rate_and_stops_cleanly_on_ctrl_c(tmp_path, spot_replay, ros_env):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import PointCloud2

    write_folder(tmp_path)
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("replay_listener", context=context)
    received: list[tuple[float, int, str]] = []
    node.create_subscription(
        PointCloud2,
        "/replay_test/points",
        lambda m: received.append((time.monotonic(), m.width, m.header.frame_id)),
        qos_profile_sensor_data,
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    command = [spot_replay, str(tmp_path), "--topic", "/replay_test/points", "--rate", "20", "--loop"]
    replay = subprocess.Popen(
        command,
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a fresh environment compiles every module on the first start
        while len(received) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        replay.send_signal(signal.SIGINT)
        try:
            stdout, stderr = replay.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            replay.kill()
            stdout, stderr = replay.communicate()
            stderr = f"spot-replay still running 30 s after Ctrl-C\n{stderr}"
        executor.shutdown()  # always: a spinning executor left behind aborts the interpreter at exit
        rclpy.shutdown(context=context)
    assert replay.returncode == 0, stderr
    assert "published" in stdout and "Traceback" not in stderr
    sizes = [width for _, width, _ in received[:8]]
    start = sizes.index(300)  # the first cloud after discovery may be any of the three
    assert sizes[start : start + 4] == [300, 400, 500, 300][: len(sizes[start : start + 4])]
    assert {frame for *_, frame in received} == {"lidar"}
    intervals = np.diff([t for t, *_ in received[:8]])
    assert np.median(intervals) == pytest.approx(0.05, abs=0.01)


def test_without_rclpy_replay_says_what_to_install(tmp_path, ros_env):
    write_folder(tmp_path)
    code = f"import sys; sys.modules['rclpy'] = None\nfrom spot_ros.replay_cli import main\nmain([{str(tmp_path)!r}])"
    result = subprocess.run([sys.executable, "-c", code], env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs the ROS 2 Python wheels" in result.stderr and "spot-lidar[ros]" in result.stderr


@pytest.mark.ros
def test_a_damaged_bag_is_one_error_line_and_exit_2(damaged_bags, spot_replay, ros_env):
    for kind, path in damaged_bags.items():
        result = subprocess.run([spot_replay, str(path)], env=ros_env, capture_output=True, text=True, timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and result.stdout == "", (kind, result.stdout, result.stderr)
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: is not a readable bag"), (kind, lines)
