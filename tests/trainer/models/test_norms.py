"""PDNorm: domains never touch each other's statistics or parameters, and each folds into one plain BatchNorm."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from spot.runtime.errors import SpotInputError
from spot.trainer.config import OptimConfig
from spot.trainer.engine.optim import build_optimizer
from spot.trainer.models.backbones import SparseBEVEncoder, SparseBEVEncoderConfig, SparseUNet, SparseUNetConfig
from spot.trainer.models.norms import DomainNorm, NormConfig, fold_domain_state, select_domain
from spot.trainer.sparse import SparseTensor

from ..sparse.grids import random_coords

SHAPE = (12, 16, 16)
DECOUPLED, ADAPTIVE = NormConfig(decouple=True), NormConfig(decouple=True, adaptive=True)


def voxels(domain: int | None, seed: int = 0, shape=SHAPE) -> SparseTensor:
    coords = torch.from_numpy(random_coords(np.random.default_rng(seed), shape, batch_size=2, density=0.1))
    torch.manual_seed(seed)
    return SparseTensor(torch.randn(len(coords), 4) * 3 + 1, coords, shape, batch_size=2, domain=domain)


def domain_state(model: torch.nn.Module, domain: int) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()
            if f"domain_norms.{domain}." in k or k.endswith(f"domain_modulation.{domain}")}  # fmt: skip


def unet(norm: NormConfig, domains: int = 2) -> SparseUNet:
    torch.manual_seed(0)
    return SparseUNet(SparseUNetConfig(channels=(8, 16), encoder_blocks=1, norm=norm), domains)


@pytest.mark.parametrize("norm", [DECOUPLED, ADAPTIVE])
def test_a_step_on_domain_a_leaves_domain_b_bit_identical(norm):
    model = unet(norm)
    optimizer = build_optimizer(model, OptimConfig(lr=1e-2, weight_decay=0.05, decay_norm_and_bias=True))
    for domain in (1, 0):  # domain B trains first, so its AdamW moments are non-zero when domain A steps
        optimizer.zero_grad(set_to_none=True)
        model(voxels(domain, seed=domain)).features.square().mean().backward()
        optimizer.step()
    before_b, before_a = domain_state(model, 1), domain_state(model, 0)
    assert len(before_b) == 6 * (5 + norm.adaptive)  # 6 norms: weight, bias, mean, var, count (+ modulation)
    optimizer.zero_grad(set_to_none=True)
    model(voxels(0, seed=5)).features.square().mean().backward()
    optimizer.step()
    after_b, after_a = domain_state(model, 1), domain_state(model, 0)
    assert all(torch.equal(before_b[k], after_b[k]) for k in before_b)
    changed = [k for k in before_a if not torch.equal(before_a[k], after_a[k])]
    assert len(changed) == len(before_a)  # domain A's statistics, count, gamma, beta (and modulation) all moved


def test_adaptive_starts_as_the_plain_norm_and_needs_a_domain():
    plain, adaptive = unet(NormConfig(), 0), unet(ADAPTIVE)
    adaptive.load_state_dict(fold_domain_state(adaptive.state_dict(), 0) | plain.state_dict(), strict=False)
    x = voxels(1)
    assert torch.equal(adaptive(x).features, plain(x).features)  # zero-init modulation: exactly plain BN
    with pytest.raises(SpotInputError, match="PDNorm needs the batch's domain"):
        adaptive(voxels(None))


@pytest.mark.parametrize("norm", [DECOUPLED, ADAPTIVE, NormConfig(adaptive=True)])
def test_folded_domain_equals_pdnorm(norm):
    model = unet(norm, domains=3)
    for domain in range(3):  # give every domain its own statistics and parameters
        model(voxels(domain, seed=domain))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    model.eval()
    for domain in range(3):
        folded = select_domain(copy.deepcopy(model), domain)
        assert not any(isinstance(m, DomainNorm) for m in folded.modules())
        x = voxels(domain, seed=7)
        expected, got = model(x).features, folded(voxels(None, seed=7)).features
        assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()
        plain = SparseUNet(SparseUNetConfig(channels=(8, 16), encoder_blocks=1))
        plain.load_state_dict(fold_domain_state(model.state_dict(), domain))  # the saved-weights path, strict
        assert torch.equal(plain.eval()(voxels(None, seed=7)).features, got)


def test_bev_encoder_norms_are_domain_conditioned_too():
    shape = (9, 32, 32)
    model = SparseBEVEncoder(SparseBEVEncoderConfig(channels=(8, 16), blocks=(1, 1), out_channels=8,
                                                    norm=DECOUPLED), 2)  # fmt: skip
    norms = [m for m in model.modules() if isinstance(m, DomainNorm)]
    assert len(norms) == 3 and all(len(n.domain_norms) == 2 for n in norms)
    model.eval()
    expected = model(voxels(1, shape=shape))["bev"]
    assert torch.allclose(select_domain(model, 1)(voxels(None, shape=shape))["bev"], expected, atol=1e-5)


def test_momentum_reaches_every_norm_and_survives_folding():
    model = unet(NormConfig(decouple=True, momentum=0.1))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 12 and {n.momentum for n in norms} == {0.1}
    assert {m.momentum for m in select_domain(model, 1).modules() if isinstance(m, torch.nn.BatchNorm1d)} == {0.1}
    plain = unet(NormConfig(), 0)
    assert {m.momentum for m in plain.modules() if isinstance(m, torch.nn.BatchNorm1d)} == {0.01}
