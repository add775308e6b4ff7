"""The installed node on a real exported artifact (no real data needed): a damaged artifact is one FATAL line and
exit 2, and a cloud over the artifact's `max_points` is refused without the node keeping its memory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spot.runtime import Scan
from spot.runtime.io.pointcloud2 import scan_to_cloud

pytestmark = pytest.mark.ros
pytest.importorskip("rclpy")
from .conftest import SMALL_BOUND  # noqa: E402
from .harness import node_arguments  # noqa: E402

OVER_BOUND = 20 * SMALL_BOUND  # 600k points, 9.6 MB: what a misconfigured driver or a merged cloud sends
MAX_MEMORY_GROWTH_MB = 30


def damaged_copies(artifact: Path, folder: Path) -> dict[str, Path]:
    """The artifact with model.onnx replaced by random bytes, cut in half, and with spot.json cut short."""
    copies = {}
    for case in ("random model.onnx", "truncated model.onnx", "truncated spot.json"):
        copy = shutil.copytree(artifact, folder / case.replace(" ", "_"))
        name = case.split()[1]
        data = (copy / name).read_bytes()
        damaged = np.random.default_rng(0).bytes(len(data)) if case.startswith("random") else data[: len(data) // 2]
        (copy / name).write_bytes(damaged)
        copies[case] = copy
    return copies


def test_a_damaged_artifact_is_one_fatal_line_and_exit_2(bounded_artifact, perception_node_executable, ros_env,
                                                         tmp_path):  # fmt: skip
    processes = {}
    for number, (case, artifact) in enumerate(damaged_copies(bounded_artifact, tmp_path).items()):
        command = [str(perception_node_executable), *node_arguments(f"/damaged_{number}", artifact=artifact)]
        processes[case] = subprocess.Popen(command, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for case, process in processes.items():
        output = process.communicate(timeout=120)[0].decode()
        fatal = [line for line in output.splitlines() if "FATAL" in line]
        assert process.returncode == 2 and "Traceback" not in output, (case, output)
        assert len(fatal) == 1 and case.split()[1] in fatal[0], (case, output)


def memory_mb(pid: int) -> float:
    """The process's own resident heap (RssAnon, MB): DDS shared-memory segments are not counted."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("RssAnon"))
    return int(line.split()[1]) / 1024


def test_a_cloud_over_max_points_is_refused_and_not_kept(launch_node, perception_node_executable, bounded_artifact):
    arguments = node_arguments("/bounded", artifact=bounded_artifact, num_threads=1)
    node, probe = launch_node([str(perception_node_executable), *arguments], "/bounded")
    rng = np.random.default_rng(1)
    small = scan_to_cloud(Scan(rng.uniform([-40, -40, -2, 0], [40, 40, 1, 1], (10_000, 4)).astype(np.float32)))
    huge = scan_to_cloud(Scan(rng.uniform([-40, -40, -2, 0], [40, 40, 1, 1], (OVER_BOUND, 4)).astype(np.float32)))
    for _ in range(3):  # the runtime's buffers settle on clouds it does process
        assert probe.publish_until_answered(small) is not None, node.log()
    before = memory_mb(node.pid)
    for _ in range(60):  # best effort: a 9.6 MB cloud may be lost; go on until three have been refused
        probe.publish(huge)
        if probe.wait_for(lambda: probe.latest_diagnostics().get("rejected_malformed", 0) >= 3, 1.0):
            break
    assert probe.latest_diagnostics().get("rejected_malformed", 0) >= 3, node.log()
    growth = memory_mb(node.pid) - before
    assert growth < MAX_MEMORY_GROWTH_MB, f"the node kept {growth:.0f} MB after refusing {OVER_BOUND}-point clouds"
    assert f"more than this artifact's bound of {SMALL_BOUND}" in node.log()
    assert probe.publish_until_answered(small) is not None and node.alive(), node.log()
    assert node.stop() == 0, node.log()
