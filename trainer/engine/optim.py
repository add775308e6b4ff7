"""AdamW and the learning-rate schedules, stepped once per optimizer step.

The schedules are `LambdaLR` factors written as small frozen dataclasses, so a scheduler's state dict holds
plain numbers (loadable with `torch.load(weights_only=True)`) and a resumed run continues on the same curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from ..config import OptimConfig, ScheduleConfig, ScheduleName


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; 0-/1-D ones (biases, norms) without weight decay unless asked."""
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    decayed = [p for _, p in trainable if config.decay_norm_and_bias or p.ndim > 1]
    plain = [p for _, p in trainable if not (config.decay_norm_and_bias or p.ndim > 1)]
    groups = [{"params": decayed, "weight_decay": config.weight_decay}]
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps)


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warm-up from `start_ratio` to 1 over `warmup_steps`, then half a cosine down to `min_ratio`."""

    total_steps: int
    warmup_steps: int
    start_ratio: float
    min_ratio: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.start_ratio + (1.0 - self.start_ratio) * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class OneCycle:
    """`torch.optim.lr_scheduler.OneCycleLR`'s learning rate (cosine, two phases) as a factor of the peak lr.

    Momentum is not cycled: AdamW's betas stay as configured.
    """

    total_steps: int
    pct_start: float
    div_factor: float
    final_div_factor: float

    def __call__(self, step: int) -> float:
        start, peak = 1.0 / self.div_factor, 1.0
        end = start / self.final_div_factor
        rise_end = float(self.pct_start * self.total_steps) - 1
        fall_end = float(self.total_steps - 1)
        if step <= rise_end and rise_end > 0:
            return _cosine_between(start, peak, step / rise_end)
        return _cosine_between(peak, end, min(1.0, (step - rise_end) / max(1.0, fall_end - rise_end)))


def _cosine_between(start: float, end: float, progress: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * progress) + 1)


def build_scheduler(optimizer: torch.optim.Optimizer, config: ScheduleConfig, total_steps: int) -> LambdaLR:
    """The configured schedule over `total_steps` optimizer steps."""
    if config.name == ScheduleName.cosine:
        warmup = round(config.warmup_fraction * total_steps)
        factor = WarmupCosine(total_steps, warmup, config.warmup_start_ratio, config.min_lr_ratio)
    else:
        factor = OneCycle(total_steps, config.pct_start, config.div_factor, config.final_div_factor)
    return LambdaLR(optimizer, factor)
