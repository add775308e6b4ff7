"""What `--resume` checks before it continues a run: a checkpoint to continue from, and the same config.

A resumed run continues the run its checkpoint belongs to, so its config must be that run's: a different seed,
learning rate, schedule length or logging cadence would make it a different run whose history (and
config.yaml) no longer tells what was trained. The keys below only say where things are or how fast they
are read, not what is computed, and may differ; any other difference is refused, naming every differing key.
Lengthening a run (`train.epochs`, `train.max_steps`) is refused too: the learning-rate schedule spans the
planned length from step 0, so a longer run is a new run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from spot.runtime.errors import SpotInputError

from ..config import ExperimentConfig, to_plain
from .checkpoint import CONFIG, LAST, Checkpoint, read_checkpoint

log = logging.getLogger(__name__)

MAY_CHANGE_ON_RESUME = (
    "train.output_dir",  # the run folder was moved
    "data.train.root",  # the dataset was moved
    "data.val.root",
    "train.num_workers",  # results do not depend on the worker count (engine.sampling)
    "train.eval_batch_size",  # evaluation sums per-batch statistics
    "train.keep_checkpoints",
    "train.ckpt_every",  # when checkpoints are written, not what is trained
)


def checkpoint_to_resume(folder: Path) -> Checkpoint:
    """The last checkpoint of a run's checkpoints folder, with its training state."""
    if not (folder / LAST).exists():
        raise SpotInputError(f"--resume: no checkpoint to resume from in {folder}")
    checkpoint = read_checkpoint(folder / LAST)
    log.info("resuming from %s (step %d)", checkpoint.path, checkpoint.train_state["step"])
    return checkpoint


def config_differences(saved_yaml: str, config: ExperimentConfig) -> list[str]:
    """`key old -> new` for every key whose value differs between a run's saved config and `config`, outside
    `MAY_CHANGE_ON_RESUME` (empty: `config` computes what the run did)."""
    saved, given = _flatten(yaml.safe_load(saved_yaml)), _flatten(to_plain(config))
    changed = [key for key in sorted(saved.keys() | given.keys()) if saved.get(key, _ABSENT) != given.get(key, _ABSENT)]
    return [f"{key} {_show(saved, key)} -> {_show(given, key)}" for key in changed if key not in MAY_CHANGE_ON_RESUME]


def refuse_changed_config(config: ExperimentConfig, checkpoint: Checkpoint) -> None:
    """Refuse to resume with a config whose keys differ from the checkpoint's, outside `MAY_CHANGE_ON_RESUME`."""
    refused = config_differences(checkpoint.config_yaml, config)
    if refused:
        differences = ", ".join(refused)
        raise SpotInputError(
            f"--resume with another config than the run's ({checkpoint.path / CONFIG}): "
            f"{differences}. Only {', '.join(MAY_CHANGE_ON_RESUME)} may change on resume; start a new run "
            "(another train.output_dir) to change the others"
        )


_ABSENT = object()


def _flatten(values: dict, prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> {"section.key": value}; lists and scalars are values."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _show(values: dict[str, Any], key: str) -> str:
    return repr(values[key]) if key in values else "(absent)"
