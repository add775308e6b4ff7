"""Experiment configs: typed dataclasses, composed from YAML files, overridden from the command line.

A YAML file stores values only; the schema is the dataclasses below plus, for the sections that pick a component
(`data.train`, `data.val`, `model`, `objective`), the config dataclass that the component's registry entry
names. So `model: {name: sparse_unet, ...}` is validated against the `sparse_unet` entry's dataclass.

Composition: a file may list files it extends under `_base_` (paths relative to that file); they merge in
order, then the file's own values on top, then the `key.sub=value` overrides (values parsed as YAML).

    _base_: [../data/sim_hdl64.yaml, ../model/unet_small.yaml, ../schedule/cosine.yaml]
    name: spot-unet-sim
    train: {epochs: 20, batch_size: 8}

Any mistake (unknown key, wrong type, missing value, unknown component, a dataset path that does not exist)
is one `SpotConfigError` line naming the key and what was expected; `spot-train` turns it into exit code 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from spot.runtime.errors import SpotInputError

from .components import REGISTRIES
from .registry import MUST_EXIST, Entry, Registries

BASE_KEY = "_base_"


class SpotConfigError(SpotInputError):
    """A config that cannot be used: the message names the key, the value found and what was expected."""


class ScheduleName(StrEnum):
    cosine = "cosine"  # linear warm-up, then half a cosine down to min_lr_ratio * lr
    onecycle = "onecycle"  # Smith's one-cycle: cosine up from lr / div_factor, cosine down to lr / final_div_factor


class AmpMode(StrEnum):
    off = "off"
    bf16 = "bf16"  # no loss scaling needed; the default on Ampere and newer
    fp16 = "fp16"  # with a GradScaler


@dataclass
class OptimConfig:
    """AdamW. Biases and normalisation weights get no weight decay when `decay_norm_and_bias` is False."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    decay_norm_and_bias: bool = False


@dataclass
class ScheduleConfig:
    """Learning-rate schedule, stepped once per optimizer step over the whole run."""

    name: ScheduleName = ScheduleName.cosine
    warmup_fraction: float = 0.05  # cosine: share of the run spent warming up linearly from warmup_start_ratio
    warmup_start_ratio: float = 0.01
    min_lr_ratio: float = 0.01  # cosine: final lr / peak lr
    pct_start: float = 0.3  # onecycle: share of the run spent going up
    div_factor: float = 25.0  # onecycle: peak lr / initial lr
    final_div_factor: float = 1e4  # onecycle: initial lr / final lr


@dataclass
class TrainConfig:
    """The loop. `batch_size` is the global batch: each of the W data-parallel ranks takes batch_size / W."""

    epochs: int = 1
    max_steps: int | None = None  # stop after this many optimizer steps (the schedule spans them)
    batch_size: int = 8
    eval_batch_size: int | None = None  # default: batch_size
    num_workers: int = 2
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: AmpMode = AmpMode.bf16  # autocast on CUDA only; CPU always runs in float32
    grad_clip: float | None = 10.0  # max global gradient norm; null disables clipping
    log_every: int = 20  # steps between logged scalars
    eval_every: int = 0  # steps between evaluations; 0 = at the end of every epoch
    ckpt_every: int = 0  # steps between checkpoints; 0 = at the end of every epoch
    keep_checkpoints: int = 3  # periodic checkpoints kept besides the newest
    output_dir: str | None = None  # default: runs/<name>
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower on GPU)
    find_unused_parameters: bool = False  # DDP: set when some parameters get no gradient in a step


@dataclass
class PretrainedConfig:
    """Weights loaded into the task before training (fine-tuning), matched by name under `prefix`."""

    path: str | None = None  # a checkpoint folder written by spot-train
    prefix: str = "backbone."


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
    data: DataConfig
    model: Component
    objective: Component
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
TOP_LEVEL_KEYS = ("name", "data", "model", "objective", *FIXED_SECTIONS)


def load_config(
    path: str | Path,
    overrides: Sequence[str] = (),
    registries: Registries | None = None,
    val_data: str | Path | None = None,
) -> ExperimentConfig:
    """Compose `path` with its bases, apply `key=value` overrides, and validate everything.

    `val_data`: a YAML file whose `data.val` section replaces the config's (evaluating a model on other data).
    `registries` defaults to `spot.trainer.components.REGISTRIES`.
    """
    registries = REGISTRIES if registries is None else registries
    raw = compose_yaml(Path(path))
    if val_data is not None:
        raw.data.val = _val_section(Path(val_data))
    overrides_config = parse_overrides(overrides, source=path)
    try:
        values = OmegaConf.to_container(OmegaConf.merge(raw, overrides_config), resolve=True)
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
    merged = OmegaConf.create()
    for base in bases:
        merged = OmegaConf.merge(merged, compose_yaml(path.parent / base, (*_seen, path)))
    return OmegaConf.merge(merged, OmegaConf.create(data))


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
    name = values.get("name")
    if not isinstance(name, str) or not name:
        raise SpotConfigError("`name` is missing: give the experiment a name (it names the run folder)", source=source)
    data = _mapping(values.get("data"), "data", source)
    _reject_unknown(data, ("train", "val"), "data.", source)
    val = data.get("val")
    config = ExperimentConfig(
        name=name,
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
    _check_train(config.train, source)
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
    """Merge `values` into the dataclass `schema`: unknown keys, wrong types and missing values are errors."""
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


def _check_train(train: TrainConfig, source: str | Path | None) -> None:
    positive = {"epochs": train.epochs, "batch_size": train.batch_size, "log_every": train.log_every}
    positive["keep_checkpoints"] = train.keep_checkpoints
    for key, value in positive.items():
        if value < 1:
            raise SpotConfigError(f"`train.{key}` = {value}: expected a positive integer", source=source)
    if train.max_steps is not None and train.max_steps < 1:
        raise SpotConfigError(f"`train.max_steps` = {train.max_steps}: expected null or >= 1", source=source)
    if train.device not in ("auto", "cpu", "cuda"):
        raise SpotConfigError(f"`train.device` = {train.device!r}: expected auto, cpu or cuda", source=source)


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
