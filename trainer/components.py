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
    RosbagDataConfig,
    RosbagDataset,
    SimDataConfig,
    SimulatedDataset,
)
from .models.backbones import SparseBEVEncoder, SparseBEVEncoderConfig, SparseUNet, SparseUNetConfig
from .objectives.also.task import AlsoSurfaceConfig, build_also_task
from .objectives.detection.task import CenterPointConfig, build_detection_task
from .objectives.segmentation.task import SegmentationConfig, build_segmentation_task
from .objectives.spot.task import SpotOccupancyConfig, build_spot_task
from .registry import Entry, Registries

DATASETS: dict[str, Entry] = {
    "sim": Entry(SimulatedDataset, SimDataConfig),
    "semantickitti": Entry(FolderDataset, FolderDataConfig),
    "kitti_object": Entry(KittiObjectDataset, KittiObjectDataConfig),
    "rosbag": Entry(RosbagDataset, RosbagDataConfig),
}
MODELS: dict[str, Entry] = {
    "sparse_unet": Entry(lambda config, info: SparseUNet(config), SparseUNetConfig),
    "sparse_bev_encoder": Entry(lambda config, info: SparseBEVEncoder(config), SparseBEVEncoderConfig),
}
OBJECTIVES: dict[str, Entry] = {
    "spot_occupancy": Entry(build_spot_task, SpotOccupancyConfig),
    "also_surface": Entry(build_also_task, AlsoSurfaceConfig),
    "semantic_segmentation": Entry(build_segmentation_task, SegmentationConfig),
    "centerpoint_detection": Entry(build_detection_task, CenterPointConfig),
}

REGISTRIES = Registries(datasets=DATASETS, models=MODELS, objectives=OBJECTIVES)
