"""nuScenes-lidarseg in its own layout: the `v1.0-*` tables, the sweeps and the per-point labels.

    ROOT/v1.0-trainval/{scene,sample,sample_data,lidarseg,category,calibrated_sensor,ego_pose}.json
    ROOT/samples/LIDAR_TOP/<name>.pcd.bin            float32 x y z intensity(0-255) ring
    ROOT/lidarseg/v1.0-trainval/<token>_lidarseg.bin uint8 per point: the category's lidarseg `index`

Only keyframes carry labels (`lidarseg.json` lists their sample_data). A label is a category `index` of the
table's `category.json` (32 categories, `noise` 0 to `vehicle.ego` 31); the reader maps it, by the category's name,
to its place in `LIDARSEG_CATEGORIES`, the raw ids of the `nuscenes16` label map (the 16 benchmark classes).
Frames are grouped by scene, in time order; the pose is ego_pose x calibrated_sensor (LIDAR_TOP -> global). Every
path a table names must lie inside ROOT.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SpotInputError
from ..sample import Sample
from ..scan import Scan, drop_non_finite, require_points
from .binary import NUSCENES_COLUMNS, NUSCENES_INTENSITY_SCALE, float32_row_count, read_intensity_rows
from .semantickitti import LabelMap

LIDARSEG_CATEGORIES = (
    "noise", "animal", "human.pedestrian.adult", "human.pedestrian.child", "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility", "human.pedestrian.police_officer", "human.pedestrian.stroller",
    "human.pedestrian.wheelchair", "movable_object.barrier", "movable_object.debris",
    "movable_object.pushable_pullable", "movable_object.trafficcone", "static_object.bicycle_rack", "vehicle.bicycle",
    "vehicle.bus.bendy", "vehicle.bus.rigid", "vehicle.car", "vehicle.construction", "vehicle.emergency.ambulance",
    "vehicle.emergency.police", "vehicle.motorcycle", "vehicle.trailer", "vehicle.truck", "flat.driveable_surface",
    "flat.other", "flat.sidewalk", "flat.terrain", "static.manmade", "static.other", "static.vegetation",
    "vehicle.ego",
)  # fmt: skip
TABLES = ("scene", "sample", "sample_data", "lidarseg", "category", "calibrated_sensor", "ego_pose")


@dataclass(frozen=True)
class LidarsegFrame:
    scene: str
    timestamp: int
    lidar_path: Path
    label_path: Path
    pose: np.ndarray  # (4, 4) LIDAR_TOP -> global


class NuScenesLidarseg:
    """The labelled keyframes of a nuScenes root, by scene (`scenes`: names kept, in the order given; None: all)."""

    def __init__(self, root: str | Path, version: str, scenes: Sequence[str] | None = None):
        self.root = Path(root)
        folder = self.root / version
        tables = {name: _read_table(folder / f"{name}.json") for name in TABLES}
        try:
            self._index(tables, folder, scenes)
        except SpotInputError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise SpotInputError(f"a nuScenes table record lacks or garbles {error}", source=folder) from error

    def _index(self, tables: dict[str, list[dict]], folder: Path, scenes: Sequence[str] | None) -> None:
        self.category_to_raw = _category_remap(tables["category"], folder / "category.json")
        scene_names = {row["token"]: row["name"] for row in tables["scene"]}
        sample_scene = {row["token"]: scene_names.get(row["scene_token"]) for row in tables["sample"]}
        sensors = {row["token"]: _transform(row) for row in tables["calibrated_sensor"]}
        ego = {row["token"]: _transform(row) for row in tables["ego_pose"]}
        data = {row["token"]: row for row in tables["sample_data"]}
        frames: dict[str, list[LidarsegFrame]] = {}
        for label in tables["lidarseg"]:
            row = data.get(label["sample_data_token"])
            if row is None:
                raise SpotInputError(f"lidarseg {label['token']} names sample_data {label['sample_data_token']} that "
                                     "sample_data.json lacks", source=folder / "lidarseg.json")  # fmt: skip
            scene = sample_scene.get(row["sample_token"])
            if scenes is not None and scene not in scenes:
                continue
            pose = ego[row["ego_pose_token"]] @ sensors[row["calibrated_sensor_token"]]
            frames.setdefault(scene, []).append(LidarsegFrame(
                scene, int(row["timestamp"]), self._inside(row["filename"]), self._inside(label["filename"]), pose
            ))  # fmt: skip
        missing = [name for name in scenes or () if name not in frames]
        if missing:
            raise SpotInputError(f"no labelled keyframes of scenes {missing[:3]} ({len(missing)} missing)",
                                 source=folder)  # fmt: skip
        order = list(scenes) if scenes is not None else sorted(frames)
        self.scenes = [sorted(frames[name], key=lambda f: f.timestamp) for name in order]

    def _inside(self, filename: str) -> Path:
        path = (self.root / filename).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise SpotInputError(f"a table names {filename!r}, outside the dataset folder", source=self.root)
        return path

    def check_frame(self, frame: LidarsegFrame) -> None:
        """From the sizes alone: whole float32 x 5 rows, at least one, one uint8 label per row."""
        rows = float32_row_count(frame.lidar_path, 5)
        require_points(rows, frame.lidar_path)
        if not frame.label_path.is_file():
            raise SpotInputError("no such label file", source=frame.label_path)
        if frame.label_path.stat().st_size != rows:
            raise SpotInputError(f"has {frame.label_path.stat().st_size} labels but the sweep has {rows} points",
                                 source=frame.label_path)  # fmt: skip

    def raw_labels(self, frame: LidarsegFrame, num_points: int) -> np.ndarray:
        """(N,) int32 raw ids (places in `LIDARSEG_CATEGORIES`) of the frame's points."""
        labels = np.fromfile(frame.label_path, dtype=np.uint8)
        if len(labels) != num_points:
            raise SpotInputError(f"has {len(labels)} labels but the sweep has {num_points} points",
                                 source=frame.label_path)  # fmt: skip
        return self.category_to_raw[labels]

    def read(self, frame: LidarsegFrame, label_map: LabelMap) -> Sample:
        rows = read_intensity_rows(frame.lidar_path, 5, NUSCENES_INTENSITY_SCALE)  # labels count every row
        raw = self.raw_labels(frame, len(rows))
        rows, raw = drop_non_finite(rows, raw, source=frame.lidar_path)
        require_points(len(rows), frame.lidar_path)
        return Sample(Scan(np.ascontiguousarray(rows), NUSCENES_COLUMNS), labels=label_map(raw), pose=frame.pose,
                      dataset="nuscenes", source=str(frame.lidar_path), class_names=label_map.class_names)  # fmt: skip


def _read_table(path: Path) -> list[dict]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SpotInputError(f"cannot read the nuScenes table: {error}", source=path) from error
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SpotInputError("expected a list of records", source=path)
    return rows


def _category_remap(rows: list[dict], source: Path) -> np.ndarray:
    """(256,) table: a label file's category index -> its raw id (place in `LIDARSEG_CATEGORIES`)."""
    remap = np.zeros(256, dtype=np.int32)  # an index no category has reads as noise (ignored by nuscenes16)
    for row in rows:
        if "index" not in row:
            raise SpotInputError(f"category {row.get('name')!r} has no lidarseg `index`: not a nuScenes-lidarseg "
                                 "table", source=source)  # fmt: skip
        if row["name"] not in LIDARSEG_CATEGORIES or not 0 <= int(row["index"]) < 256:
            raise SpotInputError(f"unknown lidarseg category {row['name']!r} (index {row['index']})", source=source)
        remap[int(row["index"])] = LIDARSEG_CATEGORIES.index(row["name"])
    return remap


def _transform(row: dict) -> np.ndarray:
    """A table's translation + rotation (quaternion w x y z) as a (4, 4) matrix."""
    w, x, y, z = (float(v) for v in row["rotation"])
    matrix = np.eye(4)
    matrix[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    matrix[:3, 3] = [float(v) for v in row["translation"]]
    return matrix
