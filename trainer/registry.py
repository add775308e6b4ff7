"""The registry types: what a config can name is an `Entry` in one of three explicit dicts (STYLE convention 1).

Each entry pairs the function that builds a component with the dataclass that validates its config section
(`spot.trainer.config.validate_component`). The filled dicts live in `spot.trainer.components`, entered there by
explicit import, never by import side effects, so that file is the one list of what exists. Build signatures
(the engine calls them in this order):

    datasets[name].build(config, info) -> dataset     # map-style, checked against the experiment's `DatasetInfo`
    models[name].build(config, info) -> nn.Module     # the backbone
    objectives[name].build(config, backbone, info) -> Task

`spot.trainer.engine.task` documents `DatasetInfo` and `Task`. A component's config dataclass marks its input
paths with `existing_path()`, so a missing dataset folder is a config error, not a failure mid-run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

MUST_EXIST = "must_exist"  # field metadata: `spot.trainer.config` checks the path when it loads the config


@dataclass(frozen=True)
class Entry:
    """A registered component: `build` makes it, `config` is the dataclass its config section must match."""

    build: Callable[..., Any]
    config: type


@dataclass(frozen=True)
class Registries:
    """The three registries a config resolves against; tests pass their own to register small components."""

    datasets: Mapping[str, Entry]
    models: Mapping[str, Entry]
    objectives: Mapping[str, Entry]


def existing_path(default: Any = MISSING) -> Any:
    """A dataclass field for an input path (a dataset root) that must exist when the config is loaded."""
    return field(default=default, metadata={MUST_EXIST: True})
