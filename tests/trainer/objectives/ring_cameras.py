"""A small camera rig for CLAP's learning tests: the simulator's own cameras (rendered by its ray caster at the
sweep's instant), three level 128 x 64 cameras with 120 degree fields of view around the LiDAR, about a tenth of
the `nusc6` rig's pixels so that a few dozen CPU steps stay short. The registries here add `sim_ring`: `sim`
with that rig (`cameras`: how many cameras in the ring)."""

from dataclasses import dataclass, replace

from spot.sim import CameraSpec
from spot.trainer.components import DATASETS, MODELS, OBJECTIVES
from spot.trainer.data.datasets import SimDataConfig, SimulatedDataset
from spot.trainer.registry import Entry, Registries


def ring(cameras: int) -> tuple[CameraSpec, ...]:
    return tuple(CameraSpec(f"ring{i}", 360.0 * i / cameras, (0.3, 0.0, -0.2), 128, 64, 120.0) for i in range(cameras))


@dataclass
class RingCameraDataConfig(SimDataConfig):
    cameras: int = 3


class RingCameraDataset(SimulatedDataset):
    def __init__(self, config: RingCameraDataConfig, info):
        super().__init__(replace(config, cameras=None), info)
        self.sequences = [replace(sequence, cameras=ring(config.cameras)) for sequence in self.sequences]


REGISTRIES = Registries(
    datasets={**DATASETS, "sim_ring": Entry(RingCameraDataset, RingCameraDataConfig)},
    models=MODELS,
    objectives=OBJECTIVES,
)
