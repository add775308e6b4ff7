"""spot_ros.memory: with the heap kept mapped, the node's per-scan PointCloud2 conversions stop faulting their
pages in on every scan (what made them slow on a VM)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")  # the messages the node converts

from spot_ros.memory import keep_heap_mapped

FAULTS = """
import json, resource, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from std_msgs.msg import Header
from spot.runtime.io.pointcloud2 import append_fields, cloud_to_scan, scan_to_cloud
from spot.runtime.scan import Scan
from spot_ros.memory import keep_heap_mapped
from spot_ros.messages import cloud_message
kept = keep_heap_mapped() if sys.argv[1] == "keep" else None
points = np.random.default_rng(0).uniform(0, 1, (120_000, 4)).astype(np.float32)  # an HDL-64E scan's size
message = cloud_message(scan_to_cloud(Scan(points, ("x", "y", "z", "intensity"))), Header())
labels, scores = np.zeros(len(points), np.uint8), np.zeros(len(points), np.float32)

def one_scan():  # what the node does around inference: the message in, the labelled message out
    cloud_to_scan(message, ("x", "y", "z", "intensity"))
    cloud_message(append_fields(message, {"label": labels, "score": scores}), message.header)

for _ in range(3):
    one_scan()  # warm up: the allocator's state after a few scans
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    one_scan()
print(json.dumps({"kept": kept, "faults_per_scan": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20}))
"""


def faults(mode: str) -> dict:
    ros_node = Path(__file__).resolve().parents[2] / "ros_node"
    command = [sys.executable, "-c", FAULTS, mode, str(ros_node)]
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_kept_heap_stops_page_faults_on_every_scan():
    default, kept = faults("default"), faults("keep")
    assert kept["kept"] is True
    assert default["faults_per_scan"] > 500  # glibc trims the freed arrays' pages and faults them in again
    assert kept["faults_per_scan"] < 10, (default, kept)


def test_it_reports_what_it_did():
    assert keep_heap_mapped() in (True, False)
