"""The study's runs: planned from the config, each trained once into its own folder and scored from there.

    <out>/pretrain/<method>@<share>[-seed<s>]/              a pre-training run (fixed epochs, a share of the sequences;
                                                            data scaling: one per seed)
    <out>/<arm>/<method>@<share>[-seed<s>]/labels<f>-seed<s>/  a fine-tuning run; result.json holds its scores
    <out>/real-few-label/<method>/seed<s>/                  fine-tuned on real scans

A folder with result.json is finished and never recomputed (as long as its config is the one the study asks
for now and the simulator's version the one that trained it, `provenance.json`: either changed is refused
rather than mixed with old results); an interrupted run resumes
from its last checkpoint. Fine-tuning keeps the checkpoint with the best dev mIoU (`train.best_metric`) and
scores that one on the test split and on the real scans.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from spot.runtime.errors import SpotInputError
from spot.sim import SIMULATOR_VERSION

from ..config import ExperimentConfig, compose_yaml, load_config
from ..engine.checkpoint import BEST, LAST, write_atomically
from ..engine.hooks import METRICS_FILE, read_metrics
from ..engine.resume import config_differences
from ..engine.run import CHECKPOINTS, evaluate, train
from .config import SCRATCH, StudyConfig

log = logging.getLogger(__name__)
RESULT = "result.json"
PROVENANCE = "provenance.json"  # what produced the run beyond its config: the simulator's version
METRIC = "miou"
FULL_SHARE = 1.0
PRETRAIN_CHECKPOINT_EVERY = 32  # steps: a stopped study resumes its pre-trainings from there
PRETRAIN_DIAGNOSTICS = ("loss", "prototypes_used", "code_entropy", "code_agreement")  # reported where logged


@dataclass(frozen=True)
class Pretraining:
    method: str
    share: float  # of the pre-training pool's sequences (above 1: more sequences than the pool)
    seed: int | None = None  # its train.seed (data scaling pairs it with the fine-tuning seed); None: the config's

    @property
    def key(self) -> str:
        return f"{self.method}@{self.share:g}" + ("" if self.seed is None else f"-seed{self.seed}")


@dataclass(frozen=True)
class Finetuning:
    arm: str  # an arm's name, or REAL_ARM
    method: str
    share: float  # of the pre-training pool its backbone saw
    label_fraction: float
    seed: int
    own_pretraining: bool = False  # a data-scaling run: it fine-tunes a pre-training trained with its own seed

    @property
    def pretrain_seed(self) -> int | None:
        """The pre-training's train.seed (None: the method config's, shared by every seed's run)."""
        return self.seed if self.own_pretraining else None

    @property
    def pretraining(self) -> Pretraining | None:
        return None if self.method == SCRATCH else Pretraining(self.method, self.share, self.pretrain_seed)

    def folder(self, out: Path) -> Path:
        if self.arm == REAL_ARM:
            return out / REAL_ARM / self.method / f"seed{self.seed}"
        backbone = self.pretraining.key if self.pretraining else f"{self.method}@{self.share:g}"
        return out / self.arm / backbone / f"labels{self.label_fraction:g}-seed{self.seed}"


REAL_ARM = "real-few-label"


@dataclass
class Settings:
    """How this invocation runs the study (not part of the protocol)."""

    out: Path
    scale: float = 1.0  # --scale K: K x the pre-training pool and K x the fine-tuning steps
    device: str = "auto"
    jobs: int = 1  # --jobs N: trainings at once, each in its own process
    train: bool = True  # --no-train: report the finished runs only


def plan(study: StudyConfig, real_available: bool) -> list[Finetuning]:
    """Every fine-tuning run the report needs, in the order they run: label fraction by fraction, the fewest
    labels (the headline claims) first; within a fraction arm by arm, an arm's data-scaling runs right after its
    main runs (they are as cheap: the OS-1-128 arm's runs cost ~4x); within an arm every method of a seed before
    the next seed. A study stopped part-way (it resumes) then already holds complete paired
    comparisons for its claims. The real few-label arm comes last.

    A data-scaling run of seed s fine-tunes a pre-training of its own, trained with seed s: a step of the scaling
    table moves the score by about as much as the pre-training's seed does, so the paired intervals must hold
    that spread too. (The method claims, 5-10 points, fine-tune one pre-training per method.)"""
    runs = [
        Finetuning(arm.name, method, FULL_SHARE, fraction, seed)
        for arm in study.arms
        for fraction in sorted(arm.label_fractions)
        for seed in study.seeds
        for method in study.arm_methods(arm)
        if study.fine_tunes(method, fraction)
    ]
    if study.scaling is not None:
        scaling = study.scaling
        runs += [Finetuning(scaling.arm, scaling.method, share, scaling.label_fraction, seed, own_pretraining=True)
                 for share in scaling.shares for seed in study.scaling_seeds]  # fmt: skip
    arms = [arm.name for arm in study.arms]
    runs.sort(key=lambda run: (run.label_fraction, arms.index(run.arm)))  # stable: the order above within an arm
    if study.real_few_label is not None and real_available:
        methods = study.real_few_label.methods or study.method_names
        runs += [Finetuning(REAL_ARM, method, FULL_SHARE, 1.0, seed) for method in methods for seed in study.seeds]
    return runs


def data_available(config_path: str | Path | None) -> bool:
    """Whether a data config's dataset roots exist (the real scans live outside the repository)."""
    if config_path is None:
        return False
    data = compose_yaml(Path(config_path)).get("data") or {}
    roots = [section.get("root") or section.get("path") for section in data.values()]
    return all(Path(root).exists() for root in roots if root)


class StudyRunner:
    """Trains (or reads back) every run of a study and returns each fine-tuning run's result."""

    def __init__(self, study: StudyConfig, settings: Settings):
        self.study, self.settings = study, settings
        self.real_available = data_available(study.finetune.real)
        few = study.real_few_label
        self.real_few_label_available = few is not None and data_available(few.config)
        self.trained_seconds: list[float] = []  # this invocation's trainings, for the ETA

    def run_all(self) -> dict[Finetuning, dict]:
        runs = plan(self.study, self.real_few_label_available)
        if not self.settings.train:
            finished = [run for run in runs if self._finished(run)]
            log.info("study: %d of %d runs finished; reporting those, training nothing", len(finished), len(runs))
            return {run: self.finetune(run) for run in finished}
        if self.settings.jobs > 1:
            return self._run_in_processes(runs)
        results = {}
        for number, run in enumerate(runs, start=1):
            status = self._status(self._finished(run), len(runs) - number)
            log.info("study [%d/%d] %s: %s", number, len(runs), describe(run), status)
            results[run] = self.finetune(run)
        return results

    def _run_in_processes(self, runs: list[Finetuning]) -> dict[Finetuning, dict]:
        """`jobs` trainings at once, each in a fresh process with cores / jobs torch threads: the pre-trainings
        first (fine-tunings start from them), then the fine-tunings in plan order. Per-step progress bars are
        off in the workers (they would overwrite each other); each finished run is logged here."""
        jobs = self.settings.jobs
        pretrainings = list(dict.fromkeys(run.pretraining for run in runs if run.pretraining))
        context = multiprocessing.get_context("spawn")
        results = {}
        with _environment(TQDM_DISABLE="1"), ProcessPoolExecutor(jobs, context, initializer=_share_cores,
                                                                 initargs=(jobs,)) as pool:  # fmt: skip
            started = {pool.submit(self.pretrain, p): p for p in pretrainings}
            for future in as_completed(started):
                future.result()
                log.info("study: pre-trained %s", started[future].key)
            futures = {pool.submit(self.finetune, run): run for run in runs}
            for number, future in enumerate(as_completed(futures), start=1):
                run = futures[future]
                results[run] = future.result()
                log.info("study [%d/%d done] %s: test mIoU %s", number, len(runs), describe(run),
                         _headline(results[run]))  # fmt: skip
        return {run: results[run] for run in runs}

    def _finished(self, run: Finetuning) -> bool:
        return (run.folder(self.settings.out) / RESULT).is_file()

    def _status(self, cached: bool, left: int) -> str:
        if cached:
            return "cached"
        if not self.trained_seconds:
            return "training"
        mean = sum(self.trained_seconds) / len(self.trained_seconds)
        return f"training (about {mean * (left + 1) / 60:.0f} min left at {mean:.0f} s a run)"

    def pretrain_result(self, run: Pretraining) -> dict | None:
        """A finished pre-training's steps and seconds, and what its last training record says of it
        (`PRETRAIN_DIAGNOSTICS`: CLAP's prototypes in use, the collapse metric); None while unfinished."""
        folder = self.settings.out / "pretrain" / run.key
        if not (folder / RESULT).is_file():
            return None
        train_records = [r for r in read_metrics(folder / METRICS_FILE) if r.get("split") == "train"]
        last = train_records[-1] if train_records else {}
        return json.loads((folder / RESULT).read_text()) | {k: last[k] for k in PRETRAIN_DIAGNOSTICS if k in last}

    def pretrain(self, run: Pretraining) -> Path:
        """The pre-trained checkpoint of a method at a share of the pool (trained on first use)."""
        folder = self.settings.out / "pretrain" / run.key
        section = self.study.pretrain
        method = section.methods[run.method]
        overrides = [
            f"name=pretrain-{run.key}",
            f"train.output_dir={folder}",
            f"train.epochs={section.epochs}",
            "train.max_steps=null",
            f"train.ckpt_every={PRETRAIN_CHECKPOINT_EVERY}",
            "train.keep_checkpoints=1",
            f"train.device={self.settings.device}",
            "data.val=null",  # pre-training is judged by what it does to fine-tuning
            # the CPU-sized pool (128 frames, ~450 MB) fits one process's frame cache (`SimulatedDataset`), which
            # loader workers, restarted every epoch, would remake; a scaled pool is read by workers
            *(["train.num_workers=0"] if self.settings.scale <= 1 else []),
            # a share of the pool's sequences (`Scaling`), times --scale
            *(section.pool.overrides("data.train", self.settings.scale * run.share) if method.pool else []),
            *method.overrides,
            *([] if run.seed is None else [f"train.seed={run.seed}"]),
        ]
        self._train_once(load_config(method.config, overrides), folder, "pretrain")
        return folder / CHECKPOINTS / LAST

    def finetune(self, run: Finetuning) -> dict:
        folder = run.folder(self.settings.out)
        config = self._finetune_config(run, folder)
        cached = self._train_once(config, folder, "finetune")
        if cached is not None:
            return cached
        result = {"seconds": self._last_seconds, **score(folder, run, self.study, self.real_available)}
        write_atomically(folder / RESULT, json.dumps(result, indent=2))
        return result

    def _finetune_config(self, run: Finetuning, folder: Path) -> ExperimentConfig:
        pretrained = self.pretrain(run.pretraining) if run.pretraining else None
        common = [
            f"name=finetune-{run.arm}-{run.method}@{run.share:g}-labels{run.label_fraction:g}-seed{run.seed}",
            f"train.output_dir={folder}",
            "train.keep_checkpoints=1",
            f"train.seed={run.seed}",
            f"train.device={self.settings.device}",
            f"pretrained.path={pretrained if pretrained else 'null'}",
            # The labelled sets are small (2-200 frames) and drawn thousands of times: one process keeps every
            # frame it read (`SimulatedDataset`), where loader workers would remake them every epoch.
            "train.num_workers=0",
            *(self.study.pretrain.methods[run.method].finetune_overrides if run.pretraining else []),
        ]
        if run.arm == REAL_ARM:
            few = self.study.real_few_label
            steps = max(1, round(few.steps * self.settings.scale))
            schedule = [f"train.max_steps={steps}", f"train.eval_every={steps}", f"train.ckpt_every={steps}"]
            return load_config(few.config, [*common, *schedule, *few.overrides])
        finetune, arm = self.study.finetune, self.study.arm(run.arm)
        steps = max(1, round(finetune.steps[run.label_fraction] * self.settings.scale))
        every = max(1, steps // finetune.evaluations)
        overrides = [
            *common,
            f"train.max_steps={steps}",
            f"train.eval_every={every}",
            f"train.ckpt_every={every}",
            f"train.best_metric={METRIC}",
            *finetune.pool.overrides("data.train"),  # never scaled: its size is what "1 % of the labels" means
            f"data.train.label_fraction={run.label_fraction}",
            "data.train.subset_seed=0",  # the same labelled frames for every seed and method
            *finetune.dev.overrides("data.val"),
            *arm.overrides,
        ]
        return load_config(finetune.config, overrides)

    def _train_once(self, config: ExperimentConfig, folder: Path, stage: str) -> dict | None:
        """Train unless finished (then its cached result); refuse a folder holding a run of another config or
        trained on another simulator version."""
        recorded, provenance = folder / "config.yaml", folder / PROVENANCE
        if recorded.is_file():
            if differences := config_differences(recorded.read_text(), config):
                raise SpotInputError(
                    f"{folder} holds a run of another config than the study asks for now ({'; '.join(differences)}; "
                    "was the study config changed?): remove that folder or pass another --out"
                )
            version = json.loads(provenance.read_text())["simulator_version"] if provenance.is_file() else 1
            if version != SIMULATOR_VERSION:
                raise SpotInputError(
                    f"{folder} was trained on simulator version {version}, this spot simulates version "
                    f"{SIMULATOR_VERSION}: pass another --out (or remove the old runs)"
                )
        else:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(provenance, json.dumps({"simulator_version": SIMULATOR_VERSION}))
        result_file = folder / RESULT
        if result_file.is_file():
            return json.loads(result_file.read_text())
        start = time.perf_counter()
        train(config, stage=stage, resume=(folder / CHECKPOINTS / LAST).exists())
        self._last_seconds = time.perf_counter() - start
        if stage == "pretrain":
            steps = max((r["step"] for r in read_metrics(folder / METRICS_FILE)), default=0)
            write_atomically(result_file, json.dumps({"seconds": self._last_seconds, "steps": steps}, indent=2))
        else:
            self.trained_seconds.append(self._last_seconds)
        return None


def score(folder: Path, run: Finetuning, study: StudyConfig, real_available: bool) -> dict:
    """The run's dev curve, its selected checkpoint and that checkpoint's test (and real-scan) metrics."""
    records = [r for r in read_metrics(folder / METRICS_FILE) if r["split"] == "val"]
    curve = [[r["step"], r[METRIC]] for r in records]
    if run.arm == REAL_ARM:  # no dev split: the fixed schedule's last evaluation, on the held-out real scan
        return {"curve": curve, "best_step": records[-1]["step"], "test": None, "real": records[-1]}
    best = folder / CHECKPOINTS / BEST
    test = evaluate(best, overrides=tuple(study.finetune.test.overrides("data.val")), pictures=False)
    real = evaluate(best, val_data=Path(study.finetune.real), pictures=False) if real_available else None
    best_step = int(best.resolve().name.removeprefix("step_"))
    dev = next(r[METRIC] for r in records if r["step"] == best_step)
    return {"curve": curve, "best_step": best_step, "dev": dev, "test": test, "real": real}


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Environment variables set for the block (and the processes it starts), restored after it."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _share_cores(jobs: int) -> None:
    """A study worker's torch threads: its share of the cores, unless OMP_NUM_THREADS says otherwise. Its own
    processes (data loader workers) start the platform's default way again, not by spawn as it was started."""
    import torch

    multiprocessing.set_start_method(None, force=True)
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))


def _headline(result: dict) -> str:
    scores = result.get("test") or result.get("real") or {}
    return f"{100 * scores[METRIC]:.1f}" if METRIC in scores else "n/a"


def describe(run: Finetuning) -> str:
    share = f" (pre-trained on {run.share:g}x the pool's sequences)" if run.own_pretraining else ""
    labels = "" if run.arm == REAL_ARM else f", {100 * run.label_fraction:g} % labels"
    return f"{run.arm}, {run.method}{share}{labels}, seed {run.seed}"
