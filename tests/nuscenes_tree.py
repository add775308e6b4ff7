"""A small nuScenes-lidarseg tree in the dataset's own layout, for the reader's tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spot.runtime.io.nuscenes_lidarseg import LIDARSEG_CATEGORIES

VERSION = "v1.0-mini"
# scene -> points of each keyframe; scene-0002 also has a sweep between keyframes (no labels)
KEYFRAMES = {"scene-0001": (96, 64), "scene-0002": (40,)}
IDENTITY = {"translation": [0.0, 0.0, 0.0], "rotation": [1.0, 0.0, 0.0, 0.0]}


def keyframe_labels(points: int) -> np.ndarray:
    """Category index i % 32 for point i: every category, in order."""
    return (np.arange(points) % 32).astype(np.uint8)


def write_nuscenes_tree(root: Path, nan_rows: int = 0) -> Path:
    """`nan_rows` non-finite points at the start of scene-0002's keyframe (dropped with their labels)."""
    tables = {name: [] for name in ("scene", "sample", "sample_data", "lidarseg", "calibrated_sensor", "ego_pose")}
    tables["category"] = [{"token": f"c{i}", "name": name, "description": "", "index": i}
                          for i, name in reversed(list(enumerate(LIDARSEG_CATEGORIES)))]  # fmt: skip
    tables["calibrated_sensor"].append({"token": "lidar", "translation": [0.9, 0.0, 1.8], "rotation": [1, 0, 0, 0]})
    (root / "samples" / "LIDAR_TOP").mkdir(parents=True)
    (root / "sweeps" / "LIDAR_TOP").mkdir(parents=True)
    (root / "lidarseg" / VERSION).mkdir(parents=True)
    rng = np.random.default_rng(0)
    time = 0
    for s, (scene, counts) in enumerate(KEYFRAMES.items()):
        tables["scene"].append({"token": f"s{s}", "name": scene})
        for k, points in enumerate(counts):
            time += 500_000
            token = f"{scene}-{k}"
            rows = np.c_[rng.uniform(-20, 20, (points, 3)), rng.uniform(0, 255, points), np.arange(points) % 32]
            rows[:nan_rows if scene == "scene-0002" else 0, :3] = np.nan
            lidar = f"samples/LIDAR_TOP/{token}__LIDAR_TOP__{time}.pcd.bin"
            rows.astype("<f4").tofile(root / lidar)
            keyframe_labels(points).tofile(root / "lidarseg" / VERSION / f"sd-{token}_lidarseg.bin")
            tables["sample"].append({"token": f"sample-{token}", "scene_token": f"s{s}", "timestamp": time})
            pose = {"translation": [10.0 * k, 0, 0], "rotation": [1, 0, 0, 0]}
            tables["ego_pose"].append({"token": f"ego-{token}", **pose})
            tables["sample_data"].append({
                "token": f"sd-{token}", "sample_token": f"sample-{token}", "ego_pose_token": f"ego-{token}",
                "calibrated_sensor_token": "lidar", "filename": lidar, "timestamp": time, "is_key_frame": True,
            })  # fmt: skip
            tables["lidarseg"].append({"token": f"ls-{token}", "sample_data_token": f"sd-{token}",
                                       "filename": f"lidarseg/{VERSION}/sd-{token}_lidarseg.bin"})  # fmt: skip
        sweep = f"sweeps/LIDAR_TOP/{scene}__LIDAR_TOP__{time + 50_000}.pcd.bin"
        np.zeros((10, 5), "<f4").tofile(root / sweep)
        tables["ego_pose"].append({"token": f"ego-sweep-{s}", **IDENTITY})
        tables["sample_data"].append({
            "token": f"sweep-{s}", "sample_token": f"sample-{scene}-0", "ego_pose_token": f"ego-sweep-{s}",
            "calibrated_sensor_token": "lidar", "filename": sweep, "timestamp": time + 50_000, "is_key_frame": False,
        })  # fmt: skip
    (root / VERSION).mkdir()
    for name, rows in tables.items():
        (root / VERSION / f"{name}.json").write_text(json.dumps(rows))
    return root
