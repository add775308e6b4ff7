"""The `spot` custom-op domain of the plugin flavour: schemas, and a CPU reference to run such graphs.

spot::SparseConv3d(features (V_in, C_in) float, coords (V_in, 4) int32 (batch, z, y, x), weight
    [C_out, k_z, k_y, k_x, C_in], bias (C_out,) optional) -> features (V_out, C_out), out_coords (V_out, 4)
    attributes: kernel_size, stride, padding, dilation (z, y, x), subm (0/1), indice_key, spatial_shape (the
    input grid (Z, Y, X)). Submanifold: out_coords = coords. Strided: spconv 2.x's output voxels, sorted by key.
spot::SparseInverseConv3d(features (V_in, C_in) on the coarse voxels, coords (V_in, 4), out_coords (V_out, 4)
    the fine voxels, weight, bias optional) -> features (V_out, C_out)
    attributes: those of the SparseConv3d it undoes (indice_key names it; spatial_shape is the fine grid).

An engine builds the kernel map from the coordinates (on the accelerator) and caches it per indice key and
voxel set. `REFERENCE_OPS` run the same semantics with the runtime's numpy kernel maps and convolution inside
`onnx.reference.ReferenceEvaluator`; `ReferenceEngine` makes that an engine for `Perception`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import defs
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from spot.runtime.kernel_map import ConvGeometry, build_kernel_map, inverse_kernel_map
from spot.runtime.sparse_conv import sparse_conv

from .sparse_ops import DOMAIN

OPSET_VERSION = 1
_INTS, _INT, _STRING = defs.OpSchema.AttrType.INTS, defs.OpSchema.AttrType.INT, defs.OpSchema.AttrType.STRING
_GEOMETRY = ("kernel_size", "stride", "padding", "dilation")


def _schema(name: str, doc: str, inputs: list[tuple[str, str, bool]], outputs: list[tuple[str, str]], subm: bool):
    Param, Option = defs.OpSchema.FormalParameter, defs.OpSchema.FormalParameterOption
    attributes = [defs.OpSchema.Attribute(a, _INTS, f"{a} per axis (z, y, x)") for a in _GEOMETRY]
    attributes += [
        defs.OpSchema.Attribute("indice_key", _STRING, "the kernel map this layer runs on"),
        defs.OpSchema.Attribute("spatial_shape", _INTS, "grid (Z, Y, X) the kernel map is built on"),
    ]
    if subm:
        attributes.append(defs.OpSchema.Attribute("subm", _INT, "1: submanifold (output voxels = input voxels)"))
    return defs.OpSchema(
        name,
        DOMAIN,
        OPSET_VERSION,
        doc,
        inputs=[Param(n, t, param_option=Option.Optional if optional else Option.Single) for n, t, optional in inputs],
        outputs=[Param(n, t) for n, t in outputs],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)"], "features"), ("I", ["tensor(int32)"], "coords")],
        attributes=attributes,
    )


SCHEMAS = (
    _schema(
        "SparseConv3d",
        "Sparse 3D convolution (spconv 2.x SubMConv3d / SparseConv3d semantics).",
        [("features", "T", False), ("coords", "I", False), ("weight", "T", False), ("bias", "T", True)],
        [("out_features", "T"), ("out_coords", "I")],
        subm=True,
    ),
    _schema(
        "SparseInverseConv3d",
        "Inverse of the SparseConv3d with the same indice_key: back to its input voxels.",
        [
            ("features", "T", False),
            ("coords", "I", False),
            ("out_coords", "I", False),
            ("weight", "T", False),
            ("bias", "T", True),
        ],
        [("out_features", "T")],
        subm=False,
    ),
)


def register_schemas() -> None:
    """Make the `spot` ops known to onnx (checker, shape inference); idempotent."""
    for schema in SCHEMAS:
        if not defs.has(schema.name, schema.domain):
            defs.register_schema(schema)


def _geometry(attributes: dict, subm: bool) -> ConvGeometry:
    return ConvGeometry.make(*(tuple(attributes[a]) for a in _GEOMETRY), subm=subm)


class SparseConv3d(OpRun):
    op_domain = DOMAIN

    def _run(self, features, coords, weight, bias=None, kernel_size=None, stride=None, padding=None,
             dilation=None, subm=None, indice_key=None, spatial_shape=None):  # fmt: skip
        geometry = _geometry(dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation),
                             bool(subm))  # fmt: skip
        kernel_map = build_kernel_map(coords, tuple(spatial_shape), geometry)
        out = sparse_conv(features, weight, kernel_map)
        return (out if bias is None else out + bias), np.asarray(kernel_map.out_coords, dtype=np.int32)


class SparseInverseConv3d(OpRun):
    op_domain = DOMAIN

    def _run(self, features, coords, out_coords, weight, bias=None, kernel_size=None, stride=None, padding=None,
             dilation=None, indice_key=None, spatial_shape=None):  # fmt: skip
        geometry = _geometry(dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation),
                             False)  # fmt: skip
        kernel_map = inverse_kernel_map(build_kernel_map(out_coords, tuple(spatial_shape), geometry))
        out = sparse_conv(features, weight, kernel_map)
        return (out if bias is None else out + bias,)


REFERENCE_OPS = (SparseConv3d, SparseInverseConv3d)


class ReferenceEngine:
    """A plugin-flavour (or any) graph run by `onnx.reference.ReferenceEvaluator` with the `spot` ops: slow,
    exact semantics, for verification on CPU."""

    def __init__(self, model_path: Path):
        register_schemas()
        self.evaluator = ReferenceEvaluator(str(model_path), new_ops=list(REFERENCE_OPS))
        self.input_names = tuple(self.evaluator.input_names)
        self.output_names = tuple(self.evaluator.output_names)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.evaluator.run(None, feeds), strict=True))
