"""CLAP's learnable prototypes: Sinkhorn codes, swapped prediction, the EM-style prototype step, the Gram term.

Two embeddings of the same 3D point (LiDAR and camera, or two masked views of one scan) are assigned soft codes
over K learnable unit vectors ("prototypes") by Sinkhorn-Knopp, which spreads every batch evenly over the
prototypes; each embedding is then trained to predict the *other* one's code (SwAV's swapped prediction).

Which parts are whose:
- `sinkhorn`: SwAV's `distributed_sinkhorn` (facebookresearch/swav, `main_swav.py`), the same algorithm: scores
  -> exp(S / epsilon), normalised to sum 1, then `iterations` rounds of "every prototype gets 1/K of the mass,
  every sample 1/B", returned as B x (K-vector summing to 1). Over ranks when torch.distributed runs.
- `swapped_prediction_loss`: SwAV's loss (cross-entropy of the softmax of scores / temperature against the other
  view's code), with the prototypes detached under the EM update (see below).
- `prototype_em_loss` and `gram_loss`: **reconstructed**. CLAP's abstract says prototypes are learned by "an EM
  scheme that maximises embedding-prototype similarity, followed by a Gram-matrix regularisation loss"; its
  equations were not available. Here the E-step is the (no-grad) Sinkhorn code, the M-step maximises
  (1/B) sum_i sum_k q_ik <z_i, c_k> over the prototypes only (embeddings detached), and the Gram term is
  ||C C^T - I||_F^2 / K^2, zero for orthonormal prototypes, pushing them apart.
- `prototype_usage`: the collapse metric (how many prototypes are some embedding's nearest one, and the entropy
  of that histogram); read from the scores' argmax, not from the Sinkhorn codes, which are equipartitioned by
  construction and so cannot show a collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ...schema import bounded


@dataclass
class PrototypeConfig:
    """enabled: false is the rendering-only baseline (no prototypes, no swap). num: K (CLAP: 512 per secondary
    notes; CPU-sized default 128); dim: embedding width (not published: reconstructed); temperature, epsilon,
    sinkhorn_iterations: SwAV's defaults (0.1, 0.05, 3; CLAP's own values unknown); freeze_steps: prototypes
    fixed for the first steps (SwAV's `freeze_prototypes_niters`); em: learn the prototypes by the EM step
    (CLAP) instead of through the swap loss (SwAV); gram_weight: the anti-collapse term's weight."""

    enabled: bool = True
    num: int = bounded(128, ge=2)
    dim: int = bounded(64, ge=2)
    head_hidden: int = bounded(64, ge=1)  # SwAV's projection heads g_L, g_I (their width here: reconstructed)
    temperature: float = bounded(0.1, gt=0)
    epsilon: float = bounded(0.05, gt=0)
    sinkhorn_iterations: int = bounded(3, ge=1)
    freeze_steps: int = bounded(0, ge=0)
    em: bool = True
    swap_weight: float = bounded(1.0, ge=0)
    em_weight: float = bounded(1.0, ge=0)
    gram_weight: float = bounded(1.0, ge=0)


def projection_head(in_channels: int, hidden: int, dim: int) -> nn.Sequential:
    """SwAV's projection head, Linear - BatchNorm - ReLU - Linear (its output is L2-normalised by the caller).
    The BatchNorm centres the features, so the embeddings of a fresh network are spread over the sphere rather
    than bunched along the ReLU features' mean: Sinkhorn's codes of bunched embeddings are near-uniform, and
    predicting uniform codes is a collapsed fixed point."""
    return nn.Sequential(nn.Linear(in_channels, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, dim))  # fmt: skip


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3, over_ranks: bool = True) -> torch.Tensor:
    """(B, K) embedding-prototype scores -> (B, K) codes, each row summing to 1 (SwAV's algorithm).

    Works in float64 (the exponent reaches 1 / epsilon = 20): the equipartition needs the small entries too.
    Under torch.distributed (and `over_ranks`) the mass and row sums are reduced over ranks, so the codes of the
    global batch are equipartitioned, as in SwAV; evaluation, where ranks see different batch counts, codes
    each rank's batch alone.
    """
    distributed = over_ranks and dist.is_available() and dist.is_initialized()
    q = torch.exp((scores.double() - scores.double().max()) / epsilon).t()  # (K, B); a global shift cancels out
    k, local_b = q.shape
    batch = local_b * (dist.get_world_size() if distributed else 1)
    total = q.sum()
    if distributed:
        dist.all_reduce(total)
    q /= total
    for _ in range(iterations):
        prototype_mass = q.sum(dim=1, keepdim=True)
        if distributed:
            dist.all_reduce(prototype_mass)
        q /= prototype_mass * k
        q /= q.sum(dim=0, keepdim=True) * batch
    return (q * batch).t().to(scores.dtype)


def swapped_prediction_loss(
    scores_a: torch.Tensor, scores_b: torch.Tensor, codes_a: torch.Tensor, codes_b: torch.Tensor, temperature: float
) -> torch.Tensor:
    """SwAV's swapped prediction: each view predicts the other's code from its own scores (mean over B, both ways)."""
    log_p_a = F.log_softmax(scores_a / temperature, dim=1)
    log_p_b = F.log_softmax(scores_b / temperature, dim=1)
    return -0.5 * ((codes_b * log_p_a).sum(1).mean() + (codes_a * log_p_b).sum(1).mean())


def prototype_em_loss(embeddings: torch.Tensor, codes: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """M-step (reconstructed): -(1/B) sum_i sum_k q_ik <z_i, c_k>; only the prototypes receive its gradient."""
    return -(codes.detach() * (embeddings.detach() @ prototypes.t())).sum(1).mean()


def gram_loss(prototypes: torch.Tensor) -> torch.Tensor:
    """||C C^T - I||_F^2 / K^2 (reconstructed form): 0 for orthonormal rows, grows as prototypes align."""
    k = prototypes.shape[0]
    gram = prototypes @ prototypes.t()
    return (gram - torch.eye(k, device=gram.device, dtype=gram.dtype)).pow(2).sum() / k**2


def prototype_histogram(scores: torch.Tensor) -> torch.Tensor:
    """(K,) how many embeddings have each prototype as their nearest (additive over batches and ranks)."""
    return torch.bincount(scores.argmax(dim=1), minlength=scores.shape[1]).double()


def prototype_usage(histogram: torch.Tensor) -> tuple[float, float]:
    """(prototypes in use, code entropy in nats) of a nearest-prototype histogram; the entropy is at most log K."""
    total = float(histogram.sum())
    if total == 0:
        return 0.0, 0.0
    share = histogram[histogram > 0] / total
    return float((histogram > 0).sum()), float(-(share * share.log()).sum())


@dataclass(frozen=True)
class Swap:
    """One swapped prediction: `terms` (the loss and the scalars to log), and per point the two embeddings'
    `scores` against the prototypes and their `codes` (B, K) each."""

    terms: dict[str, torch.Tensor]
    scores: tuple[torch.Tensor, torch.Tensor]
    codes: tuple[torch.Tensor, torch.Tensor]


class Prototypes(nn.Module):
    """K learnable prototypes on the unit sphere and the losses that tie two embeddings of a point through them."""

    def __init__(self, config: PrototypeConfig):
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(F.normalize(torch.randn(config.num, config.dim), dim=1))

    @torch.no_grad()
    def renormalize(self) -> None:
        """Back onto the unit sphere, before every step (SwAV does it after each optimiser step)."""
        self.weight.copy_(F.normalize(self.weight, dim=1))

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor, frozen: bool = False) -> Swap:
        """Unit embeddings (B, D) of the same B points in two modalities / views -> losses and statistics.

        `frozen`: the prototypes get no gradient this step (SwAV's first iterations). `code_agreement` is the
        share of points whose two codes (Sinkhorn assignments) pick the same prototype.
        """
        c = self.config
        self.renormalize()
        prototypes = self.weight
        # Under the EM update, the swap loss trains the encoders only; the prototypes follow the M-step.
        swap_prototypes = prototypes.detach() if c.em or frozen else prototypes
        scores_a, scores_b = z_a @ swap_prototypes.t(), z_b @ swap_prototypes.t()
        zero = prototypes.sum() * 0
        if len(z_a) == 0:  # no point seen by both (no camera saw a drawn return): the same keys, all zero
            keys = ("loss", "loss_swap", "loss_em", "loss_gram", "prototypes_used", "code_entropy", "code_agreement")
            return Swap(dict.fromkeys(keys, zero), (scores_a.detach(), scores_b.detach()), (scores_a, scores_b))
        codes_a, codes_b = (
            sinkhorn(s.detach(), c.epsilon, c.sinkhorn_iterations, self.training) for s in (scores_a, scores_b)
        )
        swap = swapped_prediction_loss(scores_a, scores_b, codes_a, codes_b, c.temperature)
        em = zero
        if c.em and not frozen:
            em = 0.5 * (prototype_em_loss(z_a, codes_a, prototypes) + prototype_em_loss(z_b, codes_b, prototypes))
        gram = gram_loss(prototypes) if c.gram_weight > 0 and not frozen else zero
        used, entropy = prototype_usage(prototype_histogram(scores_a.detach()))
        terms = {
            "loss": c.swap_weight * swap + c.em_weight * em + c.gram_weight * gram,
            "loss_swap": swap.detach(),
            "loss_em": em.detach(),
            "loss_gram": gram.detach(),
            "prototypes_used": z_a.new_tensor(used),
            "code_entropy": z_a.new_tensor(entropy),
            "code_agreement": (codes_a.argmax(1) == codes_b.argmax(1)).float().mean(),
        }
        return Swap(terms, (scores_a.detach(), scores_b.detach()), (codes_a, codes_b))
