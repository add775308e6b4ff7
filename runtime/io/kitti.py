"""KITTI 3D object: `label_2` boxes (camera frame) + `calib` -> boxes in the LiDAR frame (DESIGN §3).

A `label_2` line is `type truncated occluded alpha bbox(4) h w l x y z rotation_y`: (x, y, z) is the bottom
centre of the box in the rectified camera frame (y down) and rotation_y its heading about the camera's y axis.
The LiDAR frame box is
    centre = Tr_velo_to_cam^-1 · R0_rect^-1 · (x, y - h / 2, z)   (raised to the gravity centre in the camera
             frame, where the box stands upright; raising it after the transform is off by ~1 cm at 70 m),
    size = (l, w, h), yaw = -rotation_y - pi / 2 (wrapped to [-pi, pi)),
as OpenPCDet converts them. `DontCare` regions carry no box and are skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..boxes import Boxes, wrap_angle
from ..errors import SpotInputError
from ..sample import Sample
from .binary import read_kitti_bin

KITTI_CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")
SKIPPED_TYPES = ("DontCare",)
LABEL_FIELDS = 15


CALIB_SHAPES = {"P0": (3, 4), "P1": (3, 4), "P2": (3, 4), "P3": (3, 4), "R0_rect": (3, 3), "Tr_velo_to_cam": (3, 4)}


def read_calib(
    path: str | Path,
    keys: tuple[str, ...] = ("R0_rect", "Tr_velo_to_cam"),
    needed_for: str = "to put label_2 boxes in the LiDAR frame",
) -> dict[str, np.ndarray]:
    """The `keys` entries of a KITTI object calib file as homogeneous (4, 4) matrices (`R0_rect`,
    `Tr_velo_to_cam`, projections `P0`..`P3`)."""
    path = Path(path)
    if not path.is_file():
        raise SpotInputError(f"calib file is missing (needed {needed_for})", source=path)
    entries = {}
    for line in path.read_text().splitlines():
        key, _, values = line.partition(":")
        if values.strip():
            entries[key.strip()] = values.split()
    matrices = {}
    for key in keys:
        shape = CALIB_SHAPES[key]
        values = entries.get(key)
        if values is None or len(values) != shape[0] * shape[1]:
            found = "missing" if values is None else f"{len(values)} values"
            raise SpotInputError(f"calib entry {key} must hold {shape[0] * shape[1]} numbers, {found}", source=path)
        matrix = np.eye(4)
        matrix[: shape[0], : shape[1]] = _numbers(values, f"calib entry {key}", path).reshape(shape)
        matrices[key] = matrix
    return matrices


def read_label_2(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Object types and camera-frame rows `[h, w, l, x, y, z, rotation_y]` (M, 7), DontCare left out."""
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such label_2 file", source=path)
    types, rows = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] in SKIPPED_TYPES:
            continue
        if len(fields) < LABEL_FIELDS or fields[0] not in KITTI_CLASSES:
            raise SpotInputError(
                f"line {number}: expected '<type> ... h w l x y z rotation_y' ({LABEL_FIELDS} fields) with a type "
                f"in {KITTI_CLASSES + SKIPPED_TYPES}, got {line!r}",
                source=path,
            )
        types.append(fields[0])
        rows.append(_numbers(fields[8:LABEL_FIELDS], f"line {number} (h w l x y z rotation_y)", path))
    return types, np.asarray(rows, dtype=np.float64).reshape(-1, 7)


def _numbers(words: list[str], what: str, path: Path) -> np.ndarray:
    """float64 values of `words`; text that is not a finite number is refused, naming `what`."""
    try:
        values = np.asarray([float(word) for word in words], dtype=np.float64)
    except ValueError as error:
        raise SpotInputError(f"{what} must hold numbers: {error}", source=path) from error
    if not np.isfinite(values).all():
        raise SpotInputError(f"{what} holds non-finite values {words}", source=path)
    return values


def camera_boxes_to_lidar(camera_rows: np.ndarray, calib: dict[str, np.ndarray]) -> np.ndarray:
    """`[h, w, l, x, y, z, rotation_y]` (M, 7) camera frame -> `[x, y, z_center, l, w, h, yaw]` (M, 7) LiDAR."""
    height, width, length = camera_rows[:, 0], camera_rows[:, 1], camera_rows[:, 2]
    centre_camera = camera_rows[:, 3:6] - np.column_stack([np.zeros_like(height), height / 2, np.zeros_like(height)])
    centre_camera = np.concatenate([centre_camera, np.ones((len(camera_rows), 1))], axis=1)  # (M, 4)
    cam_to_velo = np.linalg.inv(calib["R0_rect"] @ calib["Tr_velo_to_cam"])
    centre = (centre_camera @ cam_to_velo.T)[:, :3]
    yaw = wrap_angle(-camera_rows[:, 6] - np.pi / 2)
    return np.column_stack([centre, length, width, height, yaw]).astype(np.float32)


def read_kitti_boxes(label_path: str | Path, calib_path: str | Path) -> Boxes:
    """The LiDAR-frame boxes of one KITTI object frame, class ids into `KITTI_CLASSES`."""
    types, camera_rows = read_label_2(label_path)
    data = camera_boxes_to_lidar(camera_rows, read_calib(calib_path))
    return Boxes(data, np.asarray([KITTI_CLASSES.index(name) for name in types], dtype=np.int32))


def read_kitti_object(velodyne_path: str | Path) -> Sample:
    """`training/velodyne/ID.bin` with `label_2/ID.txt` and `calib/ID.txt` beside its folder -> scan + boxes."""
    velodyne_path = Path(velodyne_path)
    root, frame = velodyne_path.parent.parent, velodyne_path.stem
    boxes = read_kitti_boxes(root / "label_2" / f"{frame}.txt", root / "calib" / f"{frame}.txt")
    return Sample(
        read_kitti_bin(velodyne_path),
        boxes=boxes,
        dataset="kitti",
        source=str(velodyne_path),
        box_class_names=KITTI_CLASSES,
    )


def has_kitti_object_labels(velodyne_path: Path) -> bool:
    """True for a scan in the KITTI object layout (`<split>/velodyne/ID.bin` beside `<split>/label_2/ID.txt`)."""
    return (velodyne_path.parent.parent / "label_2" / f"{velodyne_path.stem}.txt").is_file()
