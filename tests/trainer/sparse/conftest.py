"""Fixtures of the sparse-layer tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def single_thread():
    """Test tensors are small and gain nothing from threads, while on a loaded two-core machine every parallel
    region waits for a time slice (a small UNet forward: 10 s on two threads, 10 ms on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
