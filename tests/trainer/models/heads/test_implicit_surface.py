import torch

from spot.runtime import VoxelGrid
from spot.trainer.models.heads.implicit_surface import ImplicitSurfaceDecoder, neighbour_rows


def test_neighbour_rows_find_exactly_the_existing_voxels():
    coords = torch.tensor([[0, 1, 1, 1], [0, 1, 1, 2], [0, 2, 2, 2], [1, 1, 1, 1]])  # sorted by key
    query = torch.tensor([[0, 1, 1, 1]])
    rows = neighbour_rows(coords, query, (4, 4, 4), reach=1)[0]
    assert sorted(rows[rows >= 0].tolist()) == [0, 1, 2]  # batch 1's voxel is not a neighbour
    assert (rows >= 0).sum() == 3


def _dense_reference(decoder, coords, features, support, queries):
    """The decoder computed over every (query, candidate cell) pair, absent ones masked: what it must equal."""
    xyz = queries[:, 1:4]
    zyx = torch.floor((xyz - decoder.origin) / decoder.voxel_size).long().flip(-1)
    rows = neighbour_rows(coords, torch.cat([queries[:, :1].long(), zyx], 1), decoder.grid.grid_shape, decoder.reach)
    present, safe = rows >= 0, rows.clamp(min=0)
    offset = support[safe] - xyz[:, None, :]
    present &= offset.norm(dim=-1) <= decoder.radius
    embedded = decoder.embed(torch.cat([features[safe], offset / decoder.radius], dim=-1))
    score = decoder.score(embedded).squeeze(-1).masked_fill(~present, float("-inf"))
    weight = torch.nan_to_num(score.softmax(dim=1), nan=0.0)
    logit, intensity = decoder.head((weight[..., None] * embedded).sum(dim=1)).unbind(-1)
    return logit, intensity.sigmoid()


def test_the_decoder_over_present_pairs_equals_the_dense_masked_computation_and_its_gradient():
    torch.manual_seed(0)
    grid = VoxelGrid((-4.0, -4.0, -2.0, 4.0, 4.0, 2.0), (0.2, 0.2, 0.2))  # 40 x 40 x 20 cells
    cells = torch.cat([torch.randint(0, 2, (1500, 1)), torch.randint(4, 16, (1500, 3))], dim=1)  # (batch, z, y, x)
    coords = torch.unique(cells, dim=0)  # lexicographic = sorted by linear key, as the contract has it
    centres = (coords[:, [3, 2, 1]].float() + 0.5) * 0.2 + torch.tensor([-4.0, -4.0, -2.0])
    support = centres + 0.05 * torch.randn_like(centres)
    features = torch.randn(len(coords), 5, requires_grad=True)
    picked = torch.randint(0, len(coords), (400,))
    queries = torch.cat([coords[picked, :1].float(), support[picked] + 0.3 * torch.randn(400, 3)], dim=1)
    queries[:20, 1:] = 50.0  # far from every voxel: no neighbour at all
    decoder = ImplicitSurfaceDecoder(in_channels=5, grid=grid, radius=0.4, hidden=16)
    assert decoder.reach == 2  # 125 candidate cells per query

    sparse = decoder(coords, features, support, queries)
    dense = _dense_reference(decoder, coords, features, support, queries)
    for a, b in zip(sparse, dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    gradients = [torch.autograd.grad(out[0].sum() + out[1].sum(), [features, *decoder.parameters()])
                 for out in (sparse, dense)]  # fmt: skip
    for a, b in zip(*gradients, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
