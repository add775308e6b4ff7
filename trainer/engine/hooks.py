"""What happens around the loop: scalar logging, the progress bar, evaluation, checkpoints, the loss curve.

A hook overrides any of `before_train`, `after_step(scalars)`, `after_epoch`, `after_eval(metrics)` and
`after_train`; the trainer calls them in list order. Every rank runs every hook (some need collectives); only
the main rank writes files. A hook with state that an exact resume needs returns it from `state_dict` (called on
every rank when a checkpoint is written) and gets it back in `load_state_dict` before `before_train`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from spot.runtime.errors import SpotInputError

from .checkpoint import checkpoint_name, prune_checkpoints, save_checkpoint
from .distributed import all_reduce_sum, gather_objects
from .run_folder import writes_into
from .sampling import merge_counts

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from .trainer import Trainer

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.jsonl"
LOSS_CURVE = "loss_curve.png"


class Hook:
    def before_train(self, trainer: Trainer) -> None: ...

    def after_step(self, trainer: Trainer, scalars: dict[str, torch.Tensor]) -> None: ...

    def after_epoch(self, trainer: Trainer) -> None: ...

    def after_eval(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...

    def after_train(self, trainer: Trainer) -> None: ...

    def state_dict(self, trainer: Trainer) -> dict | None:
        return None

    def load_state_dict(self, trainer: Trainer, state: dict) -> None: ...


def hook_states(trainer: Trainer) -> dict[str, dict]:
    """Every hook's resume state by class name (collective: call it on every rank)."""
    states = {type(hook).__name__: hook.state_dict(trainer) for hook in trainer.hooks}
    return {name: state for name, state in states.items() if state is not None}


def restore_hook_states(trainer: Trainer, states: dict[str, dict]) -> None:
    """Hand each hook the state it saved in the checkpoint being resumed."""
    for hook in trainer.hooks:
        if type(hook).__name__ in states:
            hook.load_state_dict(trainer, states[type(hook).__name__])


class ScalarLog(Hook):
    """Averages the step scalars over `log_every` steps and all ranks; writes TensorBoard and metrics.jsonl.

    Each line of metrics.jsonl is one record: {"step", "epoch", "split": "train" | "val", **scalars}. A resumed
    run first drops the records after its checkpoint, so the file tells one consistent history, and continues
    the averaging window the checkpoint carries, so its first record equals the uninterrupted run's.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / METRICS_FILE
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.writer: SummaryWriter | None = None

    def before_train(self, trainer: Trainer) -> None:
        if not trainer.context.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter  # heavy (tensorboard, protobuf): only when a run starts

        kept = [r for r in read_metrics(self.path) if r["step"] <= trainer.step]
        with writes_into(self.path.parent):
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
            self.writer = SummaryWriter(str(self.path.parent / "tensorboard"), purge_step=trainer.step + 1)

    def after_step(self, trainer: Trainer, scalars: dict[str, torch.Tensor]) -> None:
        for key, value in scalars.items():
            self.sums[key] = self.sums.get(key, 0) + value
        self.count += 1
        if trainer.step % trainer.config.train.log_every == 0 or trainer.step == trainer.total_steps:
            summed = all_reduce_sum(self.sums, trainer.context)
            scale = self.count * trainer.context.world_size
            means = {key: float(value) / scale for key, value in summed.items()}
            self.sums, self.count = {}, 0
            trainer.latest_scalars = means
            self._write(trainer, "train", means)

    def after_eval(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self._write(trainer, "val", metrics)

    def after_train(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()

    def state_dict(self, trainer: Trainer) -> dict:
        """The open window: its step count and its sums averaged over the ranks (so a resume on another
        number of ranks still weighs every logged step equally)."""
        summed = all_reduce_sum(self.sums, trainer.context)
        world = trainer.context.world_size
        return {"count": self.count, "sums": {key: (value / world).cpu() for key, value in summed.items()}}

    def load_state_dict(self, trainer: Trainer, state: dict) -> None:
        self.count = state["count"]
        self.sums = {key: value.to(trainer.context.device) for key, value in state["sums"].items()}

    def _write(self, trainer: Trainer, split: str, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            self.writer.add_scalar(f"{split}/{key}", value, trainer.step)
        with writes_into(self.path.parent), self.path.open("a") as stream:
            stream.write(json.dumps({"step": trainer.step, "epoch": trainer.epoch, "split": split, **values}) + "\n")


class ProgressBar(Hook):
    """A tqdm bar over the optimizer steps on the main rank, showing the latest logged loss and lr."""

    def __init__(self):
        self.bar: tqdm | None = None

    def before_train(self, trainer: Trainer) -> None:
        if trainer.context.is_main:
            self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, desc=trainer.config.name, unit="step")

    def after_step(self, trainer: Trainer, scalars: dict[str, torch.Tensor]) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        if trainer.latest_scalars:
            latest = trainer.latest_scalars
            self.bar.set_postfix(loss=f"{latest['loss']:.4g}", lr=f"{latest['lr']:.3g}", refresh=False)

    def after_train(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()


class PeriodicAction(Hook):
    """Runs `act` every `every` steps, or at the end of each epoch when `every` is 0, and once at the end.

    Never twice at one step: a run resumed at step s counts s as done, since its checkpoint was written after
    every action due at s (`Evaluation` comes before `Checkpointing` in the hook list), so resuming a finished
    run neither evaluates nor checkpoints again.
    """

    def __init__(self, every: int):
        self.every = every
        self.done_at = -1

    def act(self, trainer: Trainer) -> None:
        raise NotImplementedError

    def before_train(self, trainer: Trainer) -> None:
        self.done_at = trainer.step if trainer.step else -1

    def after_step(self, trainer: Trainer, scalars: dict[str, torch.Tensor]) -> None:
        if self.every and trainer.step % self.every == 0:
            self._run(trainer)

    def after_epoch(self, trainer: Trainer) -> None:
        if not self.every:
            self._run(trainer)

    def after_train(self, trainer: Trainer) -> None:
        self._run(trainer)

    def _run(self, trainer: Trainer) -> None:
        if self.done_at != trainer.step:
            self.done_at = trainer.step
            self.act(trainer)


class Evaluation(PeriodicAction):
    """Evaluates on the validation set (when there is one) and hands the metrics to every hook."""

    def act(self, trainer: Trainer) -> None:
        if trainer.val_set is None:
            return
        metrics = trainer.evaluate()
        if trainer.context.is_main:
            log.info("step %d: %s", trainer.step, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
        for hook in trainer.hooks:
            hook.after_eval(trainer, metrics)


class Checkpointing(PeriodicAction):
    """Saves a checkpoint (`Trainer.state_dict`: every rank's RNG state included), keeping the newest `keep`."""

    def __init__(self, every: int, keep: int, folder: Path):
        super().__init__(every)
        self.keep, self.folder = keep, folder

    def act(self, trainer: Trainer) -> None:
        hooks = hook_states(trainer)
        state = trainer.state_dict()  # a collective: every rank takes part
        if not trainer.context.is_main:
            return
        state["hooks"] = hooks
        with writes_into(self.folder.parent):
            path = save_checkpoint(
                self.folder,
                checkpoint_name(trainer.step),
                trainer.task.state_dict(),
                state,
                trainer.config_yaml,
                trainer.meta(),
            )
            prune_checkpoints(self.folder, self.keep, protect=(path,))


class SkippedSamplesReport(Hook):
    """Carries the count of training samples skipped as unreadable (every rank's) across resumes, and says at
    the end of training how many were skipped and why (each reason names its file)."""

    def state_dict(self, trainer: Trainer) -> dict:
        return {"counts": merge_counts(gather_objects(trainer.skipped.counts, trainer.context))}

    def load_state_dict(self, trainer: Trainer, state: dict) -> None:
        if trainer.context.is_main:  # the other ranks count from zero; the totals are summed over ranks
            trainer.skipped.counts = dict(state["counts"])

    def after_train(self, trainer: Trainer) -> None:
        counts = merge_counts(gather_objects(trainer.skipped.counts, trainer.context))
        if trainer.context.is_main and counts:
            log.warning(trainer.skipped.summary(counts))


class LossCurve(Hook):
    """Draws the logged training loss (and validation metrics) against the step into loss_curve.png."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def after_train(self, trainer: Trainer) -> None:
        if trainer.context.is_main:
            with writes_into(self.run_dir):
                plot_metrics(read_metrics(self.run_dir / METRICS_FILE), self.run_dir / LOSS_CURVE, trainer.config.name)


def read_metrics(path: Path) -> list[dict]:
    """The records of a metrics.jsonl file (none if it does not exist).

    A last line that is not a whole record was cut by a process killed (or a disk filled) during its append: it
    is dropped with a warning (a resumed run then rewrites the file without it). A bad line before the last is
    not such a cut, and is an error naming the line.
    """
    if not path.is_file():
        return []
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        record = _record(line)
        if record is not None:
            records.append(record)
        elif number == len(lines):
            log.warning("%s: dropped its half-written last line (%d characters)", path, len(line))
        else:
            raise SpotInputError(f"line {number} is not a JSON record: {line[:60]!r}", source=path)
    return records


def _record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "step" in record and "split" in record else None


def plot_metrics(records: list[dict], output: Path, title: str) -> None:
    """Training loss (left) and the validation metrics (to its right) against the step, as a PNG.

    Validation metrics are split by scale (`split_by_scale`) so that none flattens another: rates (IoU,
    accuracy) on a 0-1 axis, anything else (counts such as `points_outside_grid`, losses above 1) in a panel of
    its own on a log axis. Per-class metrics (`iou/<class>`) are thin grey lines under the summary ones.
    """
    import matplotlib

    matplotlib.use("Agg")  # matplotlib is imported here, when a run ends: importing the engine stays light
    from matplotlib import pyplot as plt

    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    rates, others = split_by_scale(val)
    panels = 1 + bool(rates) + bool(others)
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    left, *right = axes[0]
    left.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    left.set(xlabel="step", ylabel="loss", title=title)
    if rates:
        _plot_validation(right[0], val, rates)
        right[0].set(xlabel="step", ylim=(-0.02, 1.02), title="validation: rates")
    if others:
        _plot_validation(right[-1], val, others)
        positive = all(r[key] > 0 for r in val for key in others if key in r)
        right[-1].set_yscale("log" if positive else "symlog")
        right[-1].set(xlabel="step", title="validation: counts and losses (log scale)")
    for axis in axes[0]:
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(output, dpi=100)
    plt.close(figure)


def split_by_scale(val: list[dict]) -> tuple[list[str], list[str]]:
    """The validation metrics whose every value lies in [0, 1] (rates: IoU, accuracy, shares), and the rest."""
    keys = sorted({key for record in val for key in record} - {"step", "epoch", "split"})
    rates = [key for key in keys if all(0.0 <= record[key] <= 1.0 for record in val if key in record)]
    return rates, [key for key in keys if key not in rates]


def _plot_validation(axis, val: list[dict], keys: list[str]) -> None:
    """One line per metric; per-class ones (`group/class`) thin and grey, with one legend entry per group."""
    labelled: set[str] = set()
    for key in sorted(keys, key=lambda k: "/" not in k):  # per-class lines first, under the summary ones
        steps, values = [r["step"] for r in val if key in r], [r[key] for r in val if key in r]
        group, slash, _ = key.partition("/")
        if slash:
            label = None if group in labelled else f"{group}/<class>"
            labelled.add(group)
            axis.plot(steps, values, color="0.75", linewidth=0.8, label=label)
        else:
            axis.plot(steps, values, marker="o", label=key)
