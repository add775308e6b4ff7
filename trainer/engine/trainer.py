"""The training loop: one readable loop over optimizer steps; everything around it is a hook.

for each epoch (from the resumed one):
    for each global batch (from the resumed one):     # this rank's share of it
        forward (autocast on CUDA) -> loss -> backward (scaled for fp16) -> clip -> AdamW -> lr schedule
        hooks.after_step: scalars, progress bar, periodic evaluation and checkpoint
    hooks.after_epoch
hooks.after_train: final evaluation and checkpoint, loss curve
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from spot.runtime.errors import SpotInputError

from ..config import AmpMode, ExperimentConfig, to_yaml
from .checkpoint import Checkpoint
from .distributed import Distributed, gather_objects
from .hooks import Hook
from .optim import build_optimizer, build_scheduler
from .sampling import MAX_SUBSTITUTES, SkippedSamples, epoch_length, eval_batches, make_loader, train_batches
from .seeding import capture_rng, derive_seed, isolated_rng, restore_rng, seed_everything
from .task import Task, move_to_device

log = logging.getLogger(__name__)


class Trainer:
    """Trains `task` on `train_set` as `config` says, on this process's share of the data."""

    def __init__(
        self,
        config: ExperimentConfig,
        task: Task,
        train_set: Any,
        val_set: Any | None,
        context: Distributed,
        stage: str,
        resume_from: Checkpoint | None = None,
    ):
        self.config, self.task, self.train_set, self.val_set = config, task, train_set, val_set
        self.context, self.stage = context, stage
        self.config_yaml = to_yaml(config)
        self.hooks: list[Hook] = []
        self.latest_scalars: dict[str, float] = {}
        self.skipped = SkippedSamples("training")  # this rank's unreadable samples (hooks.SkippedSamplesReport)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.batches_per_epoch = epoch_length(train_set, config.train.batch_size)
        self.sampling_weights = train_set.sampling_weights() if hasattr(train_set, "sampling_weights") else None
        self.total_steps = config.train.max_steps or config.train.epochs * self.batches_per_epoch
        if resume_from is not None:
            task.load_state_dict(resume_from.weights)
        task.to(context.device)
        self.model = self._wrap(task)
        self.optimizer = build_optimizer(task, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.schedule, self.total_steps)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self._amp_dtype() == torch.float16)
        seed_everything(derive_seed(config.train.seed, "train", context.rank))
        if resume_from is not None:
            self.load_state_dict(resume_from.train_state)

    def fit(self) -> None:
        """Train until `total_steps`, calling the hooks; resumes where the restored state left off."""
        self._call("before_train")
        while self.step < self.total_steps:
            for batch in self._train_batches():
                scalars = self.train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                self._call("after_step", scalars)
                if self.step >= self.total_steps:
                    break
            if self.batch_in_epoch == self.batches_per_epoch:
                self._call("after_epoch")
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        self._call("after_train")

    def train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One optimizer step on this rank's share of a global batch; returns the detached step scalars."""
        batch = move_to_device(batch, self.context.device)
        with self._autocast():
            outputs = self.model(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(outputs["loss"]).backward()
        scalars = {key: value.detach().float() for key, value in outputs.items()}
        scalars["lr"] = torch.tensor(self.scheduler.get_last_lr()[0], device=self.context.device)
        if self.config.train.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.task.parameters(), self.config.train.grad_clip)
            scalars["grad_norm"] = norm.detach().float()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return scalars

    def evaluate(self) -> dict[str, float]:
        """Metrics over the whole validation set, all ranks together; leaves the training RNG untouched."""
        with isolated_rng(derive_seed(self.config.train.seed, "eval", self.context.rank), self.context.device):
            return evaluate_task(self.task, self.val_set, self.config, self.context)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the weights needed to continue exactly from here, every rank's RNG state included.

        A collective (it gathers the RNG states): every rank calls it, the main rank saves it.
        """
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "world_size": self.context.world_size,
            "batch_size": self.config.train.batch_size,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": gather_objects(capture_rng(), self.context),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["batch_size"] != self.config.train.batch_size:
            raise SpotInputError(
                f"cannot resume: the checkpoint was trained with train.batch_size={state['batch_size']}, "
                f"the config says {self.config.train.batch_size} (the data order would differ)"
            )
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        if self.batch_in_epoch >= self.batches_per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if state["world_size"] == self.context.world_size:
            restore_rng(state["rng"][self.context.rank])
        else:
            log.warning(
                "resuming on %d processes, saved on %d: RNG streams restart",
                self.context.world_size,
                state["world_size"],
            )

    def meta(self) -> dict[str, Any]:
        """What a checkpoint says about itself besides its config (export reads the dataset info)."""
        return {
            "stage": self.stage,
            "step": self.step,
            "epoch": self.epoch,
            "task": f"{type(self.task).__module__}.{type(self.task).__qualname__}",
            "dataset_info": self.task.info.to_dict(),
            "torch_version": torch.__version__,
        }

    def _train_batches(self) -> Iterator[dict[str, Any]]:
        train = self.config.train
        batches = train_batches(
            self.train_set,
            train.batch_size,
            train.seed,
            self.epoch,
            self.context.rank,
            self.context.world_size,
            start=self.batch_in_epoch,
            weights=self.sampling_weights,
        )
        pin = self.context.device.type == "cuda"
        loader = make_loader(
            self.train_set, batches, self.task.collate, train.seed, self.epoch, train.num_workers, pin, MAX_SUBSTITUTES
        )
        for loaded in loader:
            self.skipped.add(loaded.problems)
            if not loaded.complete:
                raise SpotInputError(
                    f"step {self.step + 1}: {MAX_SUBSTITUTES + 1} training samples in a row cannot be read (a broken "
                    f"dataset or config), the last: {loaded.problems[-1]}"
                )
            yield loaded.batch

    def _wrap(self, task: Task) -> torch.nn.Module:
        if not self.context.active:
            return task
        device_ids = [self.context.device.index] if self.context.device.type == "cuda" else None
        return DistributedDataParallel(
            task, device_ids=device_ids, find_unused_parameters=self.config.train.find_unused_parameters
        )

    def _amp_dtype(self) -> torch.dtype | None:
        if self.context.device.type != "cuda" or self.config.train.amp == AmpMode.off:
            return None
        return torch.bfloat16 if self.config.train.amp == AmpMode.bf16 else torch.float16

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = self._amp_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=dtype)

    def _call(self, event: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, event)(self, *args)


def evaluate_task(task: Task, dataset: Any, config: ExperimentConfig, context: Distributed) -> dict[str, float]:
    """`task.summarize` of the statistics `evaluation_totals` sums."""
    return task.summarize(evaluation_totals(task, dataset, config, context))


@torch.no_grad()
def evaluation_totals(
    task: Task, dataset: Any, config: ExperimentConfig, context: Distributed
) -> dict[str, torch.Tensor]:
    """Sum `task.evaluate_step` over this rank's share of `dataset`, then over ranks (CPU tensors)."""
    train = config.train
    batch_size = max(1, (train.eval_batch_size or train.batch_size) // context.world_size)
    batches = eval_batches(dataset, batch_size, context.rank, context.world_size)
    loader = make_loader(dataset, batches, task.collate, train.seed, 0, train.num_workers, False)
    skipped = SkippedSamples("evaluation")  # left out, never substituted: every sample counts once
    was_training = task.training
    task.eval()
    totals: dict[str, torch.Tensor] = {}
    try:
        for loaded in loader:
            skipped.add(loaded.problems)
            if loaded.batch is None:
                continue
            for key, value in task.evaluate_step(move_to_device(loaded.batch, context.device)).items():
                totals[key] = totals[key] + value.detach() if key in totals else value.detach()
    finally:
        task.train(was_training)
    if skipped.counts:
        log.warning(skipped.summary())
    summed: dict[str, torch.Tensor] = {}
    for rank_totals in gather_objects({k: v.cpu() for k, v in totals.items()}, context):
        for key, value in rank_totals.items():
            summed[key] = summed[key] + value if key in summed else value
    return summed
