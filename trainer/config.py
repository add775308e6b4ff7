"""Experiment configs: typed dataclasses, composed from YAML files, overridden from the command line.

A YAML file stores values only; the schema is the dataclasses below plus, for the sections that pick a component
(`data.train`, `data.val`, `model`, `objective`), the config dataclass that the component's registry entry
names. So `model: {name: sparse_unet, ...}` is validated against the `sparse_unet` entry's dataclass.

What the model is built for is declared once per experiment, beside the model: `voxelization` (the voxel grid)
and `classes` (the label set it predicts). Every dataset is checked against them; none declares its own.

Composition: a file may list files it extends under `_base_` (paths relative to that file); they merge in
order, then the file's own values on top, then the `key.sub=value` overrides (values parsed as YAML). A value
`???` (in a file or an override) unsets what the bases gave, so the run refuses to start until it is set.

    _base_: [../data/sim_hdl64.yaml, ../voxelization/25m-0.2m.yaml, ../model/unet_small.yaml]
    name: spot-unet-sim
    train: {epochs: 20, batch_size: 8}

Any mistake (unknown key, wrong type, missing value, a number out of range, unknown component, a dataset path
that does not exist, an objective that the data or backbone cannot serve) is one `SpotConfigError` line naming
the key and what was expected; `spot-train` turns it into exit code 2. The rules are declared on the
dataclasses (`spot.trainer.schema`) and checked here, in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from spot.runtime.errors import SpotInputError
from spot.runtime.io.label_maps import LabelMapName, named_label_map
from spot.runtime.voxelize import VoxelGrid

from .components import REGISTRIES
from .registry import MUST_EXIST, Entry, Registries
from .schema import Invalid, bounded, check_section, data_sections

BASE_KEY = "_base_"
GRID_KEYS = ("point_cloud_range", "voxel_size")  # lived under data.train / data.val before `voxelization`


class SpotConfigError(SpotInputError):
    """A config that cannot be used: the message names the key, the value found and what was expected."""


class ScheduleName(StrEnum):
    cosine = "cosine"  # linear warm-up, then half a cosine down to min_lr_ratio * lr
    onecycle = "onecycle"  # Smith's one-cycle: cosine up from lr / div_factor, cosine down to lr / final_div_factor


class Device(StrEnum):
    auto = "auto"  # CUDA when torch finds a device, else the CPU
    cpu = "cpu"
    cuda = "cuda"


class AmpMode(StrEnum):
    off = "off"
    bf16 = "bf16"  # no loss scaling needed; the default on Ampere and newer
    fp16 = "fp16"  # with a GradScaler


@dataclass
class OptimConfig:
    """AdamW. Biases and normalisation weights get no weight decay when `decay_norm_and_bias` is False."""

    lr: float = bounded(1e-3, gt=0)
    weight_decay: float = bounded(0.01, ge=0)
    betas: list[float] = bounded(default_factory=lambda: [0.9, 0.999], ge=0, lt=1, length=2)
    eps: float = bounded(1e-8, gt=0)
    decay_norm_and_bias: bool = False


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, stepped once per optimizer step over the whole run."""

    name: ScheduleName = ScheduleName.cosine
    warmup_fraction: float = bounded(0.05, ge=0, lt=1)  # cosine: share of the run warming up from warmup_start_ratio
    warmup_start_ratio: float = bounded(0.01, gt=0, le=1)
    min_lr_ratio: float = bounded(0.01, ge=0, le=1)  # cosine: final lr / peak lr
    pct_start: float = bounded(0.3, gt=0, lt=1)  # onecycle: share of the run spent going up
    div_factor: float = bounded(25.0, gt=0)  # onecycle: peak lr / initial lr
    final_div_factor: float = bounded(1e4, gt=0)  # onecycle: initial lr / final lr


@dataclass
class TrainConfig:
    """The loop. `batch_size` is the global batch: each of the W data-parallel ranks takes batch_size / W."""

    epochs: int = bounded(1, ge=1)
    max_steps: int | None = bounded(None, ge=1)  # stop after this many optimizer steps (the schedule spans them)
    batch_size: int = bounded(8, ge=1)
    eval_batch_size: int | None = bounded(None, ge=1)  # default: batch_size
    num_workers: int = bounded(2, ge=0)
    seed: int = bounded(0, ge=0)
    device: Device = Device.auto
    amp: AmpMode = AmpMode.bf16  # autocast on CUDA only; CPU always runs in float32
    grad_clip: float | None = bounded(10.0, gt=0)  # max global gradient norm; null disables clipping
    log_every: int = bounded(20, ge=1)  # steps between logged scalars
    eval_every: int = bounded(0, ge=0)  # steps between evaluations; 0 = at the end of every epoch
    ckpt_every: int = bounded(0, ge=0)  # steps between checkpoints; 0 = at the end of every epoch
    keep_checkpoints: int = bounded(3, ge=1)  # periodic checkpoints kept besides the newest
    # Also keep the checkpoint whose validation value of this metric is highest (`checkpoints/best`): model
    # selection on the validation split. Needs `data.val` and evaluations at the checkpoint steps.
    best_metric: str | None = None
    output_dir: str | None = None  # default: runs/<name>
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower on GPU)
    find_unused_parameters: bool = False  # DDP: set when some parameters get no gradient in a step

    def check(self) -> None:
        if self.best_metric is not None and self.eval_every != self.ckpt_every:
            raise Invalid("best_metric", f"selects among checkpoints by their evaluation: set eval_every equal to "
                                         f"ckpt_every (found {self.eval_every} and {self.ckpt_every})",
                          self.best_metric)  # fmt: skip


@dataclass
class PretrainedConfig:
    """Weights loaded into the task before training (fine-tuning), matched by name under `prefix`."""

    path: str | None = None  # a checkpoint folder written by spot-train
    prefix: str = "backbone."
    domain: str | None = None  # of a multi-domain (PPT) checkpoint: the domain whose norms are loaded


@dataclass
class VoxelizationConfig:
    """The voxel grid every input is voxelized on (`spot.runtime.voxelize`): training, export and the vehicle."""

    point_cloud_range: list[float] = bounded(length=6)  # x_min y_min z_min x_max y_max z_max, metres
    voxel_size: list[float] = bounded(gt=0, length=3)  # dx dy dz, metres

    def check(self) -> None:
        for axis, name in enumerate("xyz"):
            if self.point_cloud_range[axis + 3] <= self.point_cloud_range[axis]:
                raise Invalid("point_cloud_range", f"{name}_max must be above {name}_min", self.point_cloud_range)

    @property
    def grid(self) -> VoxelGrid:
        return VoxelGrid(tuple(self.point_cloud_range), tuple(self.voxel_size))


@dataclass
class ClassesConfig:
    """The label set the model predicts, in class-id order: a named label map's classes, or a list of names.

    Every labelled dataset's label map must give exactly these (`spot.runtime.io.label_maps.check_label_set`).
    """

    label_map: LabelMapName | None = None  # the classes of a shipped label map (spot.runtime.io.label_maps)
    names: list[str] | None = None

    def check(self) -> None:
        if (self.label_map is None) == (self.names is None):
            raise Invalid("", "give exactly one of label_map (a shipped label set) or names (a list of classes)")
        if self.names is not None:
            repeated = sorted({name for name in self.names if self.names.count(name) > 1})
            if not self.names or repeated:
                raise Invalid("names", f"expected distinct class names, found {repeated or 'none'}", self.names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return named_label_map(self.label_map).class_names if self.label_map else tuple(self.names)


@dataclass(frozen=True)
class Component:
    """A chosen component: its registry name and its validated config dataclass."""

    name: str
    config: Any


@dataclass
class DataConfig:
    train: Component
    val: Component | None = None


@dataclass
class ExperimentConfig:
    name: str
    voxelization: VoxelizationConfig
    data: DataConfig
    model: Component
    objective: Component
    classes: ClassesConfig | None = None  # needed by objectives that predict classes
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrained: PretrainedConfig = field(default_factory=PretrainedConfig)

    @property
    def output_dir(self) -> Path:
        return Path(self.train.output_dir or Path("runs") / self.name)


FIXED_SECTIONS: dict[str, type] = {
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "train": TrainConfig,
    "pretrained": PretrainedConfig,
}
TOP_LEVEL_KEYS = ("name", "voxelization", "classes", "data", "model", "objective", *FIXED_SECTIONS)


def load_config(
    path: str | Path,
    overrides: Sequence[str] = (),
    registries: Registries | None = None,
    val_data: str | Path | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> ExperimentConfig:
    """Compose `path` with its bases, apply `key=value` overrides, and validate everything.

    `val_data`: a YAML file whose `data.val` section replaces the config's (evaluating a model on other data).
    `recorded`: the `dataset_info` of the checkpoint whose own config `path` is; a config written before
    `voxelization` / `classes` existed takes them from there (`adopt_recorded_spec`).
    `registries` defaults to `spot.trainer.components.REGISTRIES`.
    """
    registries = REGISTRIES if registries is None else registries
    raw = compose_yaml(Path(path))
    if recorded is not None:
        raw = adopt_recorded_spec(raw, recorded)
    if val_data is not None:
        raw.data.val = _val_section(Path(val_data))
    overrides_config = parse_overrides(overrides, source=path)
    try:
        values = OmegaConf.to_container(merge_unsetting(raw, overrides_config), resolve=True)
    except OmegaConfBaseException as error:
        raise SpotConfigError(_first_line(error), source=path) from error
    return validate(values, registries, source=path)


def compose_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> DictConfig:
    """Read one YAML file and merge the files under its `_base_` key beneath it (recursively)."""
    path = path.resolve()
    if path in _seen:
        raise SpotConfigError(f"`{BASE_KEY}` forms a cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    if not path.is_file():
        where = f" (listed in {_seen[-1]})" if _seen else ""
        raise SpotConfigError(f"config file not found{where}", source=path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SpotConfigError(f"not valid YAML: {_first_line(error)}", source=path) from error
    if not isinstance(data, dict):
        raise SpotConfigError(f"expected a mapping of sections at the top, got {type(data).__name__}", source=path)
    bases = data.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(base, str) for base in bases):
        raise SpotConfigError(f"`{BASE_KEY}` = {bases!r}: expected a file path or a list of file paths", source=path)
    merged = OmegaConf.create()
    for base in bases:
        merged = OmegaConf.merge(merged, compose_yaml(path.parent / base, (*_seen, path)))
    try:
        own = OmegaConf.create(data)
    except OmegaConfBaseException as error:
        raise SpotConfigError(_first_line(error), source=path) from error
    return merge_unsetting(merged, own)


def merge_unsetting(base: DictConfig, top: DictConfig) -> DictConfig:
    """`OmegaConf.merge(base, top)`, except that a `???` in `top` unsets the value of `base` there (a plain merge
    keeps it): a derived config can demand a value its base had filled in."""
    merged = OmegaConf.merge(base, top)
    for key in _missing_keys(top):
        OmegaConf.update(merged, key, MISSING, merge=False)
    return merged


def _missing_keys(config: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key in config:
        if OmegaConf.is_missing(config, key):
            keys.append(f"{prefix}{key}")
        elif isinstance(config[key], DictConfig):
            keys += _missing_keys(config[key], f"{prefix}{key}.")
    return keys


def adopt_recorded_spec(raw: DictConfig, recorded: Mapping[str, Any]) -> DictConfig:
    """A checkpoint's config from before the experiment-level `voxelization` / `classes`: the grid it repeated
    under `data.train` and `data.val` goes, and both sections come from what the checkpoint recorded (the
    voxelization and class names its weights were built for). A current config is returned as it is."""
    values = OmegaConf.to_container(raw)
    if "voxelization" in values or not recorded.get("voxelization"):
        return raw
    for section in (values.get("data") or {}).values():
        for key in GRID_KEYS if isinstance(section, dict) else ():
            section.pop(key, None)
    values["voxelization"] = dict(recorded["voxelization"])
    if recorded.get("class_names") and "classes" not in values:
        values["classes"] = {"names": list(recorded["class_names"])}
    return OmegaConf.create(values)


def _val_section(path: Path) -> DictConfig:
    """`data.val` of a data config, whole: merging it into another dataset's section would mix their keys."""
    section = OmegaConf.select(compose_yaml(path), "data.val")
    if not isinstance(section, DictConfig):
        raise SpotConfigError("expected a `data.val` section (the dataset to evaluate on)", source=path)
    return section


def parse_overrides(overrides: Sequence[str], source: str | Path | None = None) -> DictConfig:
    """`["train.epochs=3", "optim.betas=[0.9,0.95]"]` -> a config to merge on top (values parsed as YAML)."""
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key or key.startswith(".") or key.endswith("."):
            raise SpotConfigError(f"override {item!r} is not of the form section.key=value", source=source)
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except OmegaConfBaseException as error:
        raise SpotConfigError(f"bad override: {_first_line(error)}", source=source) from error


def validate(values: Mapping[str, Any], registries: Registries, source: str | Path | None = None) -> ExperimentConfig:
    """Check a plain mapping of sections against the schema and build the typed `ExperimentConfig`."""
    _reject_unknown(values, TOP_LEVEL_KEYS, "", source)
    _reject_missing(values, "", source)
    name = values.get("name")
    if not isinstance(name, str) or not name:
        raise SpotConfigError("`name` is missing: give the experiment a name (it names the run folder)", source=source)
    data = _mapping(values.get("data"), "data", source)
    _reject_unknown(data, ("train", "val"), "data.", source)
    _reject_moved_grid(data, source)
    if values.get("voxelization") is None:
        raise SpotConfigError("`voxelization` is missing: declare the voxel grid once per experiment, e.g. "
                              "voxelization: {point_cloud_range: [...], voxel_size: [...]}", source=source)  # fmt: skip
    voxelization = _mapping(values["voxelization"], "voxelization", source)
    classes = values.get("classes")
    classes = None if classes is None else _mapping(classes, "classes", source)
    val = data.get("val")
    config = ExperimentConfig(
        name=name,
        voxelization=validate_section(voxelization, VoxelizationConfig, "voxelization", source),
        classes=None if classes is None else validate_section(classes, ClassesConfig, "classes", source),
        data=DataConfig(
            train=validate_component(data.get("train"), "data.train", registries.datasets, "dataset", source),
            val=None if val is None else validate_component(val, "data.val", registries.datasets, "dataset", source),
        ),
        model=validate_component(values.get("model"), "model", registries.models, "model", source),
        objective=validate_component(values.get("objective"), "objective", registries.objectives, "objective", source),
        **{
            key: validate_section(_mapping(values.get(key, {}), key, source), schema, key, source)
            for key, schema in FIXED_SECTIONS.items()
        },
    )
    if config.train.best_metric is not None and config.data.val is None:
        raise SpotConfigError(f"`train.best_metric` = {config.train.best_metric!r}: selecting the best checkpoint "
                              "needs a `data.val` section to evaluate on", source=source)  # fmt: skip
    _check_experiment(config, source)
    return config


def validate_component(
    values: Any, section: str, registry: Mapping[str, Entry], kind: str, source: str | Path | None = None
) -> Component:
    """`{name: x, **fields}` -> `Component(x, <x's config dataclass>(**fields))`, validated."""
    values = dict(_mapping(values, section, source))
    name = values.pop("name", None)
    choices = ", ".join(sorted(registry)) or f"none: no {kind} is registered in this version"
    if name is None:
        raise SpotConfigError(f"`{section}.name` is missing: choose a {kind} ({choices})", source=source)
    if name not in registry:
        raise SpotConfigError(
            f"`{section}.name` = {name!r} is not a known {kind} (choose from: {choices})", source=source
        )
    return Component(name, validate_section(values, registry[name].config, section, source))


def validate_section(values: Mapping[str, Any], schema: type, section: str, source: str | Path | None = None) -> Any:
    """Merge `values` into the dataclass `schema`: unknown keys, wrong types, missing values and values against the
    schema's declared rules (`spot.trainer.schema`) are errors."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), values)
        instance = OmegaConf.to_object(merged)
    except ConfigKeyError as error:
        valid = ", ".join(f.name for f in dataclasses.fields(schema))
        raise SpotConfigError(f"unknown key `{section}.{error.key}` (valid keys: {valid})", source=source) from error
    except MissingMandatoryValue as error:
        raise SpotConfigError(f"`{section}.{error.full_key}` is required but has no value", source=source) from error
    except OmegaConfBaseException as error:
        key = f"{section}.{error.full_key}" if error.full_key else section
        raise SpotConfigError(f"`{key}`: {_first_line(error)}", source=source) from error
    except (TypeError, ValueError) as error:
        raise SpotConfigError(f"`{section}`: {error}", source=source) from error
    try:
        check_section(instance)
    except Invalid as error:
        raise SpotConfigError(error.line(section), source=source) from error
    _check_paths_exist(instance, section, source)
    return instance


def to_plain(value: Any) -> Any:
    """A config (or any part of it) as plain YAML/JSON values: dataclasses -> dicts, enums and paths -> str."""
    if isinstance(value, Component):
        return {"name": value.name, **to_plain(value.config)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def to_yaml(config: ExperimentConfig) -> str:
    """The resolved config; loading it back (`load_config`) gives an equal `ExperimentConfig`."""
    return yaml.safe_dump(to_plain(config), sort_keys=False)


def _check_experiment(config: ExperimentConfig, source: str | Path | None) -> None:
    """Each component's `check_experiment`: what it needs from the other sections (labels, classes, backbone)."""
    for key, component in (*data_sections(config), ("model", config.model), ("objective", config.objective)):
        check = getattr(component.config, "check_experiment", None)
        try:
            if check is not None:
                check(config, key)
        except Invalid as error:
            raise SpotConfigError(error.line(), source=source) from error


def _reject_moved_grid(data: Mapping[str, Any], source: str | Path | None) -> None:
    for part, section in data.items():
        moved = [key for key in GRID_KEYS if isinstance(section, Mapping) and key in section]
        if moved:
            raise SpotConfigError(f"`data.{part}.{moved[0]}` moved to `voxelization.{moved[0]}`: the voxel grid is "
                                  "declared once per experiment, beside the model", source=source)  # fmt: skip


def _reject_missing(values: Mapping[str, Any], prefix: str, source: str | Path | None) -> None:
    """`???` left anywhere (a value the config demands and nobody gave) is refused before anything starts."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            _reject_missing(value, f"{prefix}{key}.", source)
        elif isinstance(value, str) and value == MISSING:
            raise SpotConfigError(f"`{prefix}{key}` is required but has no value (set {prefix}{key}=...)",
                                  source=source)  # fmt: skip


def _check_paths_exist(instance: Any, section: str, source: str | Path | None) -> None:
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if f.metadata.get(MUST_EXIST) and value is not None and not Path(value).exists():
            raise SpotConfigError(f"`{section}.{f.name}` = {str(value)!r} does not exist", source=source)


def _reject_unknown(values: Mapping[str, Any], valid: Sequence[str], prefix: str, source: str | Path | None) -> None:
    for key in values:
        if key not in valid:
            raise SpotConfigError(f"unknown key `{prefix}{key}` (valid keys: {', '.join(valid)})", source=source)


def _mapping(value: Any, section: str, source: str | Path | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        found = "nothing" if value is None else f"{type(value).__name__} {value!r}"
        raise SpotConfigError(f"`{section}` must be a mapping of keys, found {found}", source=source)
    return value


def _first_line(error: Exception) -> str:
    text = getattr(error, "msg", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
