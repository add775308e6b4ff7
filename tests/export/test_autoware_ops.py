"""The autoware flavour: nodes exactly as Autoware's TensorRT plugin creators read them, and the numpy reference of
what the plugins compute against the runtime's kernel maps and the trainer's convolution."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from spot.export import autoware_ops
from spot.export.exporter import ExportOptions, export_checkpoint
from spot.runtime import Perception, Sample, SpotInputError
from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map
from spot.runtime.scan import Scan

_ATTRIBUTE_KINDS = {onnx.AttributeProto.INT: "int", onnx.AttributeProto.INTS: "ints",
                    onnx.AttributeProto.FLOAT: "float"}  # fmt: skip
_DTYPES = {onnx.TensorProto.INT32: "int32", onnx.TensorProto.FLOAT: "float"}


def synthetic_scan(seed: int, points: int = 30_000) -> Sample:
    """Points on a ground plane and a few walls inside the segmentation checkpoint's grid."""
    rng = np.random.default_rng(seed)
    ground = np.column_stack([rng.uniform(-40, 40, (points, 2)), rng.normal(-1.7, 0.03, points)])
    walls = np.column_stack([rng.uniform(-30, 30, points // 3), np.repeat([-8.0, 8.0, 15.0], points // 9 + 1)[
        : points // 3], rng.uniform(-1.7, 1.5, points // 3)])  # fmt: skip
    xyz = np.concatenate([ground, walls]).astype(np.float32)
    intensity = rng.uniform(0, 1, (len(xyz), 1)).astype(np.float32)
    return Sample(Scan(np.hstack([xyz, intensity]), ("x", "y", "z", "intensity")), source=f"synthetic-{seed}")


@pytest.fixture(scope="module")
def autoware_artifact(segmentation_checkpoint, tmp_path_factory):
    output = tmp_path_factory.mktemp("autoware") / "seg"
    report = export_checkpoint(segmentation_checkpoint, output, [synthetic_scan(0), synthetic_scan(1)],
                               ExportOptions("autoware"))  # fmt: skip
    assert report.passed and all(check.label_agreement >= 0.999 for check in report.checks)
    return output


def test_nodes_are_what_the_plugin_creators_read(autoware_artifact):
    model = onnx.load(str(autoware_artifact / "model.onnx"))
    types = {value.name: value.type.tensor_type.elem_type for value in model.graph.input}
    nodes = [node for node in model.graph.node if node.domain == autoware_ops.DOMAIN]
    assert {node.op_type for node in nodes} == set(autoware_ops.OPS)
    assert {node.domain for node in model.graph.node} <= {"", autoware_ops.DOMAIN}
    for node in nodes:
        spec = autoware_ops.OPS[node.op_type]
        kinds = {a.name: _ATTRIBUTE_KINDS[a.type] for a in node.attribute}
        assert kinds == spec.attribute_kinds(), node.name  # the creators validate the field count
        values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert {name: values[name] for name in spec.fixed} == spec.fixed  # 0.0 and 1.0 are exact in float32
        assert len(node.input) == len(spec.inputs) and len(node.output) == len(spec.outputs)
        if node.op_type == "GetIndicePairsImplicitGemm":
            assert values["subm"] in (0, 1) and len(values["spatial_shape"]) == 3 and len(values["ksize"]) == 3
    pairs = [node for node in nodes if node.op_type == "GetIndicePairsImplicitGemm"]
    assert types[pairs[0].input[0]] == onnx.TensorProto.INT32  # coords (V, 4) int32 (batch, z, y, x)
    assert [value.name for value in model.graph.input] == ["voxel_features", "coords.input"]


def test_onnxruntime_refuses_the_autoware_graph_and_names_tensorrt(autoware_artifact):
    with pytest.raises(SpotInputError, match="engine='tensorrt'"):
        Perception.load(autoware_artifact)


def _coords(rng, n=600, shape=(8, 20, 24)):
    zyx = np.unique(np.column_stack([rng.integers(0, s, n) for s in shape]), axis=0)
    return np.column_stack([np.zeros(len(zyx), np.int64), zyx]).astype(np.int32), shape


@pytest.mark.parametrize("geometry", [ConvGeometry.make(3, subm=True), ConvGeometry.make(3, 2, 1),
                                      ConvGeometry.make(2, 2)])  # fmt: skip
def test_indice_pairs_are_the_runtime_kernel_map_with_spconv_masks(geometry):
    coords, shape = _coords(np.random.default_rng(0))
    out, pair_fwd, mask, argsort, count = autoware_ops.indice_pairs(coords, geometry, shape)
    expected = build_kernel_map(coords, shape, geometry)
    np.testing.assert_array_equal(out, expected.out_coords)
    np.testing.assert_array_equal(pair_fwd, expected.neighbors)
    assert pair_fwd.dtype == mask.dtype == argsort.dtype == count.dtype == np.int32 and int(count) == len(out)
    bits = mask[:, 0].view(np.uint32)
    for k in range(geometry.volume):
        np.testing.assert_array_equal((bits >> k) & 1, pair_fwd[k] >= 0)
    assert (np.diff(bits[argsort].astype(np.int64)) >= 0).all()  # rows sorted by mask: spconv's do_sort
    if geometry.subm:
        assert ((bits >> (geometry.volume // 2)) & 1).all()  # the centre links every voxel to itself


@pytest.mark.parametrize("kind", ["subm", "strided", "inverse"])
def test_implicit_gemm_matches_the_trainer(kind):
    from spot.trainer.sparse import build_kernel_map as torch_map
    from spot.trainer.sparse import inverse_kernel_map as torch_inverse
    from spot.trainer.sparse import sparse_conv as torch_conv

    rng = np.random.default_rng(1)
    coords, shape = _coords(rng)
    geometry = ConvGeometry.make(3, subm=True) if kind == "subm" else ConvGeometry.make(2, stride=2)
    _, pair_fwd, mask, argsort, _ = autoware_ops.indice_pairs(coords, geometry, shape)
    num_inputs = len(coords)
    if kind == "inverse":  # from the strided map's outputs back to `coords`
        num_inputs = pair_fwd.shape[1]
        pair_fwd = autoware_ops.transposed_pairs(pair_fwd, len(coords))
        mask, argsort = autoware_ops.offset_mask(pair_fwd), np.arange(len(coords), dtype=np.int32)
        np.testing.assert_array_equal(pair_fwd, inverse_kernel_map(build_kernel_map(coords, shape, geometry)).neighbors)
    features = rng.standard_normal((num_inputs, 5)).astype(np.float32)
    weight = rng.standard_normal((7, *geometry.kernel_size, 5)).astype(np.float32)

    reference_map = torch_map(torch.from_numpy(coords), shape, geometry)
    reference_map = torch_inverse(reference_map) if kind == "inverse" else reference_map
    expected = torch_conv(torch.from_numpy(features), torch.from_numpy(weight), reference_map).numpy()
    actual = autoware_ops.implicit_gemm(features, weight, pair_fwd, mask, argsort)
    assert actual.shape == (pair_fwd.shape[1], 7)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_implicit_gemm_refuses_inputs_whose_result_would_depend_on_the_tiling():
    coords, shape = _coords(np.random.default_rng(2))
    _, pair_fwd, mask, argsort, _ = autoware_ops.indice_pairs(coords, ConvGeometry.make(3, subm=True), shape)
    features = np.ones((len(coords), 2), np.float32)
    weight = np.ones((3, 3, 3, 3, 2), np.float32)
    with pytest.raises(SpotInputError, match="offset mask"):
        autoware_ops.implicit_gemm(features, weight, pair_fwd, mask & 0x1FFF, argsort)  # offsets 13.. dropped
    with pytest.raises(SpotInputError, match="permutation"):
        autoware_ops.implicit_gemm(features, weight, pair_fwd, mask, np.zeros_like(argsort))


def test_attribute_names_are_checked_against_the_table():
    with pytest.raises(ValueError, match="takes attributes"):
        autoware_ops.symbolic_attributes(autoware_ops.IMPLICIT_GEMM, {**autoware_ops.implicit_gemm_attributes(True),
                                                                      "fp32_accum": 1})  # fmt: skip
    keywords = autoware_ops.symbolic_attributes(autoware_ops.IMPLICIT_GEMM, autoware_ops.implicit_gemm_attributes(True))
    assert keywords["is_subm_i"] == 1 and keywords["output_scale_f"] == 1.0 and len(keywords) == 6
