"""Backends: the native backend against spconv 2.x on the same weights (skipped where spconv is absent)."""

from __future__ import annotations

import copy
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
    with pytest.raises(SpotInputError, match=r"choose one of \['native', 'spconv'\]"):
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
