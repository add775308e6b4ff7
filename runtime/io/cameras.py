"""Pinhole cameras beside a LiDAR: calibration, frames, and the per-camera-folder layout that carries them.

Conventions (OpenCV's, also nuScenes' and KITTI's): camera axes x right, y down, z forward; `K` (3, 3) in pixels
with pixel centres at integer coordinates (pixel (col, row) covers [col - 0.5, col + 0.5)); `T_cam_from_lidar`
(4, 4) maps LiDAR-frame points into the camera frame. Images are RGB uint8 (H, W, 3), undistorted.

Layout, beside a SemanticKITTI-style sequence (what `spot-data simulate --cameras RIG` writes):
```
sequences/SS/cameras.json                 {"cameras": [{name, width, height, K, T_cam_from_lidar}, ...]}
sequences/SS/cameras/<name>/NNNNNN.png    the image taken with velodyne/NNNNNN.bin
```
One calibration per sequence (a rig is fixed to the vehicle, as nuScenes' `calibrated_sensor` is per scene), one
folder per camera (six cameras at different headings do not fit KITTI's `calib` P0..P3, which share one
rectified frame), and images named like their scan, so real camera + LiDAR data converted to this layout
trains the same way as simulated data. KITTI object data is read as it comes: `training/image_2/ID.png` with
`training/calib/ID.txt` beside `training/velodyne/ID.bin` is one camera named `image_2`, with K = P2[:, :3] and
T_cam_from_lidar = [I | K^-1 P2[:, 3]] @ R0_rect @ Tr_velo_to_cam (the devkit's x = P2 R0_rect Tr_velo_to_cam X).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import SpotInputError
from .kitti import read_calib

CAMERAS_FILE = "cameras.json"
KITTI_CAMERA = "image_2"
CAMERA_FOLDER = "cameras"
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a camera name is a folder name: nothing that escapes it
CONVENTIONS = (
    "K: pixels, camera axes x right / y down / z forward, pixel centres at integer coordinates; "
    "T_cam_from_lidar: 4x4 row-major, LiDAR-frame points -> camera frame; "
    "images: cameras/<name>/<scan stem>.png, 8-bit RGB, undistorted"
)


@dataclass(frozen=True, eq=False)  # arrays inside: compare `to_dict()`s
class CameraCalibration:
    """One pinhole camera of a rig: `K` (3, 3) intrinsics, `T_cam_from_lidar` (4, 4) extrinsics, image size."""

    name: str
    K: np.ndarray
    T_cam_from_lidar: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise SpotInputError(f"camera name {self.name!r}, expected 1-64 letters, digits, '_' or '-'")
        where = f"camera {self.name}"
        for key in ("width", "height"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise SpotInputError(f"{where}: {key}={value!r}, expected a whole number of pixels >= 1")
        K, T = _matrix(self.K, (3, 3), f"{where}: K"), _matrix(self.T_cam_from_lidar, (4, 4), f"{where}: T")
        if K[0, 0] <= 0 or K[1, 1] <= 0 or np.any(K[2] != (0, 0, 1)) or K[1, 0] != 0:
            raise SpotInputError(f"{where}: K={K.tolist()}, expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], fx, fy > 0")
        rotation = T[:3, :3]
        if np.any(T[3] != (0, 0, 0, 1)) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6):
            raise SpotInputError(f"{where}: T_cam_from_lidar is not a rigid transform (rotation + translation)")
        if np.linalg.det(rotation) < 0:
            raise SpotInputError(f"{where}: T_cam_from_lidar mirrors (det < 0), expected a proper rotation")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "T_cam_from_lidar", T)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def centre_in_lidar(self) -> np.ndarray:
        """The camera's optical centre (3,) in the LiDAR frame."""
        rotation, translation = self.T_cam_from_lidar[:3, :3], self.T_cam_from_lidar[:3, 3]
        return -rotation.T @ translation

    def project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LiDAR-frame points (N, 3) -> pixel coordinates (N, 2) (u right, v down) and camera depth z (N,).

        Points at or behind the camera plane (z <= 0) get non-finite pixel coordinates."""
        camera = np.asarray(xyz, dtype=np.float64) @ self.T_cam_from_lidar[:3, :3].T + self.T_cam_from_lidar[:3, 3]
        depth = camera[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = (camera @ self.K.T)[:, :2] / depth[:, None]
        uv[depth <= 0] = np.nan
        return uv, depth

    def pixels(self, xyz: np.ndarray, min_depth: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pixel each point projects into: column, row (N,) int64 and a mask of the points in the image
        at least `min_depth` metres in front of the camera (column and row are 0 where the mask is False)."""
        uv, depth = self.project(xyz)
        with np.errstate(invalid="ignore"):
            col, row = np.floor(uv[:, 0] + 0.5), np.floor(uv[:, 1] + 0.5)
            seen = (depth >= min_depth) & (col >= 0) & (col < self.width) & (row >= 0) & (row < self.height)
        return np.where(seen, col, 0).astype(np.int64), np.where(seen, row, 0).astype(np.int64), seen

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "K": self.K.tolist(),
            "T_cam_from_lidar": self.T_cam_from_lidar.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> CameraCalibration:
        if not isinstance(data, dict):
            raise SpotInputError(f"a camera entry must be a mapping, got {type(data).__name__}")
        missing = [key for key in ("name", "width", "height", "K", "T_cam_from_lidar") if key not in data]
        if missing:
            raise SpotInputError(f"camera {data.get('name', '?')!r} lacks {missing}")
        return cls(data["name"], data["K"], data["T_cam_from_lidar"], data["width"], data["height"])


@dataclass(frozen=True, eq=False)
class CameraFrame:
    """One image with the calibration it was taken with: what a camera-aware objective consumes per camera."""

    calibration: CameraCalibration
    image: np.ndarray  # (height, width, 3) uint8 RGB
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", np.asarray(self.image))
        expected = (self.calibration.height, self.calibration.width, 3)
        if self.image.shape != expected or self.image.dtype != np.uint8:
            raise SpotInputError(
                f"camera {self.name}: image {self.image.shape} {self.image.dtype}, expected uint8 {expected}",
                source=self.source or None,
            )

    @property
    def name(self) -> str:
        return self.calibration.name

    @property
    def K(self) -> np.ndarray:
        return self.calibration.K

    @property
    def T_cam_from_lidar(self) -> np.ndarray:
        return self.calibration.T_cam_from_lidar

    @property
    def size(self) -> tuple[int, int]:
        return self.calibration.size


def _matrix(values, shape: tuple[int, int], what: str) -> np.ndarray:
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise SpotInputError(f"{what} must hold numbers: {error}") from error
    if matrix.shape != shape or not np.isfinite(matrix).all():
        raise SpotInputError(f"{what} has shape {matrix.shape} or non-finite values, expected finite {shape}")
    return matrix


def write_rig(path: str | Path, cameras: tuple[CameraCalibration, ...] | list[CameraCalibration]) -> None:
    """Write a rig's calibrations as `cameras.json` (floats written exactly: JSON keeps Python's repr)."""
    names = [camera.name for camera in cameras]
    if len(set(names)) != len(names):
        raise SpotInputError(f"camera names {names} repeat; each camera needs its own folder", source=path)
    document = {"format_version": FORMAT_VERSION, "conventions": CONVENTIONS, "cameras": [c.to_dict() for c in cameras]}
    Path(path).write_text(json.dumps(document, indent=1) + "\n")


def read_rig(path: str | Path) -> tuple[CameraCalibration, ...]:
    """The calibrations of a `cameras.json`, in rig order; every error names the file."""
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such camera calibration file", source=path)
    try:
        document = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SpotInputError(f"is not JSON: {error}", source=path) from error
    entries = document.get("cameras") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SpotInputError("expected {'cameras': [ {name, width, height, K, T_cam_from_lidar}, ... ]}", source=path)
    if document.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise SpotInputError(f"format_version {document['format_version']!r}, expected {FORMAT_VERSION}", source=path)
    try:
        cameras = tuple(CameraCalibration.from_dict(entry) for entry in entries)
    except SpotInputError as error:
        raise SpotInputError(error.message, source=path) from error
    names = [camera.name for camera in cameras]
    if len(set(names)) != len(names):
        raise SpotInputError(f"camera names {names} repeat", source=path)
    return cameras


def write_image(path: str | Path, image: np.ndarray) -> None:
    """An RGB uint8 image as PNG (Pillow writes no timestamp: the same pixels give the same bytes)."""
    Image.fromarray(np.ascontiguousarray(image), mode="RGB").save(Path(path), format="PNG")


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H, W, 3); grey or palette images are converted, alpha dropped."""
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such camera image", source=path)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, Image.DecompressionBombError) as error:
        raise SpotInputError(f"is not a readable image: {error}", source=path) from error


def image_path(sequence_folder: str | Path, camera: str, stem: str) -> Path:
    return Path(sequence_folder) / CAMERA_FOLDER / camera / f"{stem}.png"


def rig_path_for(scan_path: str | Path) -> Path:
    """Where the rig of the scan `sequences/SS/velodyne/NNNNNN.bin` is: `sequences/SS/cameras.json`."""
    return Path(scan_path).parent.parent / CAMERAS_FILE


def _kitti_image_path(scan_path: Path) -> Path:
    return scan_path.parent.parent / KITTI_CAMERA / f"{scan_path.name.split('.')[0]}.png"


def has_camera_frames(scan_path: str | Path) -> bool:
    """Whether the scan's layout puts camera images beside it (this layout's rig, or KITTI's image_2)."""
    return rig_path_for(scan_path).is_file() or _kitti_image_path(Path(scan_path)).is_file()


def read_camera_frames(scan_path: str | Path) -> tuple[CameraFrame, ...]:
    """The images taken with the scan at `scan_path`: one per camera of its sequence's rig, in rig order, or
    KITTI's `image_2` where the scan has no rig but that image."""
    scan_path = Path(scan_path)
    folder, stem = scan_path.parent.parent, scan_path.name.split(".")[0]
    if not rig_path_for(scan_path).is_file() and _kitti_image_path(scan_path).is_file():
        return (read_kitti_camera(_kitti_image_path(scan_path), folder / "calib" / f"{stem}.txt"),)
    frames = []
    for calibration in read_rig(rig_path_for(scan_path)):
        path = image_path(folder, calibration.name, stem)
        frames.append(CameraFrame(calibration, read_image(path), str(path)))
    return tuple(frames)


def read_kitti_camera(image_path: str | Path, calib_path: str | Path) -> CameraFrame:
    """KITTI's left colour camera: `image_2/ID.png` with the P2, R0_rect and Tr_velo_to_cam of `calib/ID.txt`."""
    calib = read_calib(calib_path, ("P2", "R0_rect", "Tr_velo_to_cam"), "for the image_2 camera's calibration")
    projection = calib["P2"][:3]
    K = projection[:, :3]
    rectified_to_camera = np.eye(4)
    rectified_to_camera[:3, 3] = np.linalg.solve(K, projection[:, 3])  # P2 = K [I | t]: cam 2 sits beside cam 0
    image = read_image(image_path)
    try:
        calibration = CameraCalibration(
            KITTI_CAMERA, K, rectified_to_camera @ calib["R0_rect"] @ calib["Tr_velo_to_cam"], *image.shape[1::-1]
        )
    except SpotInputError as error:
        raise SpotInputError(error.message, source=calib_path) from error
    return CameraFrame(calibration, image, str(image_path))
