import numpy as np
import torch

from spot.runtime import VoxelGrid, voxelize
from spot.trainer.models.heads import ImplicitSurfaceDecoder
from spot.trainer.objectives.also.loss import surface_loss
from spot.trainer.objectives.also.queries import SurfaceQueryConfig, sample_surface_queries

GRID = VoxelGrid((-8.0, -8.0, -2.0, 8.0, 8.0, 2.0), (0.5, 0.5, 0.5))


def _plane_scene(rng):
    """Points on the ground plane z = -1 around the sensor, seen from the origin."""
    xy = rng.uniform(-7, 7, size=(4000, 2))
    xyz = np.concatenate([xy, np.full((4000, 1), -1.0)], axis=1).astype(np.float32)
    intensity = (0.2 + 0.6 * (xy[:, 0] > 0)).astype(np.float32)
    return xyz, intensity


def test_decoder_learns_occupancy_above_accuracy_of_trivial_baseline():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    xyz, intensity = _plane_scene(rng)
    voxels = voxelize(GRID, np.concatenate([xyz, intensity[:, None]], axis=1))
    coords = torch.from_numpy(voxels.coords).long()
    # Features a backbone might produce: the voxel's mean height and intensity.
    features = torch.from_numpy(voxels.features[:, 2:4]).float()
    support = torch.from_numpy(voxels.features[:, :3]).float()
    queries = sample_surface_queries(xyz, intensity, rng, SurfaceQueryConfig(queries_per_scan=1500, behind_max=0.1))
    query_tensor = torch.cat([torch.zeros(len(queries.xyz), 1), torch.from_numpy(queries.xyz)], dim=1)
    occupancy = torch.from_numpy(queries.occupancy)
    target_intensity = torch.from_numpy(queries.intensity)
    decoder = ImplicitSurfaceDecoder(in_channels=2, grid=GRID, radius=0.5, hidden=32)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.01)
    for _ in range(80):
        optimizer.zero_grad()
        logit, predicted_intensity = decoder(coords, features, support, query_tensor)
        loss = surface_loss(logit, predicted_intensity, occupancy, target_intensity)["loss"]
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        logit, predicted_intensity = decoder(coords, features, support, query_tensor)
    accuracy = ((logit > 0).float() == occupancy).float().mean().item()
    trivial = max(occupancy.mean().item(), 1 - occupancy.mean().item())
    assert accuracy > trivial + 0.15, (accuracy, trivial)
    occupied = occupancy > 0.5
    assert (predicted_intensity[occupied] - target_intensity[occupied]).abs().mean() < 0.1
