"""What a config dataclass declares about its values, all checked in one place when a config loads.

- `existing_path()` (`spot.trainer.registry`): an input path (a dataset root) that must exist.
- `bounded(default, ge=, gt=, le=, lt=, length=, min_length=)`: a number, or every number of a list, within
  bounds (None, where the type allows it, always passes: it means "off" or "the default").
- a `check(self)` method: relations between the section's own fields (`front_max > front_min`).
- a `check_experiment(self, experiment, key)` method: what the section needs from the rest of the experiment
  (an objective's labels, classes or backbone; a grid its voxel sizes must divide), `key` being its own place.
- class variables that tell other sections' checks what a component gives: `LABELS` on a dataset config
  (`POINT_LABELS`, `BOX_LABELS`), `FEATURES` on a backbone config (`VOXEL_FEATURES`, `BEV_MAP`).

Checks raise `Invalid(key, message, value)`; `spot.trainer.config.validate` turns it into one `SpotConfigError`
line naming the key (relative keys of `check` and of bounds get the section's prefix).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from omegaconf import MISSING

if TYPE_CHECKING:
    from .config import Component, ExperimentConfig

POINT_LABELS, BOX_LABELS = "per-point", "box"  # what a dataset's labelled frames carry (`LABELS`)
VOXEL_FEATURES, BEV_MAP = "per-voxel features", "a BEV map"  # what a backbone gives (`FEATURES`)
_UNSET = object()


class Invalid(Exception):
    """A config value that breaks a declared rule: `key` (relative to the section, or absolute when raised by
    `check_experiment`), the value found (if any) and what was expected."""

    def __init__(self, key: str, message: str, value: Any = _UNSET):
        super().__init__(message)
        self.key, self.message, self.value = key, message, value

    def line(self, prefix: str = "") -> str:
        """"`key` = value: message", or "`key` is ..." for a message about the key itself ("is missing: ...")."""
        key = f"{prefix}.{self.key}" if prefix and self.key else (prefix or self.key)
        if self.value is _UNSET and self.message.startswith("is "):
            return f"`{key}` {self.message}"
        found = "" if self.value is _UNSET else f" = {_show(self.value)}"
        return f"`{key}`{found}: {self.message}"


@dataclass(frozen=True)
class Bounds:
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def allows(self, value: float) -> bool:
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def describe(self, kind: str) -> str:
        parts = [f"{op} {_show(limit)}" for op, limit in
                 ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)) if limit is not None]  # fmt: skip
        return f"expected {kind} {' and '.join(parts)}"


def bounded(
    default: Any = MISSING,
    *,
    default_factory: Any = MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    length: int | None = None,
    min_length: int | None = None,
) -> Any:
    """A dataclass field whose number (or each number of whose list) lies within the bounds."""
    metadata = {"bounds": Bounds(ge, gt, le, lt), "length": length, "min_length": min_length}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def check_section(instance: Any) -> None:
    """Bounds and lengths of every field, nested sections first, then the section's own `check()`."""
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value):
            try:
                check_section(value)
            except Invalid as error:
                key = f"{f.name}.{error.key}" if error.key else f.name
                raise Invalid(key, error.message, error.value) from error
        _check_field(f, value)
    if hasattr(instance, "check"):
        instance.check()


def _check_field(f: dataclasses.Field, value: Any) -> None:
    if value is None:
        return
    length, min_length = f.metadata.get("length"), f.metadata.get("min_length")
    if length is not None and len(value) != length:
        raise Invalid(f.name, f"expected {length} values, found {len(value)}", list(value))
    if min_length is not None and len(value) < min_length:
        raise Invalid(f.name, f"expected at least {min_length} values, found {len(value)}", list(value))
    bounds = f.metadata.get("bounds")
    if bounds is None:
        return
    items = list(enumerate(value)) if isinstance(value, list | tuple) else [(None, value)]
    for index, item in items:
        if not bounds.allows(item):
            key = f.name if index is None else f"{f.name}[{index}]"
            kind = "an integer" if isinstance(item, int) else "a number"
            raise Invalid(key, bounds.describe(kind), item)


def data_sections(experiment: ExperimentConfig) -> Iterator[tuple[str, Component]]:
    """(key, component) of `data.train` and, when there is one, `data.val`."""
    yield "data.train", experiment.data.train
    if experiment.data.val is not None:
        yield "data.val", experiment.data.val


def require_labels(experiment: ExperimentConfig, kind: str) -> None:
    """Every data section must use its labels, and its frames must carry `kind` labels (`LABELS`)."""
    objective = experiment.objective.name
    for key, component in data_sections(experiment):
        if not getattr(component.config, "use_labels", True):
            raise Invalid(f"{key}.use_labels", f"{objective} needs labelled frames (set it true)", False)
        carried = getattr(component.config, "LABELS", None)
        if carried is not None and kind not in carried:
            raise Invalid(f"{key}.name", f"its frames carry no {kind} labels, which {objective} needs", component.name)


def require_classes(experiment: ExperimentConfig) -> tuple[str, ...]:
    """The experiment's class names; an objective that predicts classes cannot do without them."""
    if experiment.classes is None:
        raise Invalid("classes", f"is missing: {experiment.objective.name} predicts a label set; declare it once, "
                                 "e.g. classes: {label_map: semantickitti}")  # fmt: skip
    return experiment.classes.class_names


def require_features(experiment: ExperimentConfig, features: str) -> None:
    """The backbone must give `features` (its config's `FEATURES`)."""
    given = getattr(experiment.model.config, "FEATURES", None)
    if given is not None and given != features:
        raise Invalid("model.name", f"gives {given}, but {experiment.objective.name} needs {features}",
                      experiment.model.name)  # fmt: skip


def _show(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
