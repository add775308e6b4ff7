"""The `spot_occupancy` pre-training objective (SPOT): backbone -> BEV features -> voxel-column occupancy.

Targets come from the points (`occupancy_targets`): semantic occupancy where the frames are labelled,
ray-carved geometric occupancy (free / occupied / unknown) where they are not. A sparse UNet's voxel features
are max-pooled into the occupancy grid's BEV cells; a BEV encoder's map is resampled to them. Evaluation
reports occupancy IoU next to the IoU of the trivial "everything occupied" answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spot.runtime import IGNORE_INDEX, SpotInputError
from spot.trainer.sparse import SparseTensor

from ...engine.task import TASK_TARGETS, THING_CLASSES, DatasetInfo, Task, TrainingFrame
from ...models.heads import OccupancyDecoder
from ...schema import POINT_LABELS, Invalid, bounded, require_classes, require_labels
from ..batching import coarser_grid, grid_stride, voxel_batch
from .loss import OccupancyLoss, OccupancyLossConfig, occupancy_class_weights
from .targets import geometric_occupancy, semantic_occupancy


class OccupancyTarget(StrEnum):
    semantic = "semantic"  # labelled frames: the class of each occupied voxel, or empty
    geometric = "geometric"  # unlabeled frames: ray-carved free / occupied


@dataclass
class SpotOccupancyConfig:
    occupancy_voxel_size: list[float] = bounded(default_factory=lambda: [0.4, 0.4, 0.4], gt=0, length=3)
    target: OccupancyTarget = OccupancyTarget.semantic
    decoder_hidden: int = bounded(64, ge=1)
    carve_rays: int = bounded(20000, ge=1)  # rays carved per frame for geometric targets
    loss: OccupancyLossConfig = field(default_factory=OccupancyLossConfig)

    def check_experiment(self, experiment, key: str) -> None:
        """The occupancy grid coarsens the input grid by whole voxels; semantic targets need labelled classes."""
        fine = experiment.voxelization.voxel_size
        if grid_stride(self.occupancy_voxel_size, fine) is None:
            raise Invalid(f"{key}.occupancy_voxel_size", f"expected a whole multiple of voxelization.voxel_size {fine}",
                          self.occupancy_voxel_size)  # fmt: skip
        if self.target is OccupancyTarget.semantic:
            require_labels(experiment, POINT_LABELS)
            classes = require_classes(experiment)
            outside = [c for c in self.loss.foreground_classes if c >= len(classes)]
            if outside:
                raise Invalid(f"{key}.loss.foreground_classes", f"expected class ids below {len(classes)}", outside)


def pool_to_bev(features: SparseTensor, stride_yx: tuple[int, int], shape_yx: tuple[int, int]) -> torch.Tensor:
    """Max-pool voxel features into BEV cells of `stride_yx` voxels: (B, C, Y, X), zeros where empty."""
    b, _, y, x = features.coords.long().unbind(1)
    cell = (b * shape_yx[0] + y // stride_yx[0]) * shape_yx[1] + x // stride_yx[1]
    channels = features.features.shape[1]
    bev = features.features.new_zeros(features.batch_size * shape_yx[0] * shape_yx[1], channels)
    bev = bev.scatter_reduce(0, cell[:, None].expand(-1, channels), features.features, "amax", include_self=False)
    return bev.view(features.batch_size, *shape_yx, channels).permute(0, 3, 1, 2)


def feature_channels(backbone: nn.Module, grid_shape: tuple[int, int, int]) -> int:
    """Width of what the backbone hands the decoder: its BEV map (encoder) or its voxel features (UNet)."""
    return backbone.bev_channels(grid_shape) if hasattr(backbone, "bev_channels") else backbone.out_channels


class SpotOccupancyTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: SpotOccupancyConfig, semantic: bool):
        super().__init__(backbone, info)
        self.config, self.semantic = config, semantic
        self.occupancy_grid, self.stride = coarser_grid(info.grid, config.occupancy_voxel_size)
        num_classes = len(info.class_names)
        if semantic:
            things = [i for i, name in enumerate(info.class_names) if name in THING_CLASSES]
            weights = occupancy_class_weights(num_classes, config.loss, default_foreground=things)
        else:  # free, occupied
            weights = [config.loss.empty_weight, config.loss.background_weight]
        self.num_outputs = len(weights)
        z_bins = self.occupancy_grid.grid_shape[0]
        channels = feature_channels(backbone, info.grid.grid_shape)
        self.decoder = OccupancyDecoder(channels, self.num_outputs, z_bins, hidden=config.decoder_hidden)
        self.loss = OccupancyLoss(weights, config.loss.lovasz_weight, config.loss.lovasz_max_voxels)

    def collate(self, frames: Sequence[TrainingFrame]) -> dict[str, torch.Tensor]:
        batch = voxel_batch([frame.sample for frame in frames], self.info.grid)
        batch["occupancy"] = torch.from_numpy(np.stack([self._target(frame) for frame in frames]))
        return batch

    def _target(self, frame: TrainingFrame) -> np.ndarray:
        sample = frame.sample
        xyz = np.concatenate([sample.scan.xyz, frame.context_xyz])
        if self.semantic:
            if sample.labels is None:
                raise SpotInputError("semantic occupancy needs labelled frames", source=sample.source)
            labels = np.concatenate([sample.labels, frame.context_labels])
            return semantic_occupancy(self.occupancy_grid, xyz, labels, len(self.info.class_names))
        origins = np.concatenate([np.zeros((len(sample.scan), 3), np.float32), frame.context_origins])
        rays = frame.rng(TASK_TARGETS)
        return geometric_occupancy(self.occupancy_grid, xyz, origins, self.config.carve_rays, rays)

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Occupancy logits (B, K, Z, Y, X) on the occupancy grid."""
        out = self.backbone(self.network_input(batch))
        _, y, x_size = self.occupancy_grid.grid_shape
        if isinstance(out, SparseTensor):  # sparse UNet: per-voxel features at the input resolution
            bev = pool_to_bev(out, self.stride[1:], (y, x_size))
        else:  # BEV encoder: dense (B, C, Y', X') at its own stride
            bev = F.interpolate(out["bev"], size=(y, x_size), mode="bilinear", align_corners=False)
        return self.decoder(bev)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.loss(self.logits(batch), batch["occupancy"])

    def evaluate_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Confusion matrix (K x K, rows = target) over the labelled voxels."""
        prediction = self.logits(batch).argmax(dim=1).reshape(-1)
        target = batch["occupancy"].reshape(-1)
        labelled = target != IGNORE_INDEX
        k = self.num_outputs
        confusion = torch.bincount(target[labelled] * k + prediction[labelled], minlength=k * k).view(k, k)
        return {"confusion": confusion.double()}

    def summarize(self, totals: dict[str, torch.Tensor]) -> dict[str, float]:
        confusion = totals["confusion"].double()
        empty = self.num_outputs - 1 if self.semantic else 0  # the "nothing here" class
        total = confusion.sum().clamp(min=1)
        target_occupied = total - confusion[empty, :].sum()
        predicted_occupied = total - confusion[:, empty].sum()
        both_occupied = target_occupied - (confusion[:, empty].sum() - confusion[empty, empty])
        metrics = {
            "occupied_iou": float(both_occupied / (target_occupied + predicted_occupied - both_occupied).clamp(min=1)),
            # The trivial answer "every voxel occupied": IoU = occupied voxels / all labelled voxels.
            "occupied_iou_trivial": float(target_occupied / total),
        }
        if self.semantic:
            true_positive = confusion.diag()[:-1]
            union = confusion.sum(0)[:-1] + confusion.sum(1)[:-1] - true_positive
            present = confusion.sum(1)[:-1] > 0
            metrics["semantic_miou"] = float((true_positive[present] / union[present]).mean()) if present.any() else 0.0
        return metrics


def build_spot_task(config: SpotOccupancyConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return SpotOccupancyTask(backbone, info, config, semantic=config.target == OccupancyTarget.semantic)
