"""The installed node on an exported artifact, fed real KITTI scans: its labels are spot.runtime's, under load too.

Uses the export fixtures (`segmentation_artifact`, `detection_artifact` in tests/conftest.py); the node is the
executable the ament index resolves, in its own process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import spot.runtime
from spot.runtime import IGNORE_INDEX
from spot.runtime.io import read_sample
from spot.runtime.io.pointcloud2 import scan_to_cloud

pytestmark = [pytest.mark.ros, pytest.mark.realdata]
pytest.importorskip("rclpy")
from .harness import node_arguments  # noqa: E402

KITTI_SCANS = [f"kitti_object/training/velodyne/00000{i}.bin" for i in range(3)]
UNLABELED = 255
MAX_MEMORY_GROWTH_MB = 50
WARM_UP_ROUNDS = 4


@pytest.fixture(scope="module")
def artifact(segmentation_artifact):
    return segmentation_artifact


@pytest.fixture(scope="module")
def kitti_scans(lidar_data):
    return [read_sample(lidar_data / path).scan for path in KITTI_SCANS]


@pytest.fixture
def start_node(launch_node, perception_node_executable, artifact):
    """start(namespace) -> (NodeProcess, Probe): the installed executable on the artifact, one engine thread."""
    return lambda namespace: launch_node(
        [str(perception_node_executable), *node_arguments(namespace, artifact=artifact, num_threads=1)], namespace
    )


def runtime_labels(artifact, scan) -> np.ndarray:
    """What spot.runtime gives the scan, in the node's output encoding (IGNORE_INDEX -> 255)."""
    perception = spot.runtime.Perception.load(artifact, num_threads=1)
    labels = perception(scan).labels
    return np.where(labels == IGNORE_INDEX, UNLABELED, labels)


def test_node_labels_equal_the_runtime_on_real_kitti_scans(start_node, artifact, kitti_scans):
    node, probe = start_node("/e2e_kitti")
    for scan in kitti_scans:
        output = probe.publish_until_answered(scan_to_cloud(scan), frame_id="velo_link")
        assert output is not None, node.log()
        assert output.frame_id == "velo_link" and len(output.labels) == len(scan) > 100_000
        np.testing.assert_array_equal(output.labels, runtime_labels(artifact, scan))
        assert len(np.unique(output.labels)) > 1
    assert node.stop() == 0, node.log()


def test_node_boxes_equal_the_runtime_on_a_real_kitti_scan(launch_node, perception_node_executable,
                                                           detection_artifact, kitti_scans):  # fmt: skip
    threshold = 0.3
    arguments = node_arguments("/e2e_boxes", artifact=detection_artifact, num_threads=1, score_threshold=threshold)
    node, probe = launch_node([str(perception_node_executable), *arguments], "/e2e_boxes")
    scan = kitti_scans[0]
    expected = spot.runtime.Perception.load(detection_artifact, num_threads=1)(scan).boxes
    expected = expected.select(expected.scores >= threshold)
    assert len(expected) > 0  # the fixture's detector fires on this scan
    for _ in range(40):  # best effort: the first clouds after discovery may be lost
        key = probe.publish(scan_to_cloud(scan), frame_id="velo_link")
        if probe.wait_for(lambda key=key: any(stamp_of(m) == key for m in probe.received.objects), 0.5):
            break
    markers = next(m for m in probe.received.objects if stamp_of(m) == key).markers
    cubes = [m for m in markers if m.ns == "boxes"]
    assert markers[0].action == markers[0].DELETEALL and len(cubes) == len(expected)
    centres = np.array([[c.pose.position.x, c.pose.position.y, c.pose.position.z] for c in cubes])
    sizes = np.array([[c.scale.x, c.scale.y, c.scale.z] for c in cubes])
    np.testing.assert_allclose(centres, expected.data[:, :3], atol=1e-5)
    np.testing.assert_allclose(sizes, expected.data[:, 3:6], atol=1e-5)
    assert {c.header.frame_id for c in cubes} == {"velo_link"}
    assert node.stop() == 0, node.log()


def stamp_of(message) -> int:
    stamp = message.markers[0].header.stamp
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process by kind (MB): `RssAnon` (its own heap) and `RssShmem` (mapped DDS segments)."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(line.split()[1]) / 1024 for line in lines for k in ("RssAnon", "RssShmem") if line.startswith(k)}


@pytest.mark.slow
def test_at_50_hz_for_10_s_the_node_keeps_up_with_the_newest_and_memory_stays_bounded(start_node, kitti_scans):
    node, probe = start_node("/e2e_load")
    clouds = [scan_to_cloud(scan) for scan in kitti_scans]
    for cloud in clouds * WARM_UP_ROUNDS:  # the runtime's own buffers (onnxruntime's arena) settle in ~10 scans
        assert probe.publish_until_answered(cloud) is not None, node.log()
    before = probe.settled_diagnostics()
    memory_before = memory_mb(node.pid)
    keys, started = [], time.monotonic()
    while time.monotonic() - started < 10.0:
        keys.append(probe.publish(clouds[len(keys) % len(clouds)]))
        time.sleep(max(0.0, started + len(keys) * 0.02 - time.monotonic()))
    assert probe.wait_for(lambda: probe.output_for(keys[-1]) is not None, 10.0), "the newest cloud was not processed"
    memory_after = memory_mb(node.pid)
    memory_growth = memory_after["RssAnon"] - memory_before["RssAnon"]
    after = probe.settled_diagnostics()
    processed, dropped = (int(after[key] - before[key]) for key in ("processed", "dropped_stale"))
    answered = [probe.sent[o.stamp_ns] for o in probe.received.segmentation if o.stamp_ns in keys]
    print(f"load: sent {len(keys)}, processed {processed}, dropped {dropped}, memory {memory_before} -> {memory_after}")
    assert memory_growth < MAX_MEMORY_GROWTH_MB
    assert processed >= 10 and dropped > 0 and node.alive()
    assert max(np.diff(sorted(answered))) < 2.0  # results kept coming all along, not only at the end
