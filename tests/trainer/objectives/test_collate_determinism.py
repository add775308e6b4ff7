"""A task's random choices about a sample (ALSO queries, SPOT carved rays) follow the sample, not the process.

collate runs outside the engine's per-sample seeding (in a worker or the main process, after a resume or
not), so those choices must come from the sample's own seed for results to be independent of all that.
"""

import numpy as np
import pytest
import torch

from spot.runtime import VoxelGrid
from spot.trainer.data.datasets import SimDataConfig, SimulatedDataset
from spot.trainer.engine.seeding import isolated_rng
from spot.trainer.engine.task import DatasetInfo
from spot.trainer.models.backbones import SparseUNet, SparseUNetConfig
from spot.trainer.objectives.also.task import AlsoSurfaceConfig, build_also_task
from spot.trainer.objectives.spot.task import SpotOccupancyConfig, build_spot_task


@pytest.mark.parametrize(
    ("build", "config", "key"),
    [
        (build_also_task, AlsoSurfaceConfig(), "queries"),
        (build_spot_task, SpotOccupancyConfig(target="geometric", carve_rays=500), "occupancy"),
    ],
)
def test_collate_depends_on_the_sample_not_the_global_generators(build, config, key):
    info = DatasetInfo((), VoxelGrid((-25.6, -25.6, -3.0, 25.6, 25.6, 1.8), (0.2, 0.2, 0.2)))
    data = SimDataConfig(sensor="vlp16", frames=2, horizontal_resolution_deg=0.8, use_labels=False)
    dataset = SimulatedDataset(data, info)
    with isolated_rng(1):  # what the engine does around dataset[i]
        frame = dataset[0]
    task = build(config, SparseUNet(SparseUNetConfig(channels=(8, 16))), info)
    batches = []
    for ambient in (2, 3):
        with isolated_rng(ambient):
            batches.append(task.collate([frame])[key])
    assert torch.equal(batches[0], batches[1])
    with isolated_rng(4):
        other = dataset[0]  # another epoch or index: another seed, other choices
    assert other.seed != frame.seed and not torch.equal(task.collate([other])[key], batches[0])
    np.testing.assert_array_equal(other.sample.scan.points, frame.sample.scan.points)  # no augmentation here
