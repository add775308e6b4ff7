"""Normalisation of the sparse backbones: plain BatchNorm, or PPT's prompt-driven normalisation (PDNorm).

PDNorm conditions every norm of the network on the batch's domain (`SparseTensor.domain`; one domain per batch):
- `decouple`: one BatchNorm1d per domain, each with its own running statistics and its own gamma / beta, so
  the statistics of one sensor never mix with another's (PPT's outdoor setting).
- `adaptive`: the normalised features are modulated per domain, `y * (1 + scale_d) + shift_d`, from a learned
  (2C,) vector per domain that starts at zero (PDNorm equals the plain norm at initialisation).

Pointcept computes (scale, shift) = Linear(SiLU(context_d)) from a shared learned context embedding; with a finite
set of domains that is one (2C,) vector per domain and norm, learned here directly (same function class, no
shared low-rank factor). One parameter per domain, so a step on domain A leaves every parameter of domain B
without a gradient, and AdamW leaves it exactly as it was. Both kinds fold, for a chosen domain, into one plain
BatchNorm1d (`fold_domain_state`), which export then folds into the convolution before it: a deployed model has
no domain left in its graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from spot.runtime.errors import SpotInputError
from spot.trainer.sparse import SparseModule, SparseTensor

from ..schema import Invalid, bounded

BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # OpenPCDet's and Pointcept's sparse-backbone BatchNorm
_NORM_KEY = re.compile(r"^(?P<prefix>.*)\.domain_norms\.(?P<index>\d+)\.(?P<name>\w+)$")
_MODULATION_KEY = re.compile(r"^.*\.domain_modulation\.\d+$")


@dataclass(frozen=True)
class NormConfig:
    """Plain BatchNorm by default; `decouple` / `adaptive` make every norm a PDNorm over the data's domains."""

    decouple: bool = False  # one BatchNorm (statistics and affine) per domain
    adaptive: bool = False  # a learned per-domain scale and shift after the norm, zero at initialisation
    # running-statistics momentum: OpenPCDet's / Pointcept's 0.01 needs a few hundred updates (per domain, when
    # decoupled) to forget its initial statistics; short runs want more
    momentum: float = bounded(BN_MOMENTUM, gt=0, le=1)

    @property
    def conditioned(self) -> bool:
        return self.decouple or self.adaptive

    def check_domains(self, experiment, key: str) -> None:
        """A domain-conditioned norm needs a training set of several domains (`data.train.name: multi_domain`)."""
        from ..data.multi_domain import experiment_domains

        if self.conditioned and not experiment_domains(experiment):
            raise Invalid(f"{key}.norm", "PDNorm (decouple / adaptive) needs domains: set data.train.name: "
                                         "multi_domain with a list of domains", "decouple / adaptive")  # fmt: skip


class DomainNorm(SparseModule):
    """PDNorm on a `SparseTensor`'s (V, C) features, for the tensor's `domain`."""

    def __init__(self, channels: int, num_domains: int, decouple: bool, adaptive: bool, momentum: float = BN_MOMENTUM):
        super().__init__()
        count = num_domains if decouple else 1
        self.domain_norms = nn.ModuleList(nn.BatchNorm1d(channels, eps=BN_EPS, momentum=momentum) for _ in range(count))
        self.domain_modulation = (
            nn.ParameterList(torch.zeros(2 * channels) for _ in range(num_domains)) if adaptive else None
        )
        self.num_domains, self.decouple = num_domains, decouple

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.domain is None or not 0 <= x.domain < self.num_domains:
            raise SpotInputError(f"PDNorm needs the batch's domain (0 to {self.num_domains - 1}), got {x.domain!r}")
        y = self.domain_norms[x.domain if self.decouple else 0](x.features)
        if self.domain_modulation is not None:
            scale, shift = self.domain_modulation[x.domain].chunk(2)
            y = y * (1 + scale) + shift
        return x.replace_features(y)

    def folded(self, domain: int) -> nn.BatchNorm1d:
        """The plain BatchNorm1d that computes this norm for `domain` in eval mode."""
        state = fold_domain_state({f"norm.{key}": value for key, value in self.state_dict().items()}, domain)
        if not 0 <= domain < self.num_domains:
            raise SpotInputError(f"domain {domain} out of range: this norm has {self.num_domains} domains")
        norm = nn.BatchNorm1d(len(state["norm.weight"]), eps=BN_EPS, momentum=self.domain_norms[0].momentum)
        norm.load_state_dict({key.removeprefix("norm."): value for key, value in state.items()})
        return norm.to(state["norm.weight"].device).train(self.training)


def norm_layer(config: NormConfig, num_domains: int) -> Callable[[int], nn.Module]:
    """channels -> the norm module each convolution of a backbone is followed by."""
    if not config.conditioned:
        return lambda channels: nn.BatchNorm1d(channels, eps=BN_EPS, momentum=config.momentum)
    if num_domains < 1:
        raise SpotInputError("PDNorm needs the data's domains; the experiment declares none")
    return lambda channels: DomainNorm(channels, num_domains, config.decouple, config.adaptive, config.momentum)


def fold_domain_state(state: Mapping[str, torch.Tensor], domain: int) -> dict[str, torch.Tensor]:
    """A state dict with every PDNorm replaced by the plain BatchNorm of `domain` (its own statistics, gamma and
    beta, the modulation folded in: gamma' = gamma (1 + s), beta' = beta (1 + s) + t); other keys unchanged.

    Works on saved weights alone, so a PPT checkpoint loads into an ordinary model (`pretrained.domain`)."""
    groups: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    folded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _NORM_KEY.match(key)
        if match:
            groups.setdefault(match["prefix"], {}).setdefault(int(match["index"]), {})[match["name"]] = value
        elif not _MODULATION_KEY.match(key):
            folded[key] = value
    for prefix, norms in groups.items():
        own = norms[domain if len(norms) > 1 else 0]
        modulation = state.get(f"{prefix}.domain_modulation.{domain}")
        weight, bias = own["weight"], own["bias"]
        if modulation is not None:
            scale, shift = modulation.chunk(2)
            weight, bias = weight * (1 + scale), bias * (1 + scale) + shift
        folded.update({f"{prefix}.{name}": value for name, value in own.items()})
        folded[f"{prefix}.weight"], folded[f"{prefix}.bias"] = weight.detach().clone(), bias.detach().clone()
    return folded


def select_domain(model: nn.Module, domain: int) -> nn.Module:
    """`model` with every `DomainNorm` replaced, in place, by its plain BatchNorm1d for `domain`."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, DomainNorm):
                setattr(parent, name, child.folded(domain))
    return model


def has_domain_norms(state: Mapping[str, torch.Tensor]) -> bool:
    return any(_NORM_KEY.match(key) for key in state)
