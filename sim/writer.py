"""Write simulated sequences in the SemanticKITTI layout, so the dataset readers load them unchanged.

```
DIR/dataset.yaml                      sensor, label map (SemanticKITTI raw ids), occupancy grid, sequences
DIR/sequences/SS/velodyne/NNNNNN.bin  float32 x y z intensity
DIR/sequences/SS/labels/NNNNNN.label  uint32: raw semantic id | instance id << 16
DIR/sequences/SS/poses.txt            3x4 row-major sensor -> first-frame pose per line (KITTI)
DIR/sequences/SS/calib.txt, times.txt `Tr` = identity (poses are already in the LiDAR frame); seconds
DIR/sequences/SS/boxes/NNNNNN.json    boxes [x, y, z_center, l, w, h, yaw] in that frame's sensor frame
DIR/sequences/SS/occupancy/NNNNNN.npz `occupancy` (Z, Y, X) uint8: 0 free, class id + 1 occupied
DIR/sequences/SS/cameras.json         with a camera rig: each camera's K, T_cam_from_lidar and image size
DIR/sequences/SS/cameras/NAME/NNNNNN.png  its image taken with scan NNNNNN (`spot.runtime.io.cameras`)
```
Every file is a pure function of (sensor, seed, frames, rig): the same arguments write the same bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from spot.runtime.errors import SpotInputError
from spot.runtime.io.binary import write_kitti_bin
from spot.runtime.io.cameras import CAMERAS_FILE, image_path, write_image, write_rig
from spot.runtime.io.semantickitti import write_label_file
from spot.runtime.voxelize import VoxelGrid

from .classes import LABEL_MAP_CONFIG, LABEL_NAMES, label_map
from .sequence import DEFAULT_OCCUPANCY_GRID, FrameTruth, SimulatedSequence

FORMAT_VERSION = 1
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps keep the .npz bytes reproducible


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """`np.savez_compressed` with fixed timestamps (numpy stamps members with the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", ZIP_EPOCH), buffer.getvalue(), zipfile.ZIP_DEFLATED)


def _boxes_json(sample, truth: FrameTruth) -> str:
    names = label_map().class_names
    rows = [
        {
            "instance": int(i),
            "box": [round(float(v), 4) for v in box],
            "class": names[int(c)],
            "raw_label": int(r),
            "raw_name": LABEL_NAMES[int(r)],
            "num_points": int(n),
        }
        for box, c, i, r, n in zip(
            sample.boxes.data,
            sample.boxes.class_ids,
            truth.box_instances,
            truth.box_raw_labels,
            truth.box_points,
            strict=True,
        )
    ]
    return json.dumps({"box_format": "x y z_center length width height yaw (sensor frame)", "boxes": rows})


def _pose_line(pose: np.ndarray) -> str:
    return " ".join(f"{v:.9e}" for v in pose[:3].reshape(-1))


def _description(sequence: SimulatedSequence, grid: VoxelGrid | None, sequence_id: str, old: dict) -> dict:
    sensor = {**sequence.description.to_dict(), "key": sequence.sensor, **sequence.description.extras}
    if old and old.get("sensor", {}).get("key") != sequence.sensor:
        raise SpotInputError(
            f"dataset.yaml was written for sensor {old['sensor'].get('key')!r}, not "
            f"{sequence.sensor!r}: write each sensor to its own folder"
        )
    written = {"seed": sequence.seed, "frames": sequence.frames}
    if sequence.rig:
        written["cameras"] = sequence.cameras if isinstance(sequence.cameras, str) else [c.name for c in sequence.rig]
    sequences = {**old.get("sequences", {}), sequence_id: written}
    return {
        "name": f"sim-{sequence.sensor}",
        "format_version": FORMAT_VERSION,
        "sensor": sensor,
        "scan_columns": ["x", "y", "z", "intensity"],
        "class_names": list(label_map().class_names),
        **LABEL_MAP_CONFIG,
        "occupancy": None if grid is None else {**grid.to_dict(), "values": "0 free, class id + 1 occupied"},
        "sequences": dict(sorted(sequences.items())),
    }


def write_sequence(
    sequence: SimulatedSequence,
    root: str | Path,
    sequence_id: int = 0,
    occupancy_grid: VoxelGrid | None = DEFAULT_OCCUPANCY_GRID,
    progress: bool = True,
) -> Path:
    """Simulate and write `sequence` as `root/sequences/<id>`; returns that folder."""
    if not 0 <= sequence_id <= 99:
        raise SpotInputError(f"sequence id {sequence_id}, expected 0..99 (SemanticKITTI's two-digit folders)")
    root, sid = Path(root), f"{sequence_id:02d}"
    folder = root / "sequences" / sid
    described = root / "dataset.yaml"
    old = yaml.safe_load(described.read_text()) if described.is_file() else {}
    description = _description(sequence, occupancy_grid, sid, old or {})
    for sub in ("velodyne", "labels", "boxes", *(("occupancy",) if occupancy_grid else ())):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    poses, times = [], []
    frames = tqdm(range(len(sequence)), desc=f"sim-{sequence.sensor} seq {sid}", unit="frame", disable=not progress)
    for index in frames:
        sample, truth = sequence.frame(index)
        name = f"{index:06d}"
        write_kitti_bin(folder / "velodyne" / f"{name}.bin", sample.scan)
        write_label_file(folder / "labels" / f"{name}.label", truth.raw_labels, sample.instances)
        (folder / "boxes" / f"{name}.json").write_text(_boxes_json(sample, truth))
        if occupancy_grid is not None:
            save_npz(folder / "occupancy" / f"{name}.npz", occupancy=sequence.occupancy(index, occupancy_grid))
        for camera, _ in sequence.camera_frames(index):
            path = image_path(folder, camera.name, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_image(path, camera.image)
        poses.append(_pose_line(sample.pose))
        times.append(f"{sequence.time_of(index):.6e}")
    (folder / "poses.txt").write_text("\n".join(poses) + "\n")
    (folder / "times.txt").write_text("\n".join(times) + "\n")
    (folder / "calib.txt").write_text("Tr: " + _pose_line(np.eye(4)) + "\n")
    if sequence.rig:
        write_rig(folder / CAMERAS_FILE, [spec.calibration() for spec in sequence.rig])
    described.write_text(yaml.safe_dump(description, sort_keys=False))
    return folder
