"""The `ppt_segmentation` objective: Point Prompt Training (Wu et al., CVPR 2024) on several labelled domains.

One backbone, usually with PDNorm (`model.norm: {decouple: true}`), trained on a `multi_domain` dataset whose
batches each hold one domain; the batch's domain selects the norms (`SparseTensor.domain`), the head and the loss:
CE + Lovasz over that domain's label set (Pointcept's outdoor criteria, weights 1 / 1). The head is per domain
(`decoupled`, Pointcept's PPT-v1m2) or language-guided (`language`, PPT-v1m1: cosine against the class-text
embeddings, `spot.trainer.models.heads.domain_classifiers`). Evaluation scores each domain on its own classes:
`miou/<domain>`, `accuracy/<domain>`, `iou/<domain>/<class>`, and `miou` = their mean.

Deployment is per domain: `for_domain(name)` is an ordinary `semantic_segmentation` task (that domain's norms
folded into plain BatchNorm, its classifier alone), what `spot-export --domain` exports; `pretrained.domain`
loads a PPT backbone into ordinary fine-tuning the same way.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from spot.runtime import IGNORE_INDEX, SpotInputError

from ...data.multi_domain import MultiDomainDataConfig, experiment_domains
from ...engine.task import DatasetInfo, Task, TrainingFrame
from ...losses import CrossEntropyLovasz
from ...models.heads import DecoupledClassifier, LanguageClassifier
from ...models.heads.domain_classifiers import LOGIT_SCALE
from ...models.norms import select_domain
from ...schema import POINT_LABELS, VOXEL_FEATURES, Invalid, bounded, require_features, require_labels
from ...text.class_texts import class_texts
from ...text.embeddings import SHIPPED, TextEmbeddings
from ..batching import voxel_batch
from ..segmentation.task import SegmentationConfig, SegmentationTask, segmentation_metrics


class PPTHead(StrEnum):
    decoupled = "decoupled"  # one linear classifier per domain (Pointcept PPT-v1m2)
    language = "language"  # language-guided categorical alignment (PPT-v1m1)


@dataclass
class PPTSegmentationConfig:
    head: PPTHead = PPTHead.decoupled
    lovasz_weight: float = bounded(1.0, ge=0)
    logit_scale: float = bounded(LOGIT_SCALE, gt=0)  # language head: fixed cosine scale
    class_embeddings: str | None = None  # language head: an .npz of class-text embeddings; default: the shipped one

    def check_experiment(self, experiment, key: str) -> None:
        """Labelled points from a multi-domain training set (and validation set), a per-voxel backbone, and, for
        the language head, an embedding for every domain's class texts."""
        require_labels(experiment, POINT_LABELS)
        require_features(experiment, VOXEL_FEATURES)
        domains = experiment_domains(experiment)
        if not domains:
            raise Invalid("data.train.name", "ppt_segmentation trains on several domains: use multi_domain",
                          experiment.data.train.name)  # fmt: skip
        if experiment.data.val is not None and not isinstance(experiment.data.val.config, MultiDomainDataConfig):
            raise Invalid("data.val.name", "ppt_segmentation evaluates per domain: use multi_domain",
                          experiment.data.val.name)  # fmt: skip
        if self.head == PPTHead.language:
            try:
                embeddings = TextEmbeddings.load(self.class_embeddings or SHIPPED)
                for domain in domains:
                    embeddings.of(class_texts(domain.class_names))
            except SpotInputError as error:
                raise Invalid(f"{key}.class_embeddings", str(error), self.class_embeddings) from error


class PPTSegmentationTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: PPTSegmentationConfig):
        super().__init__(backbone, info)
        if not info.domains:
            raise SpotInputError("ppt_segmentation needs the data's domains (data.train.name: multi_domain)")
        self.config = config
        num_classes = [len(domain.class_names) for domain in info.domains]
        if config.head == PPTHead.language:
            embeddings = TextEmbeddings.load(config.class_embeddings or SHIPPED)
            rows = np.concatenate([embeddings.of(class_texts(d.class_names)) for d in info.domains])
            self.head = LanguageClassifier(backbone.out_channels, torch.from_numpy(rows), num_classes,
                                           config.logit_scale)  # fmt: skip
        else:
            self.head = DecoupledClassifier(backbone.out_channels, num_classes)
        self.losses = nn.ModuleList(CrossEntropyLovasz(k, lovasz_weight=config.lovasz_weight) for k in num_classes)

    def collate(self, frames: Sequence[TrainingFrame]) -> dict[str, torch.Tensor]:
        domains = sorted({frame.domain for frame in frames})
        if len(domains) != 1:
            raise SpotInputError(f"a PPT batch holds one domain, this one holds {domains} (the sampler of a "
                                 "multi_domain dataset draws one domain per batch)")  # fmt: skip
        for frame in frames:
            if frame.sample.labels is None:
                raise SpotInputError("ppt_segmentation needs labelled frames", source=frame.sample.source)
        batch = voxel_batch([frame.sample for frame in frames], self.info.grid)
        labels = np.concatenate([frame.sample.labels for frame in frames]).astype(np.int64)
        batch["point_labels"] = torch.from_numpy(labels)
        batch["domain"] = torch.tensor(domains[0])
        return batch

    def network_input(self, batch: dict[str, torch.Tensor]):
        x = super().network_input(batch)
        x.domain = int(batch["domain"])
        return x

    def point_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Logits (N_in, K_d) of the points inside the grid over the batch domain's classes, their labels, d."""
        x = self.network_input(batch)
        voxel_logits = self.head(self.backbone(x).features, x.domain)
        point_to_voxel = batch["point_to_voxel"]
        inside = point_to_voxel >= 0
        return voxel_logits[point_to_voxel[inside]], batch["point_labels"][inside], x.domain

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch domain's loss and its parts, and `domain` (its index): logged per step, it tells which domain
        each loss is of (averaged over ranks, a whole number only when every rank trained the same domain)."""
        logits, labels, domain = self.point_logits(batch)
        outputs = self.losses[domain](logits, labels)
        outputs["domain"] = torch.tensor(float(domain), device=logits.device)
        return outputs

    def evaluate_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch domain's per-point confusion matrix (rows = truth), under `confusion/<domain>`."""
        logits, labels, domain = self.point_logits(batch)
        labelled = labels != IGNORE_INDEX
        k = logits.shape[1]
        confusion = torch.bincount(labels[labelled] * k + logits[labelled].argmax(1), minlength=k * k).view(k, k)
        outside = (batch["point_to_voxel"] < 0).sum()
        name = self.info.domains[domain].name
        return {f"confusion/{name}": confusion.double(), "points_outside_grid": outside.double()}

    def summarize(self, totals: dict[str, torch.Tensor]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for domain in self.info.domains:
            if f"confusion/{domain.name}" not in totals:
                continue
            for key, value in segmentation_metrics(totals[f"confusion/{domain.name}"], domain.class_names).items():
                kind, _, rest = key.partition("/")
                metrics[f"{kind}/{domain.name}" + (f"/{rest}" if rest else "")] = value
        evaluated = [value for key, value in metrics.items() if key.count("/") == 1 and key.startswith("miou/")]
        metrics["miou"] = float(np.mean(evaluated)) if evaluated else 0.0
        metrics["points_outside_grid"] = float(totals["points_outside_grid"])
        return metrics

    def for_label_set(self, name: str, class_names: Sequence[str]) -> SegmentationTask:
        """Domain `name`'s norms with the language-guided head scoring `class_names`, a label set the model may
        never have trained on, by their texts' embeddings (`class_texts`, from `class_embeddings` or the shipped
        file): what language-guided alignment offers that per-domain heads cannot (PPT §3.3). Eval mode, a copy."""
        if self.config.head != PPTHead.language:
            raise SpotInputError(f"a label set the model did not train on needs the language-guided head; this "
                                 f"model's head is {str(self.config.head)!r}")  # fmt: skip
        vectors = TextEmbeddings.load(self.config.class_embeddings or SHIPPED).of(class_texts(class_names))
        head = self.head.for_unit_rows(F.normalize(torch.from_numpy(vectors).float(), dim=1))
        return self._segmentation_task(name, tuple(class_names), head)

    def for_domain(self, name: str) -> SegmentationTask:
        """Domain `name` as an ordinary segmentation task: its norms folded to plain BatchNorm, its head alone (eval
        mode, a copy: this task is unchanged)."""
        domain = self.info.domain_index(name)
        return self._segmentation_task(name, self.info.domains[domain].class_names, self.head.for_domain(domain))

    def _segmentation_task(self, name: str, class_names: Sequence[str], head: nn.Module) -> SegmentationTask:
        """Domain `name`'s norms (a copy of the backbone) under `head`, as a `semantic_segmentation` task."""
        domain = self.info.domain_index(name)
        task = SegmentationTask(select_domain(copy.deepcopy(self.backbone), domain),
                                DatasetInfo(tuple(class_names), self.info.grid),
                                SegmentationConfig(lovasz_weight=self.config.lovasz_weight))  # fmt: skip
        task.head = copy.deepcopy(head)
        return task.to(next(self.parameters()).device).eval()


def build_ppt_task(config: PPTSegmentationConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return PPTSegmentationTask(backbone, info, config)
