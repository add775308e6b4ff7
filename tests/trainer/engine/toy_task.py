"""A small but real task for the engine tests: per-point two-class segmentation of generated point clouds.

Class 1 = points farther than 1 m from the sensor in the xy plane. Samples are rotated by a random yaw drawn
from numpy's global generator (so the per-sample seeding is exercised) and the backbone has dropout (so the
training RNG must be restored on resume). Run as a script, it trains from a config with these components:

    python toy_task.py CONFIG [--resume] [key=value ...]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from spot.runtime.errors import SpotInputError
from spot.runtime.io.label_maps import check_label_set
from spot.trainer.config import load_config
from spot.trainer.engine.run import train
from spot.trainer.engine.task import DatasetInfo, Task
from spot.trainer.registry import Entry, Registries, existing_path
from spot.trainer.schema import bounded


@dataclass
class ToyPointsConfig:
    num_samples: int = bounded(24, ge=1)
    num_points: int = bounded(32, ge=1)
    root: str | None = existing_path(default=None)  # unused by the data; exercises the path check
    unreadable: list[int] = field(default_factory=list)  # samples whose "file" fails to read, as a corrupt scan


class ToyPoints:
    CLASS_NAMES = ("near", "far")

    def __init__(self, config: ToyPointsConfig, info: DatasetInfo):
        check_label_set(self.CLASS_NAMES, info.class_names, "toy_points")
        self.config, self.info = config, info

    def __len__(self) -> int:
        return self.config.num_samples

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if index in self.config.unreadable:
            raise SpotInputError("scan holds no points", source=f"toy/{index:06d}.bin")
        rng = np.random.default_rng(index)
        points = rng.uniform(-2, 2, size=(self.config.num_points, 4)).astype(np.float32)
        yaw = np.random.uniform(0, 2 * np.pi)  # noqa: NPY002 (the augmentation: the per-sample seeded generator)
        rotation = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]], dtype=np.float32)
        points[:, :2] = points[:, :2] @ rotation.T
        labels = (np.linalg.norm(points[:, :2], axis=1) > 1.0).astype(np.int64)
        return {"points": points, "labels": labels}


@dataclass
class PointMLPConfig:
    hidden: int = 16
    dropout: float = 0.2


class PointMLP(nn.Module):
    def __init__(self, config: PointMLPConfig, info: DatasetInfo):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(4, config.hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(config.hidden, config.hidden)
        )
        self.out_channels = config.hidden

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.layers(points))  # (B, N, hidden) <- (B, N, 4)


@dataclass
class PointClassifierConfig:
    step_delay_s: float = 0.0  # lets a test kill the process mid-run


class PointClassifier(Task):
    def __init__(self, config: PointClassifierConfig, backbone: PointMLP, info: DatasetInfo):
        super().__init__(backbone, info)
        self.head = nn.Linear(backbone.out_channels, len(info.class_names))
        self.step_delay_s = config.step_delay_s

    def collate(self, samples):
        return {
            "points": torch.from_numpy(np.stack([s["points"] for s in samples])),
            "labels": torch.from_numpy(np.stack([s["labels"] for s in samples])),
        }

    def forward(self, batch):
        time.sleep(self.step_delay_s)
        logits = self.head(self.backbone(batch["points"]))  # (B, N, K)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten())
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        return {"loss": loss, "accuracy": accuracy}

    def evaluate_step(self, batch):
        predicted = self.head(self.backbone(batch["points"])).argmax(-1).flatten()
        k = len(self.info.class_names)
        return {"confusion": torch.bincount(batch["labels"].flatten() * k + predicted, minlength=k * k).view(k, k)}

    def summarize(self, totals):
        confusion = totals["confusion"].double()
        iou = confusion.diag() / (confusion.sum(0) + confusion.sum(1) - confusion.diag())
        return {"miou": float(iou.mean()), "accuracy": float(confusion.diag().sum() / confusion.sum())}


# The experiment-level sections every toy config declares: its grid and its two classes.
SPEC = {
    "voxelization": {"point_cloud_range": [-2, -2, -1, 2, 2, 1], "voxel_size": [0.5, 0.5, 0.5]},
    "classes": {"names": list(ToyPoints.CLASS_NAMES)},
}

REGISTRIES = Registries(
    datasets={"toy_points": Entry(ToyPoints, ToyPointsConfig)},
    models={"point_mlp": Entry(PointMLP, PointMLPConfig)},
    objectives={"point_classifier": Entry(PointClassifier, PointClassifierConfig)},
)


def write_config(folder: Path, **train) -> Path:
    """A complete toy experiment config in `folder`; `train` entries override the train section."""
    values = {
        "name": "toy",
        **SPEC,
        "data": {"train": {"name": "toy_points"}, "val": {"name": "toy_points", "num_samples": 10}},
        "model": {"name": "point_mlp"},
        "objective": {"name": "point_classifier"},
        "optim": {"lr": 0.03},
        "schedule": {"name": "onecycle"},
        "train": {"epochs": 3, "batch_size": 4, "num_workers": 0, "log_every": 1, "output_dir": str(folder / "run")}
        | train,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


if __name__ == "__main__":
    arguments = sys.argv[2:]
    resume = "--resume" in arguments
    config = load_config(sys.argv[1], [a for a in arguments if a != "--resume"], REGISTRIES)
    train(config, stage="pretrain", resume=resume, registries=REGISTRIES)
