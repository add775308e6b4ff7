"""CLAP's prototypes: Sinkhorn against a plain reference, the swap / EM / Gram losses, the usage statistics."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spot.trainer.objectives.clap.prototypes import (
    PrototypeConfig,
    Prototypes,
    gram_loss,
    prototype_em_loss,
    prototype_histogram,
    prototype_usage,
    sinkhorn,
    swapped_prediction_loss,
)


def reference_sinkhorn(scores: np.ndarray, epsilon: float, iterations: int) -> np.ndarray:
    """SwAV's algorithm written out in float64 loops: Q = exp(S / eps)^T (K x B), total 1, then per round
    every row (prototype) to 1/K and every column (sample) to 1/B; B Q^T."""
    q = np.exp(scores / epsilon).T
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        for row in range(k):
            q[row] = q[row] / q[row].sum() / k
        for col in range(b):
            q[:, col] = q[:, col] / q[:, col].sum() / b
    return (q * b).T


@pytest.mark.parametrize("iterations", [1, 3, 10])
def test_sinkhorn_matches_the_reference(iterations):
    rng = np.random.default_rng(iterations)
    z = rng.normal(size=(64, 16))
    c = rng.normal(size=(24, 16))
    scores = (z / np.linalg.norm(z, axis=1, keepdims=True)) @ (c / np.linalg.norm(c, axis=1, keepdims=True)).T
    ours = sinkhorn(torch.from_numpy(scores), 0.05, iterations).numpy()
    assert np.abs(ours - reference_sinkhorn(scores, 0.05, iterations)).max() < 1e-6
    assert np.abs(ours.sum(1) - 1).max() < 1e-5  # each sample's code is a distribution


def test_sinkhorn_equipartitions_the_batch():
    torch.manual_seed(0)
    scores = F.normalize(torch.randn(96, 8), dim=1) @ F.normalize(torch.randn(12, 8), dim=1).t()
    codes = sinkhorn(scores, 0.05, 50)
    assert (codes.sum(0) - 96 / 12).abs().max() < 1e-4  # every prototype gets B / K of the mass


def test_swapped_prediction_loss_by_hand():
    scores_a = torch.tensor([[0.2, -0.1, 0.5], [0.0, 0.3, -0.4]])
    scores_b = torch.tensor([[0.1, 0.1, 0.1], [-0.2, 0.4, 0.0]])
    codes_a = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    codes_b = torch.tensor([[0.3, 0.3, 0.4], [0.0, 1.0, 0.0]])
    t = 0.1

    def cross_entropy(code, score):
        logits = [s / t for s in score]
        log_norm = math.log(sum(math.exp(v) for v in logits))
        return -sum(q * (v - log_norm) for q, v in zip(code, logits, strict=True))

    a, b, qa, qb = (x.tolist() for x in (scores_a, scores_b, codes_a, codes_b))
    expected = 0.5 * sum(cross_entropy(qb[i], a[i]) + cross_entropy(qa[i], b[i]) for i in range(2)) / 2
    assert swapped_prediction_loss(scores_a, scores_b, codes_a, codes_b, t).item() == pytest.approx(expected, abs=1e-5)


def test_gram_loss_is_zero_for_orthonormal_prototypes_and_positive_for_repeated_ones():
    orthonormal = torch.linalg.qr(torch.randn(32, 16, dtype=torch.float64)).Q.t()  # 16 orthonormal rows in R^32
    assert gram_loss(orthonormal).item() < 1e-12
    repeated = torch.cat([orthonormal[:8], orthonormal[:8]])
    assert gram_loss(repeated).item() > 0.05


def test_em_step_moves_only_the_prototypes():
    z = F.normalize(torch.randn(10, 4), dim=1).requires_grad_(True)
    c = F.normalize(torch.randn(5, 4), dim=1).requires_grad_(True)
    codes = sinkhorn(z.detach() @ c.detach().t())
    prototype_em_loss(z, codes, c).backward()
    assert z.grad is None and c.grad.abs().sum() > 0


def test_swap_under_em_gives_the_prototypes_no_gradient_and_the_codes_none():
    torch.manual_seed(0)
    prototypes = Prototypes(PrototypeConfig(num=8, dim=4, gram_weight=0.0, em_weight=0.0))
    z_a = F.normalize(torch.randn(16, 4), dim=1).requires_grad_(True)
    z_b = F.normalize(torch.randn(16, 4), dim=1).requires_grad_(True)
    prototypes(z_a, z_b).terms["loss"].backward()
    assert z_a.grad.abs().sum() > 0 and z_b.grad.abs().sum() > 0
    assert prototypes.weight.grad is None or prototypes.weight.grad.abs().sum() == 0


def test_usage_counts_nearest_prototypes_and_their_entropy():
    scores = torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.8, 0.0, 0.1, 0.0], [0.0, 0.0, 0.9, 0.1]])
    histogram = prototype_histogram(scores)
    assert histogram.tolist() == [2, 0, 1, 0]
    used, entropy = prototype_usage(histogram)
    assert used == 2 and entropy == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))


def test_a_step_without_shared_points_logs_the_same_keys_as_zeros():
    prototypes = Prototypes(PrototypeConfig(num=8, dim=4))
    full = prototypes(F.normalize(torch.randn(6, 4), dim=1), F.normalize(torch.randn(6, 4), dim=1)).terms
    empty = prototypes(torch.zeros(0, 4), torch.zeros(0, 4)).terms
    assert empty.keys() == full.keys() and all(value.item() == 0 for value in empty.values())
