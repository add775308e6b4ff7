"""SparseTensor: its contract checks and the dense view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spot.runtime import SpotInputError
from spot.trainer.sparse import SparseTensor


def test_dense_places_features_at_their_coordinates():
    coords = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]], dtype=torch.int32)
    x = SparseTensor(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), coords, (3, 2, 3), batch_size=2)
    dense = x.dense()
    assert dense.shape == (2, 2, 3, 2, 3)
    assert dense[0, :, 0, 1, 2].tolist() == [1.0, 2.0] and dense[1, :, 2, 0, 0].tolist() == [3.0, 4.0]
    assert dense.abs().sum() == 10.0


def test_derived_tensors_share_the_kernel_map_cache():
    x = SparseTensor(torch.zeros(1, 2), torch.zeros(1, 4, dtype=torch.int32), (1, 1, 1), 1)
    y = x.replace_features(torch.ones(1, 5))
    assert y.kernel_maps is x.kernel_maps and y.features.shape == (1, 5)


def test_contract_violations_are_refused():
    with pytest.raises(SpotInputError, match="int32"):
        SparseTensor(torch.zeros(1, 2), torch.zeros(1, 4, dtype=torch.int64), (1, 1, 1), 1)
    with pytest.raises(SpotInputError, match="one coordinate row per feature row"):
        SparseTensor(torch.zeros(2, 2), torch.zeros(1, 4, dtype=torch.int32), (1, 1, 1), 1)
    with pytest.raises(SpotInputError, match=r"coords \(V, 4\)"):
        SparseTensor(torch.zeros(1, 2), torch.zeros(1, 3, dtype=torch.int32), (1, 1, 1), 1)


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        ([[0, 0, 1, 2], [0, 0, 1, 1]], r"row 1 \[0, 0, 1, 1\] sorts before row 0 \[0, 0, 1, 2\]"),
        ([[0, 0, 1, 2], [0, 0, 1, 2]], r"row 1 \[0, 0, 1, 2\] repeats row 0"),
        ([[1, 0, 0, 0], [0, 2, 1, 2]], r"row 1 \[0, 2, 1, 2\] sorts before row 0"),  # batch is the major key
        ([[0, 0, 0, 0], [0, 3, 0, 0]], r"inside the grid \(3, 2, 3\)"),
    ],
)
def test_voxels_from_outside_must_be_in_the_contracts_order(coords, message):
    """The kernel-map search finds neighbours by binary search over the linear keys: coordinates that enter
    unsorted or twice would give wrong maps silently, so `from_voxels` refuses them with the row at fault."""
    features = torch.zeros(len(coords), 2)
    with pytest.raises(SpotInputError, match=rf"coords must .*{message}"):
        SparseTensor.from_voxels(features, torch.tensor(coords, dtype=torch.int32), (3, 2, 3), 2)
    with pytest.raises(SpotInputError, match=message):
        SparseTensor.from_voxels(features.numpy(), np.array(coords, dtype=np.int32), (3, 2, 3), 2)


def test_voxels_in_the_contracts_order_enter_unchanged():
    coords = np.array([[0, 0, 1, 2], [0, 2, 0, 0], [1, 0, 0, 0]], dtype=np.int32)
    x = SparseTensor.from_voxels(np.ones((3, 2), np.float32), coords, (3, 2, 3), 2)
    assert x.coords.tolist() == coords.tolist() and x.coords.dtype == torch.int32
