"""The study config (configs/study/*.yaml): methods, fine-tuning arms, data scaling and the claims to test.

A pre-training method is a pre-training config plus overrides, so a new method (PPT, CLAP) is one entry under
`pretrain.methods`; `scratch` (no pre-training) is built in. Every fine-tuning run of every arm uses the same
fine-tuning config, schedule and held-out splits; an arm only changes what its `overrides` say (a sensor).
Mistakes are one `SpotConfigError` line naming the key, as for experiment configs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml

from ..config import SpotConfigError, validate_section
from ..schema import Invalid, bounded, check_section

SCRATCH = "scratch"


class Score(StrEnum):
    test = "test"  # the held-out simulated test split
    real = "real"  # the real scans of `finetune.real`


@dataclass
class SimPool:
    """Simulated sequences first_seed, first_seed + 1, ... of `frames` frames each."""

    first_seed: int = bounded(0, ge=0)
    sequences: int = bounded(1, ge=1)
    frames: int = bounded(8, ge=1)

    def seeds(self, scale: float = 1.0) -> list[int]:
        return list(range(self.first_seed, self.first_seed + max(1, round(self.sequences * scale))))

    def overrides(self, section: str, scale: float = 1.0) -> list[str]:
        return [f"{section}.seeds={self.seeds(scale)}".replace(" ", ""), f"{section}.frames={self.frames}"]


@dataclass
class Method:
    config: str = "???"  # a pre-training config (configs/pretrain/...)
    overrides: list[str] = field(default_factory=list)  # key=value on top of it (beam re-sampling off, ...)
    # False: the method trains on its config's own data, not on the study's pool (PPT: several labelled
    # datasets at once); it then has no shares, so it cannot be the scaling method
    pool: bool = True
    finetune_overrides: list[str] = field(default_factory=list)  # on its fine-tuning runs (PPT: which domain)
    # fine-tuned at these label fractions only (an ablation: the headline fraction); None: every arm's fractions
    label_fractions: list[float] | None = bounded(None, gt=0, le=1, min_length=1)


@dataclass
class PretrainSection:
    """Pre-training runs a fixed number of epochs: a larger share of the pool trains proportionally more steps."""

    epochs: int = bounded(4, ge=1)
    pool: SimPool = field(default_factory=SimPool)  # --scale K multiplies its sequences
    methods: dict[str, Method] = field(default_factory=dict)


@dataclass
class FinetuneSection:
    """One schedule for every method: `steps` per label fraction (fewer labels plateau sooner), times --scale."""

    config: str = "???"  # a segmentation fine-tuning config (configs/finetune/...)
    steps: dict[float, int] = field(default_factory=dict)  # label fraction -> optimizer steps
    evaluations: int = bounded(10, ge=1)  # dev evaluations per run: the learning curve and model selection
    pool: SimPool = field(default_factory=SimPool)  # the labelled pool: label fractions are shares of it
    dev: SimPool = field(default_factory=SimPool)  # model selection (the checkpoint with the best dev mIoU)
    test: SimPool = field(default_factory=SimPool)  # reported
    real: str | None = None  # a data config whose `data.val` holds real scans; skipped when its root is absent


@dataclass
class Arm:
    """A fine-tuning target: the shared protocol plus `overrides` (e.g. another sensor), for some methods."""

    name: str = "???"
    overrides: list[str] = field(default_factory=list)
    label_fractions: list[float] = bounded(default_factory=lambda: [0.01, 0.1, 1.0], gt=0, le=1, min_length=1)
    methods: list[str] | None = None  # default: scratch and every pre-training method


@dataclass
class Scaling:
    """Data scaling: `method` pre-trained on shares of the pool's sequences (fixed epochs), fine-tuned on `arm`.

    A share counts whole sequences (scenes), not frames: the frames of one drive share its street, so a random
    quarter of the frames still shows nearly every scene. A share above 1 simulates the sequences after the pool's."""

    method: str = "???"
    shares: list[float] = bounded(default_factory=lambda: [0.25, 0.5, 1.0], gt=0, min_length=2)  # increasing
    arm: str = "???"
    label_fraction: float = bounded(0.01, gt=0, le=1)
    # Fine-tuning seeds of the scaling runs (default: the study's). A step of the table (2x the data) moves the
    # score less than a method against scratch does, so the arm may need more seeds to resolve it; the main
    # tables and claims keep the study's seeds.
    seeds: list[int] | None = bounded(default=None, ge=0, min_length=2)


@dataclass
class RealFewLabel:
    """Fine-tune on real labelled scans and evaluate on others (`config` says which); no dev split exists, so
    the last checkpoint of the fixed schedule is scored."""

    config: str = "???"  # a fine-tuning config on real scans; skipped when its data root is absent
    steps: int = bounded(100, ge=1)
    overrides: list[str] = field(default_factory=list)
    methods: list[str] | None = None


@dataclass
class Claim:
    """`method` beats `baseline` (paired over seeds) on `arm` at `label_fraction` (by `min_gain` mIoU points);
    `two_sided`: report the effect whatever its sign. `score`: what is compared (the test split or the real scans)."""

    name: str = "???"
    method: str = "???"
    baseline: str = SCRATCH
    arm: str = "???"
    label_fraction: float = bounded(0.01, gt=0, le=1)
    min_gain: float = bounded(0.0, ge=0)
    two_sided: bool = False
    score: Score = Score.test


@dataclass
class Budget:
    """The wall time the study should fit in on a machine of `cores` cores, at --scale 1 (the CPU-sized run); the
    report says how far its training time is from it, and where that time goes."""

    minutes: float = bounded(150.0, gt=0)
    cores: int = bounded(2, ge=1)


@dataclass
class StudyConfig:
    name: str = "???"
    seeds: list[int] = bounded(default_factory=lambda: [0, 1, 2], ge=0, min_length=1)  # fine-tuning seeds
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    finetune: FinetuneSection = field(default_factory=FinetuneSection)
    arms: list[Arm] = field(default_factory=list)
    scaling: Scaling | None = None
    real_few_label: RealFewLabel | None = None
    claims: list[Claim] = field(default_factory=list)
    budget: Budget | None = None

    @property
    def method_names(self) -> list[str]:
        return [SCRATCH, *self.pretrain.methods]

    @property
    def scaling_seeds(self) -> list[int]:
        """The data-scaling runs' fine-tuning seeds (its own, else the study's)."""
        return self.seeds if self.scaling is None or self.scaling.seeds is None else self.scaling.seeds

    def arm(self, name: str) -> Arm:
        return next(arm for arm in self.arms if arm.name == name)

    def arm_methods(self, arm: Arm) -> list[str]:
        return self.method_names if arm.methods is None else arm.methods

    def fine_tunes(self, method: str, fraction: float) -> bool:
        """Whether `method` is fine-tuned at label fraction `fraction` (in the arms that list the fraction)."""
        fractions = None if method == SCRATCH else self.pretrain.methods[method].label_fractions
        return fractions is None or fraction in fractions

    def check(self) -> None:
        for key, items in (("arms", self.arms), ("claims", self.claims)):
            for i, item in enumerate(items):  # list items: their bounds are not reached by check_section
                try:
                    check_section(item)
                except Invalid as error:
                    raise Invalid(f"{key}[{i}].{error.key}", error.message, error.value) from error
        if SCRATCH in self.pretrain.methods:
            raise Invalid("pretrain.methods", f"{SCRATCH!r} is built in (no pre-training): remove it", SCRATCH)
        if not self.arms:
            raise Invalid("arms", "expected at least one fine-tuning arm")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise Invalid("arms", "expected distinct arm names", names)
        for i, arm in enumerate(self.arms):
            self._known_methods(f"arms[{i}].methods", arm.methods)
            for fraction in arm.label_fractions:
                if fraction not in self.finetune.steps:
                    raise Invalid(f"arms[{i}].label_fractions", "has no entry in finetune.steps", fraction)
        if self.real_few_label is not None:
            self._known_methods("real_few_label.methods", self.real_few_label.methods)
        if self.scaling is not None:
            self._known_methods("scaling.method", [self.scaling.method], allow_scratch=False)
            if not self.pretrain.methods[self.scaling.method].pool:
                raise Invalid("scaling.method", "trains on its own data (pool: false): it has no shares of the "
                                                "pool to scale", self.scaling.method)  # fmt: skip
            self._known_arm("scaling.arm", self.scaling.arm, self.scaling.label_fraction)
            shares, sequences = self.scaling.shares, self.pretrain.pool.sequences
            if any(larger <= smaller for smaller, larger in itertools.pairwise(shares)):
                raise Invalid("scaling.shares", "expected increasing shares", shares)
            for share in shares:
                if abs(share * sequences - round(share * sequences)) > 1e-9:
                    raise Invalid("scaling.shares", f"expected whole numbers of the pool's {sequences} sequences; "
                                                    f"{share:g} x {sequences} is not", share)  # fmt: skip
        for name, method in self.pretrain.methods.items():
            for fraction in method.label_fractions or ():
                if fraction not in self.finetune.steps:
                    raise Invalid(f"pretrain.methods.{name}.label_fractions", "has no entry in finetune.steps",
                                  fraction)  # fmt: skip
        for i, claim in enumerate(self.claims):
            self._known_methods(f"claims[{i}]", [claim.method, claim.baseline])
            self._known_arm(f"claims[{i}].arm", claim.arm, claim.label_fraction)
            for method in (claim.method, claim.baseline):
                if not self.fine_tunes(method, claim.label_fraction):
                    message = f"{method!r} is not fine-tuned at this fraction (its label_fractions)"
                    raise Invalid(f"claims[{i}].label_fraction", message, claim.label_fraction)

    def _known_methods(self, key: str, methods: list[str] | None, allow_scratch: bool = True) -> None:
        known = self.method_names if allow_scratch else list(self.pretrain.methods)
        for method in methods or ():
            if method not in known:
                raise Invalid(key, f"is not a method of pretrain.methods ({', '.join(known)})", method)

    def _known_arm(self, key: str, name: str, fraction: float) -> None:
        if name not in [arm.name for arm in self.arms]:
            raise Invalid(key, f"is not an arm ({', '.join(arm.name for arm in self.arms)})", name)
        if fraction not in self.arm(name).label_fractions:
            raise Invalid(key, f"arm {name!r} does not fine-tune at label fraction {fraction:g}", name)


def load_study(path: Path) -> StudyConfig:
    if not Path(path).is_file():
        raise SpotConfigError("study config not found", source=path)
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        raise SpotConfigError(f"not valid YAML: {str(error).splitlines()[0]}", source=path) from error
    if not isinstance(values, dict):
        raise SpotConfigError("expected a mapping of sections at the top", source=path)
    return validate_section(values, StudyConfig, "study", source=path)
