"""SPOT's class balancing on the data side: frames with rare classes (or from small datasets) are drawn more.

For groups i (classes, or datasets for dataset-balanced sampling) with n_i frames containing group i out of
m frames, group i's sampling ratio is s_i = sqrt(m / n_i): rare groups are up-weighted, but only by the square
root, so common ones are not starved. A frame's weight is the largest ratio among the groups it contains;
frames containing none of the groups keep weight 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def balanced_sampling_weights(frame_groups: Sequence[np.ndarray], num_groups: int) -> np.ndarray:
    """float64 (m,) sampling weight per frame, normalised to sum to m (so an epoch keeps its length)."""
    m = len(frame_groups)
    if m == 0:
        raise ValueError("balanced_sampling_weights() needs at least one frame")
    presence = np.zeros((m, num_groups), dtype=bool)
    for frame, groups in enumerate(frame_groups):
        groups = np.unique(np.asarray(groups, dtype=np.int64))
        groups = groups[(groups >= 0) & (groups < num_groups)]
        presence[frame, groups] = True
    n = presence.sum(axis=0)
    ratio = np.where(n > 0, np.sqrt(m / np.maximum(n, 1)), 0.0)
    weights = np.where(presence.any(axis=1), (presence * ratio).max(axis=1), 1.0)
    return weights * (m / weights.sum())


def weighted_epoch_indices(weights: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """A reproducible epoch of len(weights) frame indices drawn with replacement by `weights`."""
    rng = np.random.default_rng([seed, epoch])
    return rng.choice(len(weights), size=len(weights), replace=True, p=weights / weights.sum())
