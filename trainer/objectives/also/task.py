"""The `also_surface` pre-training objective (ALSO): reconstruct the surface the LiDAR rays reveal.

The backbone (a sparse UNet) sees the scan; query points along the rays (in front of the returns: empty,
just behind: occupied, far in front: empty) are classified by an implicit decoder from the backbone features
around them, which also predicts the returns' intensity. Evaluation reports query accuracy next to the
trivial majority-class accuracy, and the intensity error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ...engine.task import TASK_TARGETS, DatasetInfo, Task, TrainingFrame
from ...models.heads import ImplicitSurfaceDecoder
from ...schema import VOXEL_FEATURES, bounded, require_features
from ..batching import voxel_batch
from .loss import surface_loss
from .queries import SurfaceQueryConfig, sample_surface_queries


@dataclass
class AlsoSurfaceConfig:
    queries: SurfaceQueryConfig = field(default_factory=SurfaceQueryConfig)
    radius: float = bounded(0.4, gt=0)  # metres around a query whose voxels inform it
    decoder_hidden: int = bounded(64, ge=1)
    intensity_weight: float = bounded(1.0, ge=0)

    def check_experiment(self, experiment, key: str) -> None:
        require_features(experiment, VOXEL_FEATURES)  # the decoder reads the voxel features around each query


class AlsoSurfaceTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: AlsoSurfaceConfig):
        super().__init__(backbone, info)
        self.config = config
        self.decoder = ImplicitSurfaceDecoder(backbone.out_channels, info.grid, config.radius, config.decoder_hidden)

    def collate(self, frames: Sequence[TrainingFrame]) -> dict[str, torch.Tensor]:
        samples = [frame.sample for frame in frames]
        batch = voxel_batch(samples, self.info.grid)
        queries = [
            sample_surface_queries(
                f.sample.scan.xyz, f.sample.scan.intensity, f.rng(TASK_TARGETS), self.config.queries, f.sample.source
            )
            for f in frames
        ]
        batch_index = np.concatenate([np.full(len(q.xyz), b, np.float32) for b, q in enumerate(queries)])
        xyz = np.concatenate([q.xyz for q in queries])
        batch["queries"] = torch.from_numpy(np.concatenate([batch_index[:, None], xyz], axis=1))  # (Q, 4) b x y z
        batch["query_occupancy"] = torch.from_numpy(np.concatenate([q.occupancy for q in queries]))
        batch["query_intensity"] = torch.from_numpy(np.concatenate([q.intensity for q in queries]))
        return batch

    def predict(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(self.network_input(batch))
        support = batch["features"][:, :3]  # voxel features start with the mean x y z of the voxel's points
        return self.decoder(features.coords, features.features, support, batch["queries"])

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logit, intensity = self.predict(batch)
        return surface_loss(
            logit, intensity, batch["query_occupancy"], batch["query_intensity"], self.config.intensity_weight
        )

    def evaluate_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logit, intensity = self.predict(batch)
        target = batch["query_occupancy"]
        occupied = target > 0.5
        return {
            "correct": ((logit > 0) == occupied).double().sum(),
            "queries": torch.tensor(float(target.numel()), dtype=torch.float64),
            "occupied": occupied.double().sum(),
            "intensity_abs_error": (intensity - batch["query_intensity"])[occupied].abs().double().sum(),
        }

    def summarize(self, totals: dict[str, torch.Tensor]) -> dict[str, float]:
        queries = float(totals["queries"].clamp(min=1))
        occupied_share = float(totals["occupied"]) / queries
        return {
            "surface_accuracy": float(totals["correct"]) / queries,
            "surface_accuracy_trivial": max(occupied_share, 1 - occupied_share),
            "intensity_l1": float(totals["intensity_abs_error"]) / max(float(totals["occupied"]), 1.0),
        }


def build_also_task(config: AlsoSurfaceConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return AlsoSurfaceTask(backbone, info, config)
