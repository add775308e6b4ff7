import torch

from spot.trainer.models.heads.implicit_surface import neighbour_rows


def test_neighbour_rows_find_exactly_the_existing_voxels():
    coords = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 2], [0, 2, 2, 2], [1, 1, 1, 1]])  # sorted by key
    query = torch.tensor([[0, 1, 1, 1]])
    rows = neighbour_rows(coords, query, (4, 4, 4), reach=1)[0]
    assert sorted(rows[rows >= 0].tolist()) == [0, 1, 2]  # batch 1's voxel is not a neighbour
    assert (rows >= 0).sum() == 3
