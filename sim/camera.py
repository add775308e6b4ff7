"""Pinhole cameras rendered by the LiDAR's ray caster, at the same instant as the sweep.

A *level* camera (optical axis horizontal: any heading, any position, no pitch or roll) keeps the ray caster
exact: pixel (u, v) looks along azimuth `yaw - atan((u - cx) / fx)`, a function of the column alone, with
elevation `tan e = -(v - cy) / (fy * sqrt(1 + ((u - cx) / fx)^2))` per pixel. Every closed-form hit test
broadcasts a per-pixel elevation against per-column azimuths, and a solid is tested only against the columns
inside its bounding cylinder's azimuth span and the rows its elevation span can reach. Pitched cameras would
need per-pixel azimuths; rigs stay level, as nuScenes' six cameras nearly are.

Per pixel the renderer keeps the distance along the ray (inf = sky), the raw label and the instance (tests and
supervision), and shades the hit (`shading.py`) into an RGB image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spot.runtime.errors import SpotInputError
from spot.runtime.io.cameras import CameraCalibration, CameraFrame

from .ground import Ground
from .raycast import RangeImage, draw_solids
from .shading import Lighting, encode, ground_albedo, haze, sky, solid_albedo, texture
from .solids import RayBlock, Solid, in_frame

CAMERA_RANGE = 300.0  # metres: the far plane; beyond it (and where nothing is hit) the sky is seen
# Camera axes (x right, y down, z forward) in the LiDAR frame (x forward, y left, z up) of a camera facing +x.
CAMERA_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class CameraSpec:
    """A level camera on the vehicle: heading `yaw_deg` (0 = forward, 90 = left), optical centre `xyz` in the
    LiDAR frame, image size and horizontal field of view; square pixels, principal point at the centre."""

    name: str
    yaw_deg: float
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    width: int = 320
    height: int = 180
    hfov_deg: float = 70.0

    def __post_init__(self) -> None:
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise SpotInputError(f"camera {self.name}: hfov_deg={self.hfov_deg}, expected 1..170 degrees")

    def calibration(self) -> CameraCalibration:
        focal = (self.width / 2) / np.tan(np.deg2rad(self.hfov_deg) / 2)
        K = [[focal, 0.0, (self.width - 1) / 2], [0.0, focal, (self.height - 1) / 2], [0.0, 0.0, 1.0]]
        yaw = np.deg2rad(self.yaw_deg)
        lidar_from_camera = np.eye(4)
        lidar_from_camera[:3, :3] = _yaw_matrix(yaw) @ CAMERA_AXES
        lidar_from_camera[:3, 3] = self.xyz
        return CameraCalibration(self.name, K, np.linalg.inv(lidar_from_camera), self.width, self.height)


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _nuscenes_like(width: int, height: int) -> tuple[CameraSpec, ...]:
    """nuScenes' six cameras (headings, 70 degree fronts and sides, a 110 degree back camera; positions
    relative to the roof LiDAR, rounded) at a CPU-sized resolution."""
    return (
        CameraSpec("CAM_FRONT", 0.0, (0.75, 0.0, -0.3), width, height, 70.0),
        CameraSpec("CAM_FRONT_RIGHT", -55.0, (0.55, -0.48, -0.3), width, height, 70.0),
        CameraSpec("CAM_BACK_RIGHT", -110.0, (0.1, -0.48, -0.3), width, height, 70.0),
        CameraSpec("CAM_BACK", 180.0, (-0.9, 0.0, -0.3), width, height, 110.0),
        CameraSpec("CAM_BACK_LEFT", 110.0, (0.1, 0.48, -0.3), width, height, 70.0),
        CameraSpec("CAM_FRONT_LEFT", 55.0, (0.55, 0.48, -0.3), width, height, 70.0),
    )


CAMERA_RIGS: dict[str, tuple[CameraSpec, ...]] = {
    "nusc6": _nuscenes_like(256, 144),
    "nusc6-hd": _nuscenes_like(640, 360),
    "front": (CameraSpec("CAM_FRONT", 0.0, (0.75, 0.0, -0.3), 640, 360, 70.0),),
}


def camera_rig(name: str) -> tuple[CameraSpec, ...]:
    if name not in CAMERA_RIGS:
        raise SpotInputError(f"unknown camera rig {name!r}; known rigs: {sorted(CAMERA_RIGS)}")
    return CAMERA_RIGS[name]


@dataclass(frozen=True)
class CameraGeometry:
    """The pixel rays of a level camera in the frame at its optical centre with the LiDAR's axes: azimuth
    (W,) per column, `slope` (H,) = -(v - cy) / fy per row, `stretch` (W,) = sqrt(1 + ((u - cx) / fx)^2), and
    the elevation's tan / cos / sin (H, W)."""

    yaw: float
    relative: np.ndarray  # azimuth - yaw per column, decreasing
    slope: np.ndarray  # decreasing
    stretch: np.ndarray
    tan_e: np.ndarray
    cos_e: np.ndarray
    sin_e: np.ndarray
    centre_column: int  # where `stretch` is least

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rising_relative", -self.relative)  # ascending copies for searchsorted
        object.__setattr__(self, "_rising_slope", -self.slope)
        object.__setattr__(self, "_stretch", self.stretch.tolist())

    @classmethod
    def of(cls, calibration: CameraCalibration) -> CameraGeometry:
        """The geometry of a level camera; a pitched or rolled one is refused (the hit tests would be wrong)."""
        rotation = calibration.T_cam_from_lidar[:3, :3].T  # camera axes in the LiDAR frame (columns)
        yaw = float(np.arctan2(rotation[1, 2], rotation[0, 2]))
        if not np.allclose(rotation, _yaw_matrix(yaw) @ CAMERA_AXES, atol=1e-9):
            raise SpotInputError(f"camera {calibration.name}: not level (pitched or rolled); only level ones render")
        K = calibration.K
        if K[0, 1] != 0:
            raise SpotInputError(f"camera {calibration.name}: skewed pixels (K[0, 1] = {K[0, 1]}) are not rendered")
        across = (np.arange(calibration.width) - K[0, 2]) / K[0, 0]
        slope = -(np.arange(calibration.height) - K[1, 2]) / K[1, 1]
        stretch = np.sqrt(1.0 + across**2)
        tan_e = slope[:, None] / stretch[None, :]
        cos_e = 1.0 / np.sqrt(1.0 + tan_e**2)
        centre_column = int(np.argmin(stretch))
        return cls(yaw, -np.arctan(across), slope, stretch, tan_e, cos_e, tan_e * cos_e, centre_column)

    @property
    def half_span(self) -> float:
        """The largest |azimuth - yaw| of a pixel ray (half the horizontal field of view, to pixel centres)."""
        return float(max(abs(self.relative[0]), abs(self.relative[-1])))

    @property
    def azimuth(self) -> np.ndarray:
        return self.yaw + self.relative

    @property
    def shape(self) -> tuple[int, int]:
        return self.tan_e.shape

    def block(self, rows: slice, cols: slice) -> RayBlock:
        azimuth = self.azimuth[None, cols]
        return RayBlock(
            self.tan_e[rows, cols], self.cos_e[rows, cols], self.sin_e[rows, cols], np.cos(azimuth), np.sin(azimuth)
        )

    def blocks(self, low: float, high: float, centre: float, half_width: float) -> list[tuple[slice, slice]]:
        """The one (rows, columns) block of pixels with azimuth within `half_width` of `centre` and elevation
        in [low, high] somewhere in those columns (conservative: elevation varies along a row)."""
        first, last = 0, len(self.relative)
        if half_width < math.pi:
            offset = (centre - self.yaw + math.pi) % (2 * math.pi) - math.pi  # the view is within +-90 deg: no wrap
            first = int(self._rising_relative.searchsorted(-(offset + half_width), "left"))
            last = int(self._rising_relative.searchsorted(-(offset - half_width), "right"))
            if first >= last:
                return []
        # stretch is convex in the column: least at the centre column (or the nearer end), most at an end
        stretch = self._stretch  # a list: scalar look-ups without numpy's per-item cost
        least = stretch[min(max(self.centre_column, first), last - 1)]
        most = max(stretch[first], stretch[last - 1])
        low_tan, high_tan = math.tan(low), math.tan(high)
        lowest, highest = min(low_tan * least, low_tan * most), max(high_tan * least, high_tan * most)
        rising = self._rising_slope
        rows = slice(int(rising.searchsorted(-highest, "left")), int(rising.searchsorted(-lowest, "right")))
        return [] if rows.start >= rows.stop else [(rows, slice(first, last))]


@dataclass(frozen=True)
class CameraTruth:
    """Per pixel (H, W): `distance` along the ray from the optical centre, metres (inf = sky), raw SemanticKITTI
    `label` (0 = sky) and `instance` (0 = stuff or sky)."""

    distance: np.ndarray
    label: np.ndarray
    instance: np.ndarray


def render_camera(
    calibration: CameraCalibration,
    ground: Ground,
    lidar_pose: np.ndarray,
    solids: list[Solid],
    lighting: Lighting,
    rng: np.random.Generator,
    *,
    max_range: float = CAMERA_RANGE,
    source: str = "",
) -> tuple[CameraFrame, CameraTruth]:
    """The image of a level camera on a LiDAR at `lidar_pose` (LiDAR -> world, level) of the world `solids`."""
    geometry = CameraGeometry.of(calibration)
    pose = lidar_pose.copy()
    pose[:3, 3] = lidar_pose[:3, :3] @ calibration.centre_in_lidar + lidar_pose[:3, 3]
    yaw = float(np.arctan2(pose[1, 0], pose[0, 0]))
    rays = geometry.block(slice(None), slice(None))
    ground_hits = ground.cast(pose[:3, 3], yaw, rays.tan_e, rays.cos_e, geometry.azimuth[None, :])
    shape = geometry.shape
    image = RangeImage(
        ground_hits.t,
        ground_hits.label.astype(np.int32),
        np.zeros(shape, np.int32),
        ground_hits.reflectivity,
        ground_hits.cos_inc,
        np.full(shape, -1, np.int32),
    )
    local_solids = in_frame(_in_view(solids, pose, geometry, max_range), pose)
    draw_solids(image, geometry, local_solids, max_range)

    distance = image.t / rays.cos_e
    seen = distance <= max_range
    pixels = np.flatnonzero(seen)  # the shading works on the seen pixels only, as flat (N, ...) arrays
    column = pixels % shape[1]
    cos_a, sin_a = np.cos(geometry.azimuth)[column], np.sin(geometry.azimuth)[column]
    cos_e, sin_e = rays.cos_e.ravel()[pixels], rays.sin_e.ravel()[pixels]
    points = image.t.ravel()[pixels, None] * np.column_stack([cos_a, sin_a, sin_e / cos_e])  # camera-centred frame
    owner = image.solid.ravel()[pixels]
    normal, albedo, pattern_at = np.empty((len(pixels), 3)), np.empty((len(pixels), 3)), np.empty((len(pixels), 3))
    on_ground = owner < 0
    segment, strip, face = (where.ravel()[pixels[on_ground]] for where in (ground_hits.segment, ground_hits.strip,
                                                                             ground_hits.face))  # fmt: skip
    heading = (geometry.azimuth + yaw)[column[on_ground]]
    normal[on_ground] = ground.normal(segment, strip, face, heading) @ pose[:3, :3]  # world -> camera-centred
    albedo[on_ground] = ground_albedo(image.label.ravel()[pixels[on_ground]])
    pattern_at[on_ground] = points[on_ground] @ pose[:3, :3].T + pose[:3, 3]  # world coordinates
    _shade_solids(owner, points, local_solids, normal, albedo, pattern_at)

    facing = cos_e * (cos_a * normal[:, 0] + sin_a * normal[:, 1]) + sin_e * normal[:, 2]
    normal *= np.where(facing > 0, -1.0, 1.0)[:, None]  # the side in view
    sun = pose[:3, :3].T @ lighting.sun
    lit = albedo * (texture(pattern_at) * lighting.irradiance(normal, sun))[:, None]
    radiance = np.empty((seen.size, 3))
    radiance[pixels] = haze(lit, distance.ravel()[pixels])
    radiance[~seen.ravel()] = sky(rays.sin_e[~seen])
    truth = CameraTruth(
        np.where(seen, distance, np.inf).astype(np.float32),
        np.where(seen, image.label, 0).astype(np.int32),
        np.where(seen, image.instance, 0).astype(np.int32),
    )
    return CameraFrame(calibration, encode(radiance.reshape(*shape, 3), rng), source), truth


def _in_view(solids: list[Solid], pose: np.ndarray, geometry: CameraGeometry, max_range: float) -> list[Solid]:
    """The world solids whose bounding cylinder reaches into the camera's horizontal field of view and range:
    one vectorised test, so only those pay for a move into the camera frame and the per-solid culling."""
    if not solids:
        return []
    centre = np.array([(s.x, s.y, s.radius) for s in solids])
    dx, dy = centre[:, 0] - pose[0, 3], centre[:, 1] - pose[1, 3]
    distance, radius = np.hypot(dx, dy), centre[:, 2]
    heading = np.arctan2(pose[1, 0], pose[0, 0]) + geometry.yaw
    offset = np.abs(np.mod(np.arctan2(dy, dx) - heading + np.pi, 2 * np.pi) - np.pi)
    with np.errstate(invalid="ignore"):
        half_width = np.arcsin(np.minimum(radius / distance, 1.0))
    keep = (distance - radius <= max_range) & ((distance <= radius) | (offset - half_width <= geometry.half_span))
    return [solid for solid, kept in zip(solids, keep, strict=True) if kept]


def _shade_solids(owner, points, solids, normal, albedo, pattern_at) -> None:
    """Fill the normals, albedos and pattern coordinates (N, 3) of the pixels whose `owner` is a solid (index
    into `solids`; -1: the ground), one solid at a time."""
    key = owner.astype(np.int16) if len(solids) < 2**15 else owner  # 16-bit keys: numpy's stable sort is a radix sort
    order = np.argsort(key, kind="stable")
    order = order[owner[order] >= 0]
    sorted_owner = owner[order]
    starts = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]]) if len(order) else []
    for group in np.split(order, starts[1:]):
        if len(group):
            solid = solids[int(owner[group[0]])]
            local = solid.local(points[group])
            normal[group] = solid.normal(local)
            albedo[group] = solid_albedo(solid.surface)
            pattern_at[group] = local
