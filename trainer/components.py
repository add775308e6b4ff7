"""Everything a config can name: the filled registries (types in `spot.trainer.registry`).

One explicit entry per component, so this file is the list of what exists; adding a component means adding
its line here.
"""

from __future__ import annotations

from .data.datasets import (
    FolderDataConfig,
    FolderDataset,
    KittiObjectDataConfig,
    KittiObjectDataset,
    NuScenesDataConfig,
    NuScenesDataset,
    RosbagDataConfig,
    RosbagDataset,
    SimDataConfig,
    SimulatedDataset,
)
from .data.multi_domain import MultiDomainDataConfig, MultiDomainDataset
from .models.backbones import SparseBEVEncoder, SparseBEVEncoderConfig, SparseUNet, SparseUNetConfig
from .objectives.also.task import AlsoSurfaceConfig, build_also_task
from .objectives.clap.task import ClapConfig, build_clap_task
from .objectives.detection.task import CenterPointConfig, build_detection_task
from .objectives.ppt.task import PPTSegmentationConfig, build_ppt_task
from .objectives.segmentation.task import SegmentationConfig, build_segmentation_task
from .objectives.spot.task import SpotOccupancyConfig, build_spot_task
from .registry import Entry, Registries


def _domains(info) -> int:
    """How many domains a backbone's norms may be conditioned on (PPT's PDNorm)."""
    return len(info.domains) if info is not None else 0


DATASETS: dict[str, Entry] = {
    "sim": Entry(SimulatedDataset, SimDataConfig),
    "semantickitti": Entry(FolderDataset, FolderDataConfig),
    "nuscenes_lidarseg": Entry(NuScenesDataset, NuScenesDataConfig),
    "kitti_object": Entry(KittiObjectDataset, KittiObjectDataConfig),
    "rosbag": Entry(RosbagDataset, RosbagDataConfig),
    "multi_domain": Entry(MultiDomainDataset, MultiDomainDataConfig),
}
MODELS: dict[str, Entry] = {
    "sparse_unet": Entry(lambda config, info: SparseUNet(config, _domains(info)), SparseUNetConfig),
    "sparse_bev_encoder": Entry(lambda config, info: SparseBEVEncoder(config, _domains(info)), SparseBEVEncoderConfig),
}
OBJECTIVES: dict[str, Entry] = {
    "spot_occupancy": Entry(build_spot_task, SpotOccupancyConfig),
    "also_surface": Entry(build_also_task, AlsoSurfaceConfig),
    "clap_prototypes": Entry(build_clap_task, ClapConfig),
    "semantic_segmentation": Entry(build_segmentation_task, SegmentationConfig),
    "centerpoint_detection": Entry(build_detection_task, CenterPointConfig),
    "ppt_segmentation": Entry(build_ppt_task, PPTSegmentationConfig),
}

REGISTRIES = Registries(datasets=DATASETS, models=MODELS, objectives=OBJECTIVES)
