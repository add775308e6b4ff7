"""Deterministic seeding and the RNG state that a checkpoint must carry for an exact resume.

Three kinds of randomness, three rules:
- model initialisation: `seed_everything(seed)` before the task is built, the same on every rank;
- the training step (dropout, random masking in an objective): each rank's global generators, seeded from
  (seed, rank) after the build, saved in every checkpoint and restored on resume;
- data (augmentation): re-seeded for every sample from (seed, epoch, index) inside `isolated_rng`, so it never
  disturbs the training generators and does not depend on workers, ranks or where a run resumed. A dataset
  draws one `sample_seed()` there and hands it on with the sample, so that later random choices for that
  sample (in a task's `collate`, which runs outside that scope) are just as reproducible.
"""

# The global numpy generator is what this module exists to seed and save:
# ruff: noqa: NPY002

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any tuple of ints/strings; stable across processes and Python versions."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sample_seed() -> int:
    """A seed from the global numpy generator: inside `dataset[i]` the engine has seeded it per sample."""
    return int(np.random.randint(2**31))


def seed_everything(seed: int, cuda: bool = True) -> None:
    """Seed Python's `random`, numpy's global generator and torch's CPU generator (and every CUDA device's).

    `cuda=False` leaves CUDA alone, as DataLoader worker processes must.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if cuda:
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    """The global generators' state as tensors and plain values (loadable with `torch.load(weights_only=True)`)."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached_gauss = np.random.get_state()
    state = {
        "python": {"version": version, "state": list(mt_state), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gauss": float(cached_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put the generators back exactly where `capture_rng` found them."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["kind"], keys, numpy["pos"], numpy["has_gauss"], numpy["cached_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def isolated_rng(seed: int, cuda_device: torch.device | None = None) -> Iterator[None]:
    """Run a block with the global generators seeded to `seed`, then restore them as they were.

    The CUDA generator of `cuda_device` is included when given (evaluation on a GPU); DataLoader workers pass
    none and never touch CUDA.
    """
    python, numpy = random.getstate(), np.random.get_state()
    devices = [cuda_device] if cuda_device is not None and cuda_device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        seed_everything(seed, cuda=False)
        for device in devices:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python)
            np.random.set_state(numpy)
