"""Config -> components -> trainer: what `spot-train pretrain | finetune | eval` run.

A run folder (`train.output_dir`, default runs/<name>) holds config.yaml (resolved), metrics.jsonl,
tensorboard/, checkpoints/ (step_*/ and `last`), loss_curve.png and `.lock` (held by the training running
there, `run_folder`). Everything a run could refuse is checked before step 1: the lock, the checkpoint and
config of a resume (`resume`), the datasets' files (their constructors).
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from spot.runtime.errors import SpotInputError

from ..components import REGISTRIES
from ..config import Component, ExperimentConfig, SpotConfigError, load_config
from ..data.multi_domain import experiment_domains
from ..registry import Registries
from . import distributed
from .checkpoint import Checkpoint, list_checkpoints, load_pretrained, load_weights, read_checkpoint, remove_temporaries
from .hooks import (
    Checkpointing,
    Evaluation,
    LossCurve,
    ProgressBar,
    ScalarLog,
    SkippedSamplesReport,
    restore_hook_states,
)
from .resume import checkpoint_to_resume, refuse_changed_config
from .run_folder import claim_run_folder, writes_into
from .seeding import seed_everything
from .task import DatasetInfo, Task
from .trainer import Trainer, evaluation_totals

log = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"


def experiment_info(config: ExperimentConfig) -> DatasetInfo:
    """What the task is built for and every dataset is checked against: the declared voxelization and classes,
    and the training data's domains when it has several (`data.multi_domain`)."""
    classes = config.classes.class_names if config.classes else ()
    return DatasetInfo(classes, config.voxelization.grid, experiment_domains(config))


def build_dataset(component: Component, info: DatasetInfo, registries: Registries = REGISTRIES) -> Any:
    """The dataset of a `data.*` section, checked against the experiment's `info`."""
    return registries.datasets[component.name].build(component.config, info)


def build_task(config: ExperimentConfig, info: DatasetInfo, registries: Registries = REGISTRIES) -> Task:
    """The backbone from `config.model`, wrapped by the objective from `config.objective`."""
    backbone = registries.models[config.model.name].build(config.model.config, info)
    return registries.objectives[config.objective.name].build(config.objective.config, backbone, info)


def train(config: ExperimentConfig, stage: str, resume: bool = False, registries: Registries = REGISTRIES) -> Path:
    """Train as `config` says (resuming from the run folder's last checkpoint if asked); returns the run folder."""
    context = distributed.start(config.train.device)
    try:
        run_dir = config.output_dir
        with claim_run_folder(run_dir) if context.is_main else contextlib.nullcontext():
            _train(config, stage, resume, registries, context)
        return run_dir
    finally:
        distributed.stop(context)


def _train(
    config: ExperimentConfig, stage: str, resume: bool, registries: Registries, context: distributed.Distributed
) -> None:
    run_dir = config.output_dir
    checkpoint = checkpoint_to_resume(run_dir / CHECKPOINTS) if resume else None
    if checkpoint is not None:
        refuse_changed_config(config, checkpoint)
    else:
        _refuse_overwrite(run_dir)
    if context.is_main:
        remove_temporaries(run_dir / CHECKPOINTS)  # what a killed writer left: this process holds the folder
    torch.use_deterministic_algorithms(config.train.deterministic, warn_only=True)
    info = experiment_info(config)
    train_set = build_dataset(config.data.train, info, registries)
    val_set = None if config.data.val is None else build_dataset(config.data.val, info, registries)
    seed_everything(config.train.seed)  # the same initial weights on every rank and in every rerun
    task = build_task(config, info, registries)
    if checkpoint is None and config.pretrained.path:
        pretrained = config.pretrained
        report = load_pretrained(task, Path(pretrained.path), pretrained.prefix, pretrained.domain)
        log.info("pre-trained weights from %s: %s", config.pretrained.path, report.summary())
    trainer = Trainer(config, task, train_set, val_set, context, stage, resume_from=checkpoint)
    trainer.hooks = [
        ScalarLog(run_dir),
        ProgressBar(),
        Evaluation(config.train.eval_every),  # before Checkpointing: a checkpoint follows its step's evaluation
        Checkpointing(config.train.ckpt_every, config.train.keep_checkpoints, run_dir / CHECKPOINTS,
                      config.train.best_metric),
        SkippedSamplesReport(),
        LossCurve(run_dir),
    ]
    if checkpoint is not None:
        restore_hook_states(trainer, checkpoint.train_state.get("hooks", {}))
        if trainer.step >= trainer.total_steps:
            log.info("%s finished at step %d: nothing left to train", run_dir, trainer.step)
    if context.is_main:
        with writes_into(run_dir):
            (run_dir / "config.yaml").write_text(trainer.config_yaml)
    trainer.fit()


def evaluate(
    checkpoint_path: Path,
    config_path: Path | None = None,
    overrides: tuple[str, ...] = (),
    registries: Registries = REGISTRIES,
    val_data: Path | None = None,
    pictures: bool = True,
) -> dict[str, float]:
    """Metrics of a checkpoint on `data.val` of its own config (or of `config_path`, with overrides; or of the
    `val_data` file's `data.val`, e.g. a real dataset for a simulator-trained model). `pictures`: also draw the
    task's report (a study scoring hundreds of checkpoints keeps the JSON only)."""
    task, config, info, checkpoint = load_for_evaluation(checkpoint_path, config_path, overrides, registries, val_data)
    context = distributed.start(config.train.device)
    try:
        task.to(context.device)
        dataset = build_dataset(config.data.val, info, registries)
        totals = evaluation_totals(task, dataset, config, context)
        metrics = task.summarize(totals)
        if context.is_main:
            # eval_<checkpoint>[_<config or data>]: evaluating on other data keeps the own-data report
            other = val_data or config_path
            name = f"eval_{checkpoint.path.name}" + (f"_{Path(other).stem}" if other else "")
            folder = checkpoint.path.parent
            with writes_into(folder):
                (folder / f"{name}.json").write_text(json.dumps(metrics, indent=2))
                for picture in task.write_report(totals, dataset, folder / name) if pictures else ():
                    log.info("wrote %s", picture)
    finally:
        distributed.stop(context)
    return metrics


def load_for_evaluation(
    checkpoint_path: Path,
    config_path: Path | None = None,
    overrides: tuple[str, ...] = (),
    registries: Registries = REGISTRIES,
    val_data: Path | None = None,
) -> tuple[Task, ExperimentConfig, DatasetInfo, Checkpoint]:
    """A checkpoint's task with its weights, in eval mode, and the config (its own, or `config_path`'s with
    overrides, or with `val_data`'s `data.val`), data info and checkpoint it was built from: what `evaluate`
    scores, for callers that also want the predictions. A config declaring another grid or classes than the
    model was trained for is refused."""
    checkpoint = read_checkpoint(checkpoint_path, with_train_state=False)
    recorded = checkpoint.meta["dataset_info"]
    source = config_path or checkpoint.path / "config.yaml"
    # The checkpoint's own config may predate `voxelization` / `classes`: it takes them from what was recorded.
    config = load_config(source, overrides, registries, val_data, recorded=recorded if config_path is None else None)
    if config.data.val is None:
        raise SpotInputError("the config has no `data.val` section to evaluate on", source=config_path)
    info = experiment_info(config)
    require_recorded_spec(info, DatasetInfo.from_dict(recorded), source)
    task = build_task(config, info, registries)
    load_weights(task, checkpoint.weights, source)
    task.eval()
    return task, config, info, checkpoint


def require_recorded_spec(info: DatasetInfo, recorded: DatasetInfo, source: Path) -> None:
    """A model runs on the grid, classes and domains it was trained for: a config declaring others is refused (a
    detector declares no classes: it is checked on the grid alone)."""
    if info.grid != recorded.grid:
        raise SpotConfigError(f"`voxelization` {info.grid.to_dict()} differs from the checkpoint's "
                              f"{recorded.grid.to_dict() if recorded.grid else None}", source=source)  # fmt: skip
    if info.domains != recorded.domains:
        names = [d.name for d in recorded.domains]
        raise SpotConfigError(f"the training data's domains ({[d.name for d in info.domains]}, with their label "
                              f"sets) differ from the checkpoint's ({names})", source=source)  # fmt: skip
    if info.class_names and recorded.class_names and info.class_names != recorded.class_names:
        raise SpotConfigError(f"`classes` ({len(info.class_names)}: {', '.join(info.class_names)}) differ from the "
                              f"checkpoint's ({len(recorded.class_names)}: {', '.join(recorded.class_names)})",
                              source=source)  # fmt: skip


def _refuse_overwrite(run_dir: Path) -> None:
    if list_checkpoints(run_dir / CHECKPOINTS):
        raise SpotInputError(
            f"{run_dir} already holds checkpoints: pass --resume to continue that run, "
            "or set train.output_dir to a new folder"
        )
