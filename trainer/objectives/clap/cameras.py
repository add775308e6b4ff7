"""Camera frames in a CLAP batch: stacking, patch masking, and lifting image features onto the LiDAR volume.

Camera frames are `spot.runtime.io.cameras.CameraFrame`s (image + `CameraCalibration`: K, T_cam_from_lidar).
Lifting is backward projection: every cell centre of the coarse volume is projected into every camera and the
feature map is sampled bilinearly there, averaged over the cameras that see the cell (zero where none does). CLAP
and UniPAD lift with predicted depth distributions (LSS-style); backward projection is the lighter choice
CLAP.md proposes for spot's scale (reconstructed): it spreads a pixel's feature along its whole ray, and the
LiDAR volume and the rendering losses decide where along it the surface is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from spot.runtime import SpotInputError
from spot.runtime.io.cameras import CameraFrame

MIN_DEPTH = 0.1  # metres in front of a camera for a point to project into it


def stack_cameras(frames: Sequence[Sequence[CameraFrame]], source: str = "") -> dict[str, torch.Tensor]:
    """Per frame the same number of cameras of one image size -> images float (B, N, 3, H, W) in [0, 1],
    intrinsics (B, N, 3, 3), cam_from_lidar (B, N, 4, 4) float32."""
    shapes = {(len(cameras), *tuple(camera.image.shape)) for cameras in frames for camera in cameras}
    if len(shapes) != 1 or any(not cameras for cameras in frames):
        raise SpotInputError(f"a CLAP batch needs every frame to have the same cameras with images of one size, "
                             f"found (cameras, height, width, 3) {sorted(shapes)}", source=source or None)  # fmt: skip
    images = np.stack([np.stack([camera.image for camera in cameras]) for cameras in frames])
    return {
        "images": torch.from_numpy(images).permute(0, 1, 4, 2, 3).float() / 255.0,
        "intrinsics": torch.from_numpy(np.array([[c.K for c in cameras] for cameras in frames], np.float32)),
        "cam_from_lidar": torch.from_numpy(
            np.array([[c.T_cam_from_lidar for c in cameras] for cameras in frames], np.float32)
        ),
    }


def first_camera_seeing(cameras: Sequence[CameraFrame], xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For LiDAR-frame points (N, 3): the first camera whose image they fall in (-1: none), that camera's
    optical centre (N, 3) and the pixel's colour (N, 3) float32 in [0, 1] (zeros where unseen).

    A return inside an image is taken as visible there, without an occlusion test (as UniPAD projects its
    points): the cameras sit within a metre of the LiDAR, so a return hidden from the camera is rare."""
    index = np.full(len(xyz), -1, np.int64)
    centre = np.zeros((len(xyz), 3), np.float32)
    colour = np.zeros((len(xyz), 3), np.float32)
    for i, camera in enumerate(cameras):
        col, row, seen = camera.calibration.pixels(xyz, MIN_DEPTH)
        new = seen & (index < 0)
        index[new] = i
        centre[new] = camera.calibration.centre_in_lidar
        colour[new] = camera.image[row[new], col[new]] / 255.0
    return index, centre, colour


def mask_patches(images: torch.Tensor, patch: int, ratio: float) -> torch.Tensor:
    """Zero a random share `ratio` of `patch` x `patch` pixel blocks of (..., 3, H, W) images (UniPAD masks
    its image patches at the encoder's stride, ratio 0.3)."""
    if ratio == 0:
        return images
    *lead, _, height, width = images.shape
    rows, cols = -(-height // patch), -(-width // patch)
    keep = (torch.rand(*lead, 1, rows, cols, device=images.device) >= ratio).to(images.dtype)
    keep = keep.repeat_interleave(patch, -2).repeat_interleave(patch, -1)[..., :height, :width]
    return images * keep


def lift_image_features(
    features: torch.Tensor,
    intrinsics: torch.Tensor,
    cam_from_lidar: torch.Tensor,
    image_size: tuple[int, int],
    centres: torch.Tensor,
) -> torch.Tensor:
    """features (B, N, C, h, w) of images (height, width) = `image_size`; centres (P, 3) LiDAR-frame points ->
    (B, C, P): the bilinear feature at each point's projection, averaged over the cameras that see it."""
    b, n, c, h, w = features.shape
    height, width = image_size
    rotation, translation = cam_from_lidar[..., :3, :3], cam_from_lidar[..., :3, 3]  # (B, N, 3, 3), (B, N, 3)
    camera = torch.einsum("bnij,pj->bnpi", rotation, centres) + translation[:, :, None]  # (B, N, P, 3)
    depth = camera[..., 2]
    pixel = torch.einsum("bnij,bnpj->bnpi", intrinsics, camera)[..., :2] / depth.clamp(min=MIN_DEPTH)[..., None]
    # Pixel centres are at integer coordinates: the image spans [-0.5, size - 0.5] -> [-1, 1] (align_corners=False).
    grid = torch.stack([(2 * pixel[..., 0] + 1) / width - 1, (2 * pixel[..., 1] + 1) / height - 1], dim=-1)
    seen = (depth >= MIN_DEPTH) & (grid.abs() <= 1).all(-1)  # (B, N, P)
    sampled = F.grid_sample(features.reshape(b * n, c, h, w), grid.reshape(b * n, 1, -1, 2), align_corners=False)
    sampled = sampled.view(b, n, c, -1) * seen[:, :, None]
    return sampled.sum(1) / seen.sum(1).clamp(min=1)[:, None]
