"""ROS 2 node latency: message in -> segmentation out, for real ~120k-point HDL-64E scans published at 10 Hz.

Starts `spot_ros.perception_node` in its own process on ARTIFACT (one engine thread), publishes the KITTI scans in
turn at `--rate` over loopback (shared memory, local discovery: ros_node/spot_ros/environment.py), and prints one
JSON line: latency from publish to the segmentation cloud's arrival (median / p90, over the scans the node
answered; the node drops scans that arrive while it is busy), the node's own processing time
(~/debug/processing_time_ms: conversion + inference + output) and the runtime's share of it (/diagnostics),
spot.runtime's own latency on the same scans in this process (`Perception(scan)`, same thread count), called
once per sensor period as the node is (the reference of the ratio) and back to back (faster: nothing goes
cold between calls; its ratio is printed too). Node and runtime alternate in rounds of `--block` seconds, so
both are measured on the same machine state. When inference takes longer than the sensor period, a scan also
waits for the one in progress, which the ratio includes.

    python benchmarks/ros_latency.py --artifact ARTIFACT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spot.runtime import Perception
from spot.runtime.io import read_sample
from spot.runtime.io.pointcloud2 import scan_to_cloud

REPO = Path(__file__).resolve().parents[1]
LIDAR_DATA = Path(os.environ.get("SPOT_LIDAR_DATA", REPO.parent / "shared" / "data" / "lidar"))
DEFAULT_SCANS = LIDAR_DATA / "kitti_object/training/velodyne"
sys.path[:0] = [str(REPO / "ros_node"), str(REPO / "tests" / "ros_node")]  # spot_ros and the tests' node harness
from harness import NodeProcess, Probe, node_arguments  # noqa: E402

from spot_ros.environment import apply_local_ros_defaults  # noqa: E402


def percentiles(values: list[float]) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 2), "p90": round(float(np.percentile(values, 90)), 2)}


def publish_block(probe: Probe, clouds: list, rate_hz: float, count: int) -> list[float]:
    """Publish `count` clouds at `rate_hz`; latencies (ms) of those the node answered."""
    keys, started = [], time.monotonic()
    while len(keys) < count:
        keys.append(probe.publish(clouds[len(keys) % len(clouds)]))
        time.sleep(max(0.0, started + len(keys) / rate_hz - time.monotonic()))
    probe.wait_for(lambda: probe.output_for(keys[-1]) is not None, 2.0)
    outputs = [probe.output_for(key) for key in keys]
    return [(o.arrived - probe.sent[o.stamp_ns]) * 1e3 for o in outputs if o is not None]


def runtime_block(perception: Perception, scans: list, rate_hz: float | None, count: int) -> list[float]:
    """spot.runtime's latency (ms) on `count` scans: one call per sensor period at `rate_hz`, as the node is
    driven, or back to back when None (faster: caches and the engine's threads do not go cold between calls)."""
    times = []
    for call in range(count):
        started = time.perf_counter()
        perception(scans[call % len(scans)])
        times.append((time.perf_counter() - started) * 1e3)
        if rate_hz:
            time.sleep(max(0.0, 1.0 / rate_hz - (time.perf_counter() - started)))
    return times


def interleaved(args, scans: list) -> dict:
    """Rounds of: the node for `--block` seconds, then the runtime alone for as many scans at the same rate,
    then back to back, so both see the same machine (a shared host's speed drifts by tens of percent)."""
    namespace = f"/bench_{os.getpid()}"
    env = dict(apply_local_ros_defaults())  # this process (the probe) and the node alike
    python_path = os.pathsep.join(filter(None, [str(REPO / "ros_node"), os.environ.get("PYTHONPATH")]))
    env.update(PYTHONPATH=python_path, OMP_NUM_THREADS=str(args.threads), PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "-m",
        "spot_ros.perception_node",
        *node_arguments(namespace, artifact=args.artifact, num_threads=args.threads),
    ]
    clouds = [scan_to_cloud(scan) for scan in scans]
    perception = Perception.load(args.artifact, num_threads=args.threads)
    perception(scans[0])
    node = NodeProcess(command, env, Path(tempfile.mkdtemp()) / "node.log")
    probe = Probe(namespace, decode_segmentation=False)  # arrival = the serialized result is here
    try:
        if not probe.wait_connected(60.0) or probe.publish_until_answered(clouds[0]) is None:
            raise RuntimeError(f"the node did not answer:\n{node.log()}")
        warm = len(probe.received.processing_time_ms)
        per_block = max(1, round(args.block * args.rate))
        latencies, at_rate, back_to_back = [], [], []
        for _ in range(args.rounds):
            latencies += publish_block(probe, clouds, args.rate, per_block)
            at_rate += runtime_block(perception, scans, args.rate, per_block)
            back_to_back += runtime_block(perception, scans, None, per_block)
        processing = percentiles(probe.received.processing_time_ms[warm:])
        inference = probe.settled_diagnostics()["inference_ms_median"]
    finally:
        probe.close()
        node.stop()
    return {
        "published": args.rounds * per_block,
        "answered": len(latencies),
        "latency_ms": percentiles(latencies),
        "node_processing_ms": processing,
        "node_inference_ms_median": round(inference, 2),
        "node_overhead_ms_median": round(processing["median"] - inference, 2),
        "runtime_at_rate_ms": percentiles(at_rate),
        "runtime_back_to_back_ms": percentiles(back_to_back),
        "latency_over_runtime_median": round(float(np.median(latencies) / np.median(at_rate)), 3),
        "latency_over_back_to_back_runtime_median": round(float(np.median(latencies) / np.median(back_to_back)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, required=True, help="folder written by spot-export")
    parser.add_argument("--scans", type=Path, default=DEFAULT_SCANS, help="folder of KITTI .bin scans")
    parser.add_argument("--rate", type=float, default=10.0, help="publish rate (Hz)")
    parser.add_argument("--rounds", type=int, default=5, help="node / runtime rounds")
    parser.add_argument("--block", type=float, default=2.0, help="seconds of publishing per round")
    parser.add_argument("--threads", type=int, default=1, help="engine threads, node and runtime alike")
    args = parser.parse_args()
    scans = [read_sample(path).scan for path in sorted(args.scans.glob("*.bin"))]
    if not scans:
        parser.error(f"no KITTI .bin scans in {args.scans}")
    result = {
        "benchmark": "ros_latency",
        "points": int(np.mean([len(s) for s in scans])),
        "rate_hz": args.rate,
        "threads": args.threads,
        **interleaved(args, scans),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
