"""Draw one simulated street seen by VLP-16, HDL-64E and OS-1-128 side by side (bird's-eye view, coloured by
SemanticKITTI class) to docs/images/sim_sensor_comparison.png, and print one JSON line with points per sensor.

    python benchmarks/sensor_comparison.py [--seed 0] [-o docs/images/sim_sensor_comparison.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from spot.runtime.io.label_maps import SEMANTIC_KITTI_LEARNING_MAP_INV as LEARNING_MAP_INV
from spot.runtime.sensors import SENSORS
from spot.sim import SimulatedSequence, label_map

# SemanticKITTI's colour map (BGR in semantic-kitti.yaml), as RGB in [0, 1], per contract class id
COLOURS_BGR = {
    10: (245, 150, 100), 11: (245, 230, 100), 15: (150, 60, 30), 18: (180, 30, 80), 20: (255, 0, 0),
    30: (30, 30, 255), 31: (200, 40, 255), 32: (90, 30, 150), 40: (255, 0, 255), 44: (255, 150, 255),
    48: (75, 0, 75), 49: (75, 0, 175), 50: (0, 200, 255), 51: (50, 120, 255), 70: (0, 175, 0), 71: (0, 60, 135),
    72: (80, 240, 150), 80: (150, 240, 255), 81: (0, 0, 255),
}  # fmt: skip
CLASS_RGB = np.array([COLOURS_BGR[LEARNING_MAP_INV[c + 1]][::-1] for c in range(19)]) / 255.0
SENSOR_KEYS = ("vlp16", "hdl64", "os128")
EXTENT = 40.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/images/sim_sensor_comparison.png"))
    args = parser.parse_args()

    figure, axes = plt.subplots(1, len(SENSOR_KEYS), figsize=(15, 5.4), facecolor="black")
    counts = {}
    for axis, key in zip(axes, SENSOR_KEYS, strict=True):
        sample, _ = SimulatedSequence(key, frames=1, seed=args.seed).frame(0)
        xyz, labels = sample.scan.xyz, sample.labels
        keep = (np.abs(xyz[:, 0]) < EXTENT) & (np.abs(xyz[:, 1]) < EXTENT)
        counts[key] = len(sample.scan)
        axis.scatter(xyz[keep, 0], xyz[keep, 1], s=0.15, c=CLASS_RGB[labels[keep]], linewidths=0, rasterized=True)
        axis.set(xlim=(-EXTENT, EXTENT), ylim=(-EXTENT, EXTENT), aspect="equal", xticks=[], yticks=[])
        axis.set_facecolor("black")
        axis.set_title(f"{SENSORS[key].name}: {len(sample.scan):,} points", color="white", fontsize=12)
    names = label_map().class_names
    handles = [plt.Line2D([], [], ls="", marker="s", color=CLASS_RGB[c], label=names[c]) for c in range(19)]
    figure.legend(handles=handles, loc="lower center", ncol=10, frameon=False, labelcolor="white", fontsize=8)
    figure.tight_layout(rect=(0, 0.08, 1, 0.96))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=80, facecolor="black")
    print(json.dumps({"benchmark": "sensor_comparison", "seed": args.seed, "points": counts,
                      "png": str(args.output), "png_bytes": args.output.stat().st_size}))  # fmt: skip


if __name__ == "__main__":
    main()
