"""Every sparse layer against dense `conv3d` / `conv_transpose3d` in float64: outputs, coordinates, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spot.runtime.errors import SpotInputError
from spot.trainer.sparse import (
    SparseConv3d,
    SparseInverseConv3d,
    SparseSequential,
    SparseTensor,
    SubMConv3d,
)

from .grids import random_coords

SHAPE = (7, 8, 9)
TOL = 1e-10


def sparse_input(rng, channels=3, shape=SHAPE, density=0.3) -> SparseTensor:
    coords = torch.from_numpy(random_coords(rng, shape, density=density))
    features = torch.randn(len(coords), channels, dtype=torch.float64, requires_grad=True)
    return SparseTensor(features, coords, shape, batch_size=2)


def at(dense: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Rows (V, C) of a dense (B, C, Z, Y, X) grid at (batch, z, y, x) coordinates."""
    b, z, y, x = coords.long().unbind(1)
    return dense.permute(0, 2, 3, 4, 1)[b, z, y, x]


def dense_weight(layer) -> torch.Tensor:
    """spconv layout [C_out, kz, ky, kx, C_in] -> torch conv3d layout [C_out, C_in, kz, ky, kx]."""
    return layer.weight.permute(0, 4, 1, 2, 3)


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    err = (actual - expected).abs().max() / expected.abs().max().clamp_min(1e-300)
    assert err < TOL, f"relative error {err:.3g}"


def check_gradients(x: SparseTensor, layer, sparse_out: torch.Tensor, dense_out: torch.Tensor) -> None:
    probe = torch.randn_like(sparse_out)
    grads = torch.autograd.grad((sparse_out * probe).sum(), [x.features, layer.weight, layer.bias])
    expected = torch.autograd.grad((dense_out * probe).sum(), [x.features, layer.weight, layer.bias])
    for actual, reference in zip(grads, expected, strict=True):
        assert_close(actual, reference)


@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (3, 2), ((1, 3, 3), 1), (5, 1)])
def test_submanifold_matches_dense(rng, kernel_size, dilation):
    x = sparse_input(rng)
    layer = SubMConv3d(3, 4, kernel_size, dilation=dilation, indice_key="subm").double()
    out = layer(x)
    assert torch.equal(out.coords, x.coords) and out.spatial_shape == SHAPE
    padding = tuple((k // 2) * dilation for k in layer.kernel_size)
    dense = F.conv3d(x.dense(), dense_weight(layer), layer.bias, padding=padding, dilation=dilation)
    assert_close(out.features, at(dense, x.coords))
    check_gradients(x, layer, out.features, at(dense, x.coords))


STRIDED = [(2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 0, 1), ((3, 1, 1), (2, 1, 1), (1, 0, 0), 1), (3, 2, 0, 2)]


@pytest.mark.parametrize("kernel_size,stride,padding,dilation", STRIDED)
def test_strided_matches_dense(rng, kernel_size, stride, padding, dilation):
    x = sparse_input(rng)
    layer = SparseConv3d(3, 5, kernel_size, stride, padding, dilation, indice_key="down").double()
    out = layer(x)
    weight = dense_weight(layer)
    dense = F.conv3d(x.dense(), weight, layer.bias, stride=stride, padding=padding, dilation=dilation)
    assert out.spatial_shape == tuple(dense.shape[2:])
    assert_close(out.features, at(dense, out.coords))
    check_gradients(x, layer, out.features, at(dense, out.coords))
    # the output voxels are exactly those a dense convolution of the occupancy reaches
    reached = F.conv3d((x.dense()[:, :1] != 0).double(), torch.ones_like(weight[:1, :1]), stride=stride,
                       padding=padding, dilation=dilation)  # fmt: skip
    assert int((reached > 0).sum()) == len(out)
    assert bool((at(reached, out.coords) > 0).all())


@pytest.mark.parametrize("kernel_size,stride,padding", [(2, 2, 0), (3, 2, 1)])
def test_inverse_matches_dense_transpose(rng, kernel_size, stride, padding):
    x = sparse_input(rng)
    down = SparseConv3d(3, 4, kernel_size, stride, padding, indice_key="down").double()
    up = SparseInverseConv3d(4, 2, kernel_size, indice_key="down").double()
    middle = down(x)
    y = middle.replace_features(middle.features.detach().requires_grad_(True))
    out = up(y)
    assert torch.equal(out.coords, x.coords) and out.spatial_shape == SHAPE
    size = [(m - 1) * stride - 2 * padding + kernel_size for m in middle.spatial_shape]
    output_padding = [s - n for s, n in zip(SHAPE, size, strict=True)]
    dense = F.conv_transpose3d(y.dense(), up.weight.permute(4, 0, 1, 2, 3), up.bias, stride=stride,
                               padding=padding, output_padding=output_padding)  # fmt: skip
    assert_close(out.features, at(dense, x.coords))
    check_gradients(y, up, out.features, at(dense, x.coords))


def gather_every_offset(features: torch.Tensor, weight: torch.Tensor, neighbors: torch.Tensor) -> torch.Tensor:
    """The convolution written straight from the kernel map's table: gather every offset's neighbour (a zero
    row where there is none), one batched GEMM, a sum over offsets. (V_in, C_in) -> (V_out, C_out)."""
    c_out, c_in = weight.shape[0], weight.shape[-1]
    padded = torch.cat([features, features.new_zeros(1, c_in)])  # row V_in is the missing neighbour
    gathered = padded[torch.where(neighbors >= 0, neighbors, features.shape[0])]  # (K, V_out, C_in)
    return torch.bmm(gathered, weight.reshape(c_out, -1, c_in).permute(1, 2, 0)).sum(0)


def test_native_kernel_matches_a_gather_of_every_offset(rng):
    x = sparse_input(rng)
    layer = SparseConv3d(3, 5, 3, 2, 1, bias=False, indice_key="down").double()
    out = layer(x)
    kernel_map = x.kernel_maps["down"]
    assert_close(gather_every_offset(x.features, layer.weight, kernel_map.neighbors), out.features)


def test_layers_chain_and_share_kernel_maps(rng):
    x = sparse_input(rng)
    net = SparseSequential(
        SubMConv3d(3, 4, 3, indice_key="s0"),
        torch.nn.ReLU(),
        SubMConv3d(4, 4, 3, indice_key="s0"),
        SparseConv3d(4, 8, 2, 2, indice_key="d1"),
        SparseInverseConv3d(8, 4, 2, indice_key="d1"),
    ).double()
    out = net(x)
    assert torch.equal(out.coords, x.coords) and out.features.shape == (len(x), 4)
    assert set(x.kernel_maps) == {"s0", "d1", "d1/inverse"}


def test_layers_refuse_bad_use(rng):
    x = sparse_input(rng)
    with pytest.raises(SpotInputError, match="input channels"):
        SubMConv3d(4, 4, 3).double()(x)
    with pytest.raises(SpotInputError, match="needs an earlier SparseConv3d"):
        SparseInverseConv3d(3, 3, 2, indice_key="missing").double()(x)
    with pytest.raises(SpotInputError, match="different geometry"):
        SubMConv3d(3, 3, 3, indice_key="k").double()(x)
        SparseConv3d(3, 3, 2, 2, indice_key="k").double()(x)
    with pytest.raises(SpotInputError, match="stride must be 1"):
        SubMConv3d(3, 3, 3, stride=2)


def test_weight_layout_is_spconv(rng):
    layer = SparseConv3d(3, 5, (3, 2, 1), 2)
    assert layer.weight.shape == (5, 3, 2, 1, 3)
    assert set(layer.state_dict()) == {"weight", "bias"}


def test_empty_input_gives_empty_output():
    x = SparseTensor(torch.zeros(0, 2, dtype=torch.float64), torch.zeros(0, 4, dtype=torch.int32), SHAPE, 1)
    assert len(SubMConv3d(2, 3, 3).double()(x)) == 0
    assert len(SparseConv3d(2, 3, 3, 2, 1).double()(x)) == 0


@pytest.mark.gpu
def test_native_backend_on_cuda_matches_cpu(rng):
    x = sparse_input(rng)
    net = SparseSequential(
        SubMConv3d(3, 4, 3, indice_key="s0"), SparseConv3d(4, 8, 3, 2, 1, indice_key="d1"),
        SparseInverseConv3d(8, 2, 3, indice_key="d1"),
    ).double()  # fmt: skip
    expected = net(x)
    expected.features.sum().backward()  # on CPU, before the weights move
    x_cuda = SparseTensor(x.features.detach().cuda().requires_grad_(True), x.coords.cuda(), SHAPE, 2)
    actual = net.cuda()(x_cuda)
    actual.features.sum().backward()
    assert torch.equal(actual.coords.cpu(), expected.coords)
    assert_close(actual.features.detach().cpu(), expected.features.detach())
    assert_close(x_cuda.features.grad.cpu(), x.features.grad)
