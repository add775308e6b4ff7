"""The `autoware` custom ops of the autoware flavour: the table of what Autoware's TensorRT plugins read, and a
numpy reference of what they compute, so that the exported graph runs on CPU in `onnx.reference`.

Sparse layers are written exactly as Autoware's BEVFusion / PTv3 graphs write them, so that the TensorRT plugins
of `autoware_tensorrt_plugins` (IPluginV3, TensorRT 10, built on spconv 2.3.8's C++ core) run them; the rest of
the network is standard ONNX. Sources, read (not copied) for every name, attribute, order and dtype below:

- autowarefoundation/autoware_universe, perception/autoware_tensorrt_plugins/
    src/get_indices_pairs_implicit_gemm_plugin_creator.cpp @ 79578ec: the 11 attributes, all kINT32, and
        `PLUGIN_VALIDATE(num_fields == 11)` (a node with any other attribute set is refused);
    src/get_indices_pairs_implicit_gemm_plugin.cpp @ 09aa6a4 and its header @ 3c46ea3: one int32 (N, 4) input,
        5 int32 outputs (out_indices (M, 4), pair_fwd (K, M), pair_mask (M, 1), mask_argsort (M,), num_act_out
        ()), M a size tensor bounded by `out_indices_num_limit_` = 256000; plugin name "GetIndicePairsImplicitGemm",
        version "1", namespace "";
    src/implicit_gemm_plugin_creator.cpp @ 79578ec: the 6 attributes (4 kFLOAT32, 2 kINT32), `num_fields == 6`;
    src/implicit_gemm_plugin.cpp and include/.../implicit_gemm_plugin.hpp @ 081957b: inputs features (N, C_in)
        float32 | float16, filters [C_out, k_z, k_y, k_x, C_in] of the features' dtype, then pair_fwd, pair_mask,
        mask_argsort (int32); output (mask_argsort length, C_out) of the features' dtype. The plugin passes
        output_scale 1 and output_add_scale 0 to spconv whatever the attributes say, and that version accepts an
        optional 6th input (a fused bias) and an `act_type` field (kNone unless set) that the 79578ec creator
        does not read: spot writes the 79578ec contract (5 inputs, 6 attributes) and leaves the bias to an Add.
- tier4/autoware-ml, autoware_ml/ops/spconv/sparse_functional.py @ 5fe409c: the symbolics that emit these nodes
    (domain "autoware"; `fp32_accum` is None there, so torch drops it and 6 attributes remain).
- spconv 2.3.8 (traveller59/spconv), spconv/csrc/sparse/indices.py, all.py and spconv/pytorch/ops.py: pair_fwd[k, o]
    is the input row reaching output o through kernel offset k (offsets z-major, as the weight), -1 where none;
    pair_mask[o] has bit k set where pair_fwd[k, o] != -1 (the submanifold centre included); mask_argsort is the
    order of the rows sorted by mask (`do_sort`; arange without it), a schedule that groups rows with the same
    offsets: any permutation gives the same sums.

spot's inverse convolutions have no plugin of their own (tier4's networks have none): the strided map's pair_fwd is
turned around in standard ONNX (ScatterElements) into the inverse's table, mask and an arange schedule, and run by
the same ImplicitGemm (`export.sparse_ops.AutowareInversePairs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import defs
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from spot.runtime.errors import SpotInputError
from spot.runtime.kernel_map import ConvGeometry, build_kernel_map
from spot.runtime.sparse_conv import neighbor_table_conv

DOMAIN = "autoware"
OPSET_VERSION = 1
MAX_VOXELS = 256_000  # out_indices_num_limit_ of GetIndicePairsImplicitGemmPlugin: voxels per set it can hold
MAX_KERNEL_VOLUME = 32  # one uint32 mask per row (algo MaskImplicitGemm: the one split the plugin declares)
MASK_IMPLICIT_GEMM = 1  # spconv ConvAlgo.MaskImplicitGemm


@dataclass(frozen=True)
class OpSpec:
    """One plugin's ONNX contract: inputs and outputs in order as (name, dtype), attributes as (name, kind)
    with kind "int", "ints" or "float" (ONNX INT / INTS / FLOAT = the plugin fields kINT32 / kINT32[] /
    kFLOAT32), and `fixed`: the attribute values spot always writes (the others depend on the layer)."""

    name: str
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    attributes: tuple[tuple[str, str], ...]
    fixed: dict
    source: str

    def attribute_kinds(self) -> dict[str, str]:
        return dict(self.attributes)


GET_INDICE_PAIRS = OpSpec(
    name="GetIndicePairsImplicitGemm",
    inputs=(("indices", "int32"),),
    outputs=(("out_indices", "int32"), ("pair_fwd", "int32"), ("pair_mask_fwd", "int32"),
             ("mask_argsort_fwd", "int32"), ("num_act_out", "int32")),
    attributes=(("algo", "int"), ("batch_size", "int"), ("dilation", "ints"), ("is_train", "int"), ("ksize", "ints"),
                ("out_padding", "ints"), ("padding", "ints"), ("spatial_shape", "ints"), ("stride", "ints"),
                ("subm", "int"), ("transpose", "int")),
    fixed={"algo": MASK_IMPLICIT_GEMM, "batch_size": 1, "is_train": 0, "out_padding": [0, 0, 0], "transpose": 0},
    source="autoware_universe perception/autoware_tensorrt_plugins/src/get_indices_pairs_implicit_gemm_plugin*.cpp",
)
IMPLICIT_GEMM = OpSpec(
    name="ImplicitGemm",
    inputs=(("features", "float"), ("filters", "float"), ("pair_fwd", "int32"), ("pair_mask_fwd_splits", "int32"),
            ("mask_argsort_fwd_splits", "int32")),
    outputs=(("out_features", "float"),),
    attributes=(("act_alpha", "float"), ("act_beta", "float"), ("is_subm", "int"), ("is_train", "int"),
                ("output_add_scale", "float"), ("output_scale", "float")),
    fixed={"act_alpha": 0.0, "act_beta": 0.0, "is_train": 0, "output_add_scale": 0.0, "output_scale": 1.0},
    source="autoware_universe perception/autoware_tensorrt_plugins/src/implicit_gemm_plugin*.cpp",
)
OPS = {spec.name: spec for spec in (GET_INDICE_PAIRS, IMPLICIT_GEMM)}


def indice_pairs_attributes(geometry: ConvGeometry, spatial_shape) -> dict:
    """The GetIndicePairsImplicitGemm attributes of a submanifold or strided map on grid `spatial_shape` (Z, Y, X)."""
    return {**GET_INDICE_PAIRS.fixed, "ksize": list(geometry.kernel_size), "stride": list(geometry.stride),
            "padding": list(geometry.padding), "dilation": list(geometry.dilation),
            "spatial_shape": [int(s) for s in spatial_shape], "subm": int(geometry.subm)}  # fmt: skip


def implicit_gemm_attributes(subm: bool) -> dict:
    return {**IMPLICIT_GEMM.fixed, "is_subm": int(subm)}


def symbolic_attributes(spec: OpSpec, values: dict) -> dict:
    """`values` as torch.onnx `g.op` keywords (`name_i` for ints and int lists, `name_f` for floats)."""
    kinds = spec.attribute_kinds()
    if set(values) != set(kinds):
        raise ValueError(f"{spec.name} takes attributes {sorted(kinds)}, got {sorted(values)}")
    return {f"{name}_{'f' if kinds[name] == 'float' else 'i'}": value for name, value in values.items()}


# --- what the plugins compute (numpy) ----------------------------------------------------------------------------


def offset_mask(pair_fwd: np.ndarray) -> np.ndarray:
    """int32 (M, 1): bit k of row o set where pair_fwd[k, o] != -1 (spconv's uint32 mask, same bits)."""
    bits = (np.asarray(pair_fwd) >= 0).astype(np.uint64) << np.arange(len(pair_fwd), dtype=np.uint64)[:, None]
    return bits.sum(axis=0, dtype=np.uint64).astype(np.uint32).view(np.int32)[:, None]


def indice_pairs(indices: np.ndarray, geometry: ConvGeometry, spatial_shape) -> tuple[np.ndarray, ...]:
    """GetIndicePairsImplicitGemm: (out_indices, pair_fwd, pair_mask, mask_argsort, num_act_out), all int32.

    The output voxels of a strided map come sorted by linear key here (spot's voxel-set order); the plugin gives
    them in its hash table's order. The graph reads them only through the pairs made with them, so both agree.
    """
    if geometry.volume > MAX_KERNEL_VOLUME:
        raise SpotInputError(f"kernel volume {geometry.volume} exceeds the {MAX_KERNEL_VOLUME} offsets of one mask")
    kernel_map = build_kernel_map(np.asarray(indices), tuple(int(s) for s in spatial_shape), geometry)
    pair_fwd = kernel_map.neighbors.astype(np.int32)
    mask = offset_mask(pair_fwd)
    argsort = np.argsort(mask[:, 0].view(np.uint32), kind="stable").astype(np.int32)
    out = np.asarray(kernel_map.out_coords, dtype=np.int32)
    return out, pair_fwd, mask, argsort, np.array(len(out), dtype=np.int32)


def implicit_gemm(features, filters, pair_fwd, pair_mask, mask_argsort) -> np.ndarray:
    """ImplicitGemm: out[o] = sum over offsets k of row o's mask of features[pair_fwd[k, o]] @ filters[:, k, :].T.

    Refuses inputs on which the plugin's result would depend on its tiling: a mask that disagrees with pair_fwd
    (the kernel visits the offsets of the OR of a tile's masks), a schedule that is not a permutation.
    """
    pair_fwd = np.asarray(pair_fwd)
    volume, rows = pair_fwd.shape
    if int(np.prod(filters.shape[1:4])) != volume or filters.shape[4] != features.shape[1]:
        raise SpotInputError(f"ImplicitGemm: filters {filters.shape} do not fit pairs {pair_fwd.shape} and features "
                             f"{features.shape}")  # fmt: skip
    if pair_mask.shape != (rows, 1) or not np.array_equal(pair_mask, offset_mask(pair_fwd)):
        raise SpotInputError("ImplicitGemm: pair_mask is not the offset mask of pair_fwd")
    if mask_argsort.shape != (rows,) or not np.array_equal(np.sort(mask_argsort), np.arange(rows)):
        raise SpotInputError("ImplicitGemm: mask_argsort is not a permutation of the output rows")
    out = neighbor_table_conv(features, filters, pair_fwd)
    return out.astype(features.dtype, copy=False)


def transposed_pairs(pair_fwd: np.ndarray, num_inputs: int) -> np.ndarray:
    """int32 (K, num_inputs): the output row each input reaches through offset k (-1 where none), i.e. the table of
    the inverse convolution. Computed as the graph does: a scatter into one spare column for the empty entries."""
    volume, rows = pair_fwd.shape
    table = np.full((volume, num_inputs + 1), -1, dtype=np.int32)
    targets = np.where(pair_fwd >= 0, pair_fwd, num_inputs)
    np.put_along_axis(table, targets.astype(np.int64), np.broadcast_to(np.arange(rows, dtype=np.int32), targets.shape),
                      axis=1)  # fmt: skip
    return table[:, :num_inputs]


# --- ONNX: schemas and reference kernels -------------------------------------------------------------------------

_ONNX_TYPES = {"int32": ["tensor(int32)"], "float": ["tensor(float)", "tensor(float16)"]}
_ATTRIBUTE_TYPES = {"int": defs.OpSchema.AttrType.INT, "ints": defs.OpSchema.AttrType.INTS,
                    "float": defs.OpSchema.AttrType.FLOAT}  # fmt: skip


def _schema(spec: OpSpec) -> defs.OpSchema:
    Param = defs.OpSchema.FormalParameter
    type_name = {"int32": "I", "float": "T"}
    dtypes = sorted({dtype for _, dtype in spec.inputs + spec.outputs})
    return defs.OpSchema(
        spec.name,
        DOMAIN,
        OPSET_VERSION,
        f"Autoware TensorRT plugin {spec.name} ({spec.source}); see spot.export.autoware_ops.",
        inputs=[Param(name, type_name[dtype]) for name, dtype in spec.inputs],
        outputs=[Param(name, type_name[dtype]) for name, dtype in spec.outputs],
        type_constraints=[(type_name[dtype], _ONNX_TYPES[dtype], dtype) for dtype in dtypes],
        attributes=[defs.OpSchema.Attribute(name, _ATTRIBUTE_TYPES[kind], name) for name, kind in spec.attributes],
    )


def register_schemas() -> None:
    """Make the `autoware` ops known to onnx (checker, shape inference); idempotent."""
    for spec in OPS.values():
        if not defs.has(spec.name, DOMAIN):
            defs.register_schema(_schema(spec))


def _geometry(ksize, stride, padding, dilation, subm) -> ConvGeometry:
    return ConvGeometry.make(tuple(ksize), tuple(stride), tuple(padding), tuple(dilation), bool(subm))


class GetIndicePairsImplicitGemm(OpRun):
    op_domain = DOMAIN

    def _run(self, indices, algo=None, batch_size=None, dilation=None, is_train=None, ksize=None, out_padding=None,
             padding=None, spatial_shape=None, stride=None, subm=None, transpose=None):  # fmt: skip
        if algo != MASK_IMPLICIT_GEMM or transpose or is_train:
            raise SpotInputError(f"GetIndicePairsImplicitGemm: the reference covers algo={MASK_IMPLICIT_GEMM}, "
                                 f"transpose=0, is_train=0 (got {algo}, {transpose}, {is_train})")  # fmt: skip
        return indice_pairs(indices, _geometry(ksize, stride, padding, dilation, subm), spatial_shape)


class ImplicitGemm(OpRun):
    op_domain = DOMAIN

    def _run(self, features, filters, pair_fwd, pair_mask, mask_argsort, act_alpha=None, act_beta=None, is_subm=None,
             is_train=None, output_add_scale=None, output_scale=None):  # fmt: skip
        return (implicit_gemm(features, filters, pair_fwd, pair_mask, mask_argsort),)


REFERENCE_OPS = (GetIndicePairsImplicitGemm, ImplicitGemm)


class ReferenceEngine:
    """An autoware-flavour graph run by `onnx.reference.ReferenceEvaluator` with the numpy plugin kernels above:
    slow, exact semantics, for verification on CPU."""

    def __init__(self, model_path: Path):
        register_schemas()
        self.evaluator = ReferenceEvaluator(str(model_path), new_ops=list(REFERENCE_OPS))
        self.input_names = tuple(self.evaluator.input_names)
        self.output_names = tuple(self.evaluator.output_names)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.evaluator.run(None, feeds), strict=True))
