"""Backends: the native backend against spconv 2.x (skipped where spconv is absent) and spconv-triton (`gpu`) on the
same weights; native under bf16 autocast."""

from __future__ import annotations

import copy
import importlib.util
import sys

import numpy as np
import pytest
import torch
from torch import nn

from spot.runtime import SpotInputError
from spot.runtime.voxelize import linear_keys
from spot.trainer.sparse import (
    SparseConv3d,
    SparseInverseConv3d,
    SparseSequential,
    SparseTensor,
    SubMConv3d,
    get_backend,
    set_backend,
)

from .grids import random_coords

SHAPE = (9, 10, 11)


def sparse_input(rng, channels=3, dtype=torch.float32) -> SparseTensor:
    coords = torch.from_numpy(random_coords(rng, SHAPE, density=0.2))
    features = torch.randn(len(coords), channels, dtype=dtype, requires_grad=True)
    return SparseTensor(features, coords, SHAPE, batch_size=2)


def test_unknown_backend_names_the_choices():
    with pytest.raises(SpotInputError, match=r"choose one of \['native', 'spconv', 'spconv-triton'\]"):
        get_backend("minkowski")


def test_missing_spconv_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "spconv.pytorch", None)  # makes `import spconv.pytorch` fail
    with pytest.raises(ImportError, match=r"pip install 'spot-lidar\[spconv-cpu\]'"):
        get_backend("spconv")


def network() -> SparseSequential:
    return SparseSequential(
        SubMConv3d(3, 8, 3, indice_key="s0"),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        SparseConv3d(8, 16, 3, 2, 1, indice_key="d1"),
        SubMConv3d(16, 16, 3, indice_key="s1"),
        SparseInverseConv3d(16, 4, 3, indice_key="d1"),
    )


def test_native_matches_spconv_forward_and_gradients(rng):
    pytest.importorskip("spconv")
    native = network()
    reference = set_backend(copy.deepcopy(native), "spconv")
    x = sparse_input(rng)
    out_native, out_spconv = native(x), reference(x.replace_features(x.features))
    assert torch.equal(out_native.coords, x.coords) and torch.equal(out_spconv.coords, x.coords)
    torch.testing.assert_close(out_native.features, out_spconv.features, rtol=1e-5, atol=1e-5)
    probe = torch.randn_like(out_native.features)
    grads = torch.autograd.grad((out_native.features * probe).sum(), [x.features, *native.parameters()])
    expected = torch.autograd.grad((out_spconv.features * probe).sum(), [x.features, *reference.parameters()])
    for actual, wanted in zip(grads, expected, strict=True):
        torch.testing.assert_close(actual, wanted, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel_size,stride,padding", [(2, 2, 0), (3, 2, 1), (3, 2, (0, 1, 1))])
def test_strided_outputs_match_spconv_voxel_for_voxel(rng, kernel_size, stride, padding):
    pytest.importorskip("spconv")
    layer = SparseConv3d(3, 5, kernel_size, stride, padding, indice_key="down")
    x = sparse_input(rng)
    with torch.no_grad():
        native = layer(x)
        reference = set_backend(copy.deepcopy(layer), "spconv")(x.replace_features(x.features))
    assert native.spatial_shape == reference.spatial_shape
    assert len(native) == len(reference)
    order = torch.from_numpy(np.argsort(linear_keys(reference.coords.numpy(), reference.spatial_shape)))
    torch.testing.assert_close(native.coords, reference.coords[order])
    torch.testing.assert_close(native.features, reference.features[order], rtol=1e-5, atol=1e-5)


def test_spconv_state_dict_loads_without_conversion(rng):
    spconv = pytest.importorskip("spconv.pytorch")
    native = spconv.ConvAlgo.Native  # spconv's only algorithm on CPU
    theirs = spconv.SparseSequential(
        spconv.SubMConv3d(3, 8, 3, indice_key="s0", algo=native),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        spconv.SparseConv3d(8, 16, 3, 2, 1, indice_key="d1", algo=native),
        spconv.SubMConv3d(16, 16, 3, indice_key="s1", algo=native),
        spconv.SparseInverseConv3d(16, 4, 3, indice_key="d1", algo=native),
    )  # training mode: in eval mode spconv fuses the bias into its kernel, which its CPU build cannot run
    ours = network()
    ours.load_state_dict(theirs.state_dict())  # strict: same keys, same shapes
    x = sparse_input(rng)
    with torch.no_grad():
        expected = theirs(spconv.SparseConvTensor(x.features, x.coords, list(SHAPE), 2))
        actual = ours(x)
    assert torch.equal(expected.indices, actual.coords)
    torch.testing.assert_close(actual.features, expected.features, rtol=1e-5, atol=1e-5)


def test_spconv_backend_runs_single_threaded_on_cpu(rng, monkeypatch):
    pytest.importorskip("spconv")
    seen = []
    layer = set_backend(SubMConv3d(3, 4, 3, indice_key="s"), "spconv")
    layer(sparse_input(rng))
    twin = layer.backend_state["spconv"]
    monkeypatch.setattr(type(twin), "forward", lambda self, x: seen.append(torch.get_num_threads()) or x)
    torch.set_num_threads(2)
    layer(sparse_input(rng))
    assert seen == [1] and torch.get_num_threads() == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_spconv_triton_on_cpu_says_it_needs_a_gpu():
    with pytest.raises(SpotInputError, match=r"'spconv-triton' sparse backend needs a CUDA GPU.*backend='native'"):
        get_backend("spconv-triton")


def test_every_backend_keeps_the_same_state_dict(rng):
    """Twins share the layers' parameters and stay out of the state dict: weights move between backends as is."""
    native = network()
    expected = {key: value.clone() for key, value in native.state_dict().items()}
    runnable = ["native"] + (["spconv"] if importlib.util.find_spec("spconv") else [])
    for name in runnable:
        model = set_backend(copy.deepcopy(native), name)
        model(sparse_input(rng))
        state = model.state_dict()
        assert state.keys() == expected.keys()
        parameters = dict(model.named_parameters())  # BatchNorm's running statistics moved in the forward
        assert all(torch.equal(parameters[key], expected[key]) for key in parameters)


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected|."""
    actual, expected = actual.detach().float(), expected.detach().float()
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12))


@pytest.mark.gpu
def test_spconv_triton_layers_match_native_on_the_gpu(rng):
    pytest.importorskip("spconv_triton")
    native = network().cuda()
    triton = set_backend(copy.deepcopy(native), "spconv-triton")
    x = sparse_input(rng)
    x = SparseTensor(x.features.detach().cuda().requires_grad_(), x.coords.cuda(), SHAPE, 2)
    out_native, out_triton = native(x), triton(x.replace_features(x.features))
    assert torch.equal(out_native.coords, out_triton.coords)
    assert _relative_error(out_triton.features, out_native.features) <= 1e-3
    probe = torch.randn_like(out_native.features)
    grads = torch.autograd.grad((out_native.features * probe).sum(), [x.features, *native.parameters()])
    other = torch.autograd.grad((out_triton.features * probe).sum(), [x.features, *triton.parameters()])
    for actual, expected in zip(other, grads, strict=True):
        assert _relative_error(actual, expected) <= 1e-3


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_native_runs_bf16_autocast_with_float32_sums(rng, device):
    model = network().to(device)
    x = sparse_input(rng)
    x = SparseTensor(x.features.detach().to(device).requires_grad_(), x.coords.to(device), SHAPE, 2)
    reference = model(x).features
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        out = model(x.replace_features(x.features)).features
    assert out.dtype == torch.bfloat16
    assert _relative_error(out, reference) <= 3e-2  # bf16 GEMM inputs (8 mantissa bits), float32 sums
    probe = torch.randn_like(reference)
    grad = torch.autograd.grad((out.float() * probe).sum(), [x.features, model[0].weight])
    expected = torch.autograd.grad((reference * probe).sum(), [x.features, model[0].weight])
    assert grad[0].dtype == grad[1].dtype == torch.float32
    for actual, wanted in zip(grad, expected, strict=True):  # bf16 noise flips a few ReLU gates: compare directions
        assert torch.nn.functional.cosine_similarity(actual.flatten(), wanted.flatten(), dim=0) >= 0.99


def test_a_model_made_for_spconv_triton_builds_anywhere_and_runs_native(rng):
    """A checkpoint trained on the GPU backend is rebuilt on a CPU machine (export) and switched to native."""
    layer = SubMConv3d(3, 4, 3, indice_key="s", backend="spconv-triton")
    assert layer.backend == "spconv-triton"
    out = set_backend(layer, "native")(sparse_input(rng))
    assert out.features.shape == (len(out), 4)
