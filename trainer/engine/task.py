"""The contract between the training engine and what it trains: datasets, `DatasetInfo`, `TrainingFrame`, `Task`.

Dataset (built by `registry.datasets[name].build(config, info)`)
    A map-style dataset: `len(ds)` and `ds[i] -> sample` (any picklable object; the frame datasets of
    `spot.trainer.data` yield the `TrainingFrame`s every objective reads). `info` is the experiment's
    `DatasetInfo` (its declared voxelization and classes, `engine.run.experiment_info`): the dataset checks its
    data against it (a labelled dataset's label map must give exactly `info.class_names`) and raises a
    `SpotInputError` naming what differs. Random augmentations must draw from the global generators (`random`,
    `numpy.random`, `torch`): the engine seeds them for every sample from (seed, epoch, index), so a sample's
    augmentation does not depend on worker
    count, rank or resume point.
    Optional `ds.sampling_weights() -> (len(ds),) weights` switches the epoch order to a seeded weighted draw
    (SPOT's class-balanced sampling; see `engine.sampling.balanced_sampling_weights`).
    Optional `ds.domain_sizes()` / `ds.domain_ratios()`: the dataset concatenates domains (contiguous index
    blocks), and every batch holds one of them (`engine.sampling.DomainBatches`, PPT).

Task (built by `registry.objectives[name].build(config, backbone, info)`), a `torch.nn.Module`:
    backbone                 the pre-trainable part; fine-tuning loads it by name (`load_pretrained`, prefix
                             "backbone.") and its weights are saved under that prefix.
    info                     the `DatasetInfo` it was built for, from the experiment's `voxelization` and
                             `classes` (saved in checkpoints' meta.json; export and evaluation read it).
    collate(samples) -> batch
                             list of samples -> a dict of tensors (and plain values). Runs in DataLoader worker
                             processes, so it must not touch the module's parameters or CUDA. A sparse batch
                             holds `coords` int32 (V, 4) (batch, z, y, x) and `features` float32 (V, C) from
                             `spot.runtime.voxelize`, plus whatever targets the loss needs.
    network_input(batch) -> SparseTensor
                             the batch's voxels as the backbone's input (given; coordinates checked once here).
    infer(x) -> tuple[Tensor, ...], output_specs() -> tuple[TensorSpec, ...]
                             deployable tasks only: the network input -> exactly the outputs a deployed model
                             returns, and their specs in spot.json. Training, evaluation and `spot-export` all
                             run `infer`, so what is exported is what was evaluated.
    forward(batch) -> dict   training step: {"loss": scalar tensor, **other scalar tensors to log}. The engine
                             moves the batch to the device first, averages every scalar over `log_every` steps
                             and over ranks, and logs them under `train/<key>`.
    evaluate_step(batch) -> dict[str, Tensor]
                             called under `torch.no_grad()` in eval mode; returns *additive* statistics
                             (confusion matrix, true-positive counts, loss sums, sample counts). The engine sums
                             them over batches and ranks, so every rank may see a different number of batches.
    summarize(totals) -> dict[str, float]
                             the summed statistics -> the metrics to report (mIoU, occupancy IoU, ...).
    write_report(totals, dataset, folder) -> list[Path]
                             `spot-train eval` only, on the main rank: pictures a person would rather look at
                             (confusion matrix, precision-recall curves, a frame with its predictions) written
                             into `folder`; the default writes none.

The defaults below evaluate a task by its training scalars (mean loss over the evaluation set), which is what
pre-training objectives report; tasks with real metrics override `evaluate_step` and `summarize`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spot.runtime.artifact import TensorSpec
from spot.runtime.errors import SpotInputError
from spot.runtime.io.cameras import CameraFrame
from spot.runtime.sample import Sample
from spot.runtime.voxelize import VoxelGrid

from ..sparse import SparseTensor

Batch = dict[str, Any]
COUNT_KEY = "num_batches"
AUGMENTATION, TASK_TARGETS = 0, 1  # purposes of `TrainingFrame.rng`
# SemanticKITTI's thing classes (countable objects, by name): the foreground SPOT's loss weights up by default.
THING_CLASSES = ("car", "bicycle", "motorcycle", "truck", "other-vehicle", "person", "bicyclist", "motorcyclist")


@dataclass(frozen=True)
class DomainInfo:
    """One domain of a multi-domain experiment (PPT): its name and the label set its frames are labelled in."""

    name: str
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and a deployed artifact must know about the data: class names and voxelization. Declared
    once per experiment (`voxelization`, `classes`); a task that predicts no classes has none. `domains`: the
    training data's domains in index order (`TrainingFrame.domain`), when it has several label sets or sensors."""

    class_names: tuple[str, ...] = ()
    grid: VoxelGrid | None = None
    domains: tuple[DomainInfo, ...] = ()

    def to_dict(self) -> dict:
        info = {"class_names": list(self.class_names), "voxelization": self.grid.to_dict() if self.grid else None}
        if self.domains:
            info["domains"] = [{"name": d.name, "class_names": list(d.class_names)} for d in self.domains]
        return info

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetInfo:
        grid = data.get("voxelization")
        domains = tuple(DomainInfo(d["name"], tuple(d["class_names"])) for d in data.get("domains", ()))
        return cls(tuple(data.get("class_names", ())), VoxelGrid.from_dict(grid) if grid else None, domains)

    def domain_index(self, name: str) -> int:
        """The index of domain `name`; an unknown name is refused with the list of domains."""
        names = [domain.name for domain in self.domains]
        if name not in names:
            raise SpotInputError(f"unknown domain {name!r}; this model's domains: {', '.join(names) or 'none'}")
        return names.index(name)


@dataclass(frozen=True)
class TrainingFrame:
    """sample: the frame; context_*: the neighbouring frames' points (M, 3), the sensor positions they were
    seen from (M, 3) and their labels (M,) (`IGNORE_INDEX` when unlabeled), all in this frame's sensor frame
    (M = 0 when not aggregating); seed: this sample's seed for every later random choice about it
    (augmentation in the dataset, queries or ray subsets in a task's collate); domain: its index in
    `DatasetInfo.domains` (0 when the data has one domain); cameras: the images taken with the scan and their
    calibration (`spot.runtime.io.cameras.CameraFrame`, empty for LiDAR-only data), which camera-aware
    pre-training (CLAP) reads; the runtime's `Sample` stays LiDAR-only."""

    sample: Sample
    context_xyz: np.ndarray
    context_origins: np.ndarray
    context_labels: np.ndarray
    seed: int
    domain: int = 0
    cameras: tuple[CameraFrame, ...] = ()

    def rng(self, purpose: int) -> np.random.Generator:
        """An independent generator per purpose (`AUGMENTATION`, `TASK_TARGETS`)."""
        return np.random.default_rng([self.seed, purpose])


class Task(nn.Module):
    """Backbone + heads + loss, trained by the engine. Subclasses implement `collate` and `forward`."""

    def __init__(self, backbone: nn.Module, info: DatasetInfo):
        super().__init__()
        self.backbone = backbone
        self.info = info

    def collate(self, samples: Sequence[Any]) -> Batch:
        raise NotImplementedError(f"{type(self).__name__} must implement collate(samples) -> dict of tensors")

    def network_input(self, batch: Batch) -> SparseTensor:
        """The collated voxels (`coords`, `features`, `batch_size`) on the task's grid, as the backbone reads them."""
        grid_shape = self.info.grid.grid_shape
        return SparseTensor.from_voxels(batch["features"], batch["coords"], grid_shape, int(batch["batch_size"]))

    def infer(self, x: SparseTensor) -> tuple[torch.Tensor, ...]:
        """The network input -> the outputs a deployed model returns, in `output_specs` order."""
        raise NotImplementedError(f"{type(self).__name__} is not deployable: it has no inference outputs")

    def output_specs(self) -> tuple[TensorSpec, ...]:
        """Name, dtype, shape and meaning of each `infer` output, as spot.json lists them."""
        raise NotImplementedError(f"{type(self).__name__} is not deployable: it has no inference outputs")

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(batch) -> {{'loss': ...}}")

    def evaluate_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Default: the sum of every training scalar, and the batch count to average them by."""
        outputs = self(batch)
        totals = {key: value.detach().float().sum() for key, value in outputs.items()}
        totals[COUNT_KEY] = torch.tensor(1.0, device=outputs["loss"].device)
        return totals

    def summarize(self, totals: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Default: the per-batch mean of every scalar from `evaluate_step`."""
        count = float(totals[COUNT_KEY])
        return {key: float(value) / count for key, value in totals.items() if key != COUNT_KEY}

    def write_report(self, totals: Mapping[str, torch.Tensor], dataset: Any, folder: Path) -> list[Path]:
        """Default: no pictures. `totals` are the summed `evaluate_step` statistics over `dataset`."""
        return []


def move_to_device(value: Any, device: torch.device) -> Any:
    """Tensors in (nested) dicts, lists and tuples -> `device`; anything else is returned as it is."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {key: move_to_device(item, device) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(move_to_device(item, device) for item in value)
    return value
