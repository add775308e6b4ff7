"""CLAP's geometry: curvature of analytic SDFs, ray draws, NeuS rendering of a plane, lifting through a camera."""

import numpy as np
import pytest
import torch

from spot.runtime import VoxelGrid
from spot.runtime.io.cameras import CameraCalibration, CameraFrame
from spot.trainer.objectives.clap.cameras import first_camera_seeing, lift_image_features, mask_patches
from spot.trainer.objectives.clap.curvature import draw_rays, normal_divergence
from spot.trainer.objectives.clap.field import VolumeSampler
from spot.trainer.objectives.clap.masking import block_mask
from spot.trainer.objectives.clap.rendering import NeuSRenderer, RenderConfig

GRID = VoxelGrid((-20.0, -20.0, -4.0, 20.0, 20.0, 4.0), (0.5, 0.5, 0.5))
# LiDAR x forward, y left, z up -> camera x right, y down, z forward: a camera at the origin looking along +x.
FORWARD = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], np.float64)


def _sphere_points(radius: float, count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    direction = torch.nn.functional.normalize(torch.randn(count, 3, generator=generator), dim=1)
    return (radius * direction).double()


@pytest.mark.parametrize("radius", [0.5, 2.0, 10.0])
def test_curvature_of_a_sphere_is_two_over_its_radius(radius):
    points = _sphere_points(radius, 200) + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    centre = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    kappa = normal_divergence(lambda x: (x - centre).norm(dim=1) - radius, points, step=0.02 * radius)
    assert (kappa / (2 / radius) - 1).abs().max() < 0.05


def test_curvature_of_a_plane_is_zero():
    points = torch.rand(100, 3, dtype=torch.float64) * 10
    kappa = normal_divergence(lambda x: x @ torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64) - 1.0, points, 0.1)
    assert kappa.abs().max() < 1e-3


def test_uniform_draw_takes_the_first_candidates_and_curvature_prefers_the_bent_ones():
    frame = torch.tensor([0] * 100 + [1] * 50)
    first = draw_rays(frame, 10, None)
    assert first.tolist() == list(range(10)) + list(range(100, 110))
    curvature = torch.cat([torch.full((90,), 0.01), torch.full((10,), 2.0), torch.rand(50)])
    torch.manual_seed(0)
    chosen = draw_rays(frame, 10, curvature, uniform_share=0.25)
    assert len(chosen) == 20 and len(chosen.unique()) == 20
    assert curvature[chosen[:10]].mean() > 5 * curvature[:100].mean()


class PlaneField:
    """An SDF plane x = d (free space towards the origin), grey everywhere."""

    def __init__(self, d: float):
        self.d = d

    def sdf(self, volume, points, batch):
        return self.d - points[:, 0]

    def __call__(self, volume, points, batch, directions):
        return self.d - points[:, 0], torch.full((len(points), 3), 0.5), torch.full((len(points),), 0.3)


@pytest.mark.parametrize("distance", [3.3, 7.0, 15.2])
def test_neus_renders_a_planes_depth_within_half_a_sample_spacing(distance):
    config = RenderConfig()
    renderer = NeuSRenderer(GRID, config).eval()
    rays = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.2, 0.0], [1.0, -0.3, 0.1]])
    directions = torch.nn.functional.normalize(rays, dim=1)
    rendered = renderer(PlaneField(distance), None, torch.zeros(3, dtype=torch.long), torch.zeros(3, 3), directions)
    expected = distance / directions[:, 0]
    spacing = (20.0 - config.near) / config.uniform_samples
    assert (rendered.depth - expected).abs().max() < spacing / 2
    assert torch.allclose(rendered.intensity, torch.full((3,), 0.3), atol=0.02)


def test_volume_sampler_interpolates_a_linear_field_exactly():
    grid = VoxelGrid((-4.0, -4.0, -2.0, 4.0, 4.0, 2.0), (1.0, 1.0, 1.0))
    sampler = VolumeSampler(grid)
    z, _, x = torch.meshgrid(torch.arange(4.0), torch.arange(8.0), torch.arange(8.0), indexing="ij")
    centres_x = -4 + x + 0.5
    volume = torch.stack([centres_x, 2 * z]).unsqueeze(0)  # channel 0 = the cell centre's x, channel 1 = 2 z index
    points = torch.tensor([[0.3, 1.2, -0.4], [-2.9, 0.0, 1.1]])
    sampled = sampler(volume, points, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(sampled[:, 0], points[:, 0], atol=1e-5)
    assert torch.allclose(sampled[:, 1], 2 * (points[:, 2] + 2 - 0.5), atol=1e-5)


def test_lifting_samples_the_feature_each_point_projects_to():
    width, height, stride = 64, 32, 4
    K = np.array([[40.0, 0, 31.5], [0, 40.0, 15.5], [0, 0, 1]])
    u = (torch.arange(width // stride) + 0.5) * stride - 0.5  # the pixel column each feature column is centred on
    features = u.expand(height // stride, -1)[None, None, None].float()  # (1, 1, 1, h, w): feature = column
    points = torch.tensor([[10.0, 0.0, 0.0], [10.0, -3.0, 1.0], [-5.0, 0.0, 0.0], [10.0, 40.0, 0.0]])
    calibration = torch.tensor(K).float()[None, None], torch.tensor(FORWARD).float()[None, None]
    lifted = lift_image_features(features, *calibration, (height, width), points)
    column = 40.0 * (-points[:2, 1]) / points[:2, 0] + 31.5
    assert torch.allclose(lifted[0, 0, :2], column, atol=1e-4)
    assert lifted[0, 0, 2:].abs().max() == 0  # behind the camera, outside the image


def test_first_camera_seeing_gives_the_pixel_colour_and_centre():
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, :, 0] = np.arange(64, dtype=np.uint8)[None] * 4
    T = FORWARD.copy()
    T[:3, 3] = -FORWARD[:3, :3] @ np.array([0.5, 0.0, -0.3])  # camera centre at (0.5, 0, -0.3) in the LiDAR frame
    camera = CameraFrame(CameraCalibration("front", np.array([[40.0, 0, 31.5], [0, 40.0, 15.5], [0, 0, 1]]), T, 64, 32),
                         image)  # fmt: skip
    xyz = np.array([[10.5, 0.0, -0.3], [-5.0, 0.0, 0.0]])
    index, centre, colour = first_camera_seeing([camera], xyz)
    assert index.tolist() == [0, -1]
    assert np.allclose(centre[0], [0.5, 0.0, -0.3]) and colour[0, 0] == pytest.approx(32 * 4 / 255)


def test_block_mask_drops_about_the_ratio_of_blocks_and_never_all():
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-19, 19, size=(20000, 3)) * [1, 1, 0.1]
    keep = block_mask(xyz, GRID, block_voxels=4, ratio=0.8, rng=rng)
    assert 0.1 < keep.mean() < 0.3
    assert block_mask(xyz[:5], GRID, 4, 0.99, np.random.default_rng(1)).any()


def test_mask_patches_zeroes_whole_patches():
    torch.manual_seed(0)
    masked = mask_patches(torch.ones(2, 3, 32, 64), 8, 0.3)
    patches = masked[:, 0].unfold(1, 8, 8).unfold(2, 8, 8).reshape(2, 4, 8, -1)
    assert set(patches.mean(-1).unique().tolist()) <= {0.0, 1.0}
    assert 0.1 < 1 - masked.mean().item() < 0.5
