"""SparseTensor: its contract checks and the dense view."""

from __future__ import annotations

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
