"""Several datasets trained as domains of one model (PPT): one domain per batch, each with its own label set.

    data:
      train:
        name: multi_domain
        domains:
          - {name: sim-kitti, ratio: 1, data: {name: sim, sensor: hdl64, label_map: semantickitti}}
          - {name: sim-nusc, ratio: 1, data: {name: sim, sensor: hdl32, label_map: semantickitti_nuscenes16}}

Each domain's `data` is an ordinary dataset section, validated as one (errors name `data.train.domains[1].data.
sensor`). A domain's label set is its section's `label_map`, which must name a shipped label map: the experiment
needs every domain's classes before any data is read (`DatasetInfo.domains`, the heads, the checkpoint). All
domains share the experiment's one voxelization. The engine draws one domain per global batch
(`engine.sampling.DomainBatches`); frames carry their domain's index (`TrainingFrame.domain`), the index of its
name in the training data's domain list, so `data.val` may evaluate any subset of the trained domains.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from omegaconf import MISSING

from spot.runtime.io.label_maps import LABEL_MAPS, named_label_map

from ..engine.task import DatasetInfo, DomainInfo, TrainingFrame
from ..schema import POINT_LABELS, Invalid, bounded

MULTI_DOMAIN = "multi_domain"  # its registry name (`spot.trainer.components`)


@dataclass
class DomainSection:
    name: str = MISSING  # names its norms, its head and its exported artifact (`spot-export --domain`)
    ratio: int = bounded(1, ge=1)  # batches of this domain in each round
    data: dict[str, Any] = MISSING  # a dataset section: {name: sim, sensor: hdl64, label_map: semantickitti, ...}


@dataclass
class MultiDomainDataConfig:
    LABELS: ClassVar[frozenset[str]] = frozenset({POINT_LABELS})

    domains: list[DomainSection] = bounded(default_factory=list, min_length=1)

    def check(self) -> None:
        names = [domain.name for domain in self.domains]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated or not all(names):
            raise Invalid("domains", f"expected distinct, non-empty domain names, found {repeated or names}", names)
        for index, domain in enumerate(self.domains):
            key = f"domains[{index}].data"
            if domain.data.get("name") == MULTI_DOMAIN:
                raise Invalid(f"{key}.name", "a domain is one dataset, not another list of domains", MULTI_DOMAIN)
            label_map = domain.data.get("label_map")
            if label_map not in LABEL_MAPS:
                raise Invalid(f"{key}.label_map", f"a domain's label set: name a shipped label map "
                                                  f"({', '.join(LABEL_MAPS)})", label_map)  # fmt: skip
            if domain.data.get("use_labels") is False:
                raise Invalid(f"{key}.use_labels", "every domain trains on its labels", False)
            if domain.data.get("class_balanced"):
                raise Invalid(f"{key}.class_balanced", "class-balanced sampling is not available across domains "
                                                       "(each batch is one domain, drawn in turn)", True)  # fmt: skip

    def check_experiment(self, experiment, key: str) -> None:
        """Every domain's section is a valid dataset section; `data.val`'s domains are trained ones."""
        domain_components(self, key)
        if key != "data.train":
            trained = experiment.data.train.config
            known = [d.name for d in trained.domains] if isinstance(trained, MultiDomainDataConfig) else []
            for index, domain in enumerate(self.domains):
                if domain.name not in known:
                    trained_names = ", ".join(known) or "the training data has no domains"
                    raise Invalid(f"{key}.domains[{index}].name", f"is not a trained domain ({trained_names})",
                                  domain.name)  # fmt: skip
                trained_map = trained.domains[known.index(domain.name)].data.get("label_map")
                if domain.data.get("label_map") != trained_map:
                    raise Invalid(f"{key}.domains[{index}].data.label_map",
                                  f"differs from the trained domain's ({trained_map})",
                                  domain.data.get("label_map"))  # fmt: skip

    def domain_infos(self) -> tuple[DomainInfo, ...]:
        return tuple(DomainInfo(d.name, named_label_map(d.data["label_map"]).class_names) for d in self.domains)


def domain_components(config: MultiDomainDataConfig, key: str) -> list:
    """Each domain's dataset section as a validated `Component` (a bad one is a `SpotConfigError` naming it)."""
    from ..components import DATASETS  # the registry lists this module: imported when used
    from ..config import validate_component

    return [validate_component(domain.data, f"{key}.domains[{index}].data", DATASETS, "dataset")
            for index, domain in enumerate(config.domains)]  # fmt: skip


class MultiDomainDataset:
    """The domains' datasets concatenated in list order; frames carry their domain's index in `info.domains`."""

    def __init__(self, config: MultiDomainDataConfig, info: DatasetInfo):
        from ..components import DATASETS

        self.config, self.info = config, info
        self.indices = [info.domain_index(domain.name) for domain in config.domains]
        self.datasets = []
        for domain, component in zip(config.domains, domain_components(config, "data"), strict=True):
            classes = named_label_map(domain.data["label_map"]).class_names
            self.datasets.append(DATASETS[component.name].build(component.config, replace(info, class_names=classes)))
        self.offsets = np.cumsum([0, *(len(d) for d in self.datasets)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> TrainingFrame:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return replace(self.datasets[part][index - int(self.offsets[part])], domain=self.indices[part])

    def domain_sizes(self) -> list[int]:
        return [len(d) for d in self.datasets]

    def domain_ratios(self) -> list[int]:
        return [d.ratio for d in self.config.domains]

    def domain_of(self, index: int) -> int:
        """The domain (index into `info.domains`) of sample `index`."""
        return self.indices[int(np.searchsorted(self.offsets, index, side="right")) - 1]


def experiment_domains(config) -> tuple[DomainInfo, ...]:
    """The training data's domains (none unless `data.train` is a multi-domain section)."""
    train = config.data.train.config
    return train.domain_infos() if isinstance(train, MultiDomainDataConfig) else ()
