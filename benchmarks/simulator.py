"""Time one simulated HDL-64E sweep on one core and print one JSON line.

Run as `OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/simulator.py`; numpy's ray casting is single-threaded.
Reports the median of several frames of one sequence (scene generation and occupancy timed separately). With
`--cameras RIG` it also renders the rig's images of every frame and reports `camera_cost_ratio`, the time of a
frame with cameras over a LiDAR-only frame (target: <= 3 for `nusc6`).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from spot.sim import SimulatedSequence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sensor", default="hdl64")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cameras", default=None, help="a camera rig name (spot.sim.camera.CAMERA_RIGS)")
    args = parser.parse_args()

    start = time.perf_counter()
    sequence = SimulatedSequence(args.sensor, frames=args.frames, seed=args.seed, cameras=args.cameras)
    scene_s = time.perf_counter() - start
    frame_s, occupancy_s, camera_s, points, rings = [], [], [], [], []
    for index in range(args.frames):
        start = time.perf_counter()
        sample, _ = sequence.frame(index)
        frame_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        sequence.occupancy(index)
        occupancy_s.append(time.perf_counter() - start)
        if args.cameras:
            start = time.perf_counter()
            sequence.camera_frames(index)
            camera_s.append(time.perf_counter() - start)
        points.append(len(sample.scan))
        rings.append(len(np.unique(sample.scan.column("ring"))))
    z = sample.scan.points[:, 2]
    line = {
        "benchmark": "simulator",
        "sensor": args.sensor,
        "frames": args.frames,
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "scene_s": round(scene_s, 4),
        "frame_s_median": round(float(np.median(frame_s)), 4),
        "frame_s_max": round(max(frame_s), 4),
        "occupancy_s_median": round(float(np.median(occupancy_s)), 4),
        "points_min": min(points),
        "points_max": max(points),
        "rings_min": min(rings),
        "z_in_pm3_fraction": round(float(np.mean(np.abs(z) < 3)), 4),
    }
    if args.cameras:
        pixels = sum(spec.width * spec.height for spec in sequence.rig)
        line |= {
            "cameras": args.cameras,
            "camera_pixels": pixels,
            "cameras_s_median": round(float(np.median(camera_s)), 4),
            "camera_cost_ratio": round(float(np.median(np.add(frame_s, camera_s)) / np.median(frame_s)), 2),
        }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
