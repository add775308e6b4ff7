"""sensor_msgs/PointCloud2 <-> numpy without rclpy: the bag reader, the `spot_ros` node and `spot-replay` share it.

A PointCloud2 is `height x width` points of `point_step` bytes each, rows `row_step` bytes apart, with named
fields at byte offsets in either byte order. Drivers use every freedom that layout gives (field order, padding
between fields and at the end of rows, organized clouds with NaN holes, big-endian sensors), so this module
reads the layout from the message instead of assuming one, and refuses layouts that do not fit with a
`SpotInputError` naming the field. Messages are duck-typed (`height`, `width`, `fields` with `name`, `offset`,
`datatype`, `count`, `is_bigendian`, `point_step`, `row_step`, `data`): rclpy messages and rosbags' decoded
messages both work.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from ..errors import SpotInputError
from ..scan import Scan, finite_rows, require_points
from .fields import FIELD_ALIASES, find_field, normalise_intensity, scan_from_fields

SOURCE = "PointCloud2"

# sensor_msgs/PointField datatype constants -> numpy scalar type (byte order applied per message).
DATATYPES: dict[int, str] = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
DATATYPE_OF: dict[str, int] = {code: datatype for datatype, code in DATATYPES.items()}


@dataclass(frozen=True)
class FieldSpec:
    """One sensor_msgs/PointField: `count` values of `datatype` at byte `offset` of each point."""

    name: str
    offset: int
    datatype: int
    count: int = 1


@dataclass(frozen=True)
class CloudData:
    """Everything of a PointCloud2 but its header; `spot_ros.messages.cloud_message` copies it into a ROS message."""

    height: int
    width: int
    fields: tuple[FieldSpec, ...]
    is_bigendian: bool
    point_step: int
    row_step: int
    data: np.ndarray  # uint8 (height * row_step,)
    is_dense: bool

    def __len__(self) -> int:
        return self.height * self.width


def cloud_dtype(fields: Sequence[Any], point_step: int, is_bigendian: bool) -> np.dtype:
    """The structured dtype of one point (itemsize `point_step`), checked against the point size.

    Fields must be named, known, inside the point and apart from each other: numpy would happily read a float64
    `x` that overlaps `y`, turning a driver bug into silently wrong coordinates.
    """
    if point_step <= 0:
        raise SpotInputError(f"point_step must be positive, got {point_step}", source=SOURCE)
    order = ">" if is_bigendian else "<"
    names, formats, offsets, spans = [], [], [], []
    for field in fields:
        if not field.name:
            raise SpotInputError(f"has a field with an empty name (at offset {field.offset})", source=SOURCE)
        if field.datatype not in DATATYPES:
            raise SpotInputError(
                f"field {field.name!r} has datatype {field.datatype}; expected one of {sorted(DATATYPES)}",
                source=SOURCE,
            )
        if field.name in names:
            raise SpotInputError(f"field {field.name!r} appears twice", source=SOURCE)
        scalar = np.dtype(order + DATATYPES[field.datatype])
        count = max(int(field.count), 1)
        end = int(field.offset) + scalar.itemsize * count
        if field.offset < 0 or end > point_step:
            raise SpotInputError(
                f"field {field.name!r} ({count} x {scalar.name} at offset {field.offset}) does not fit in "
                f"point_step {point_step}",
                source=SOURCE,
            )
        names.append(field.name)
        formats.append(scalar if count == 1 else np.dtype((scalar, (count,))))
        offsets.append(int(field.offset))
        spans.append((int(field.offset), end, field.name))
    _refuse_overlaps(spans)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})


def _refuse_overlaps(spans: list[tuple[int, int, str]]) -> None:
    """`spans` are (first byte, end byte, name) of each field; two fields sharing a byte are refused."""
    ordered = sorted(spans)
    for (_, end, name), (start, _, following) in pairwise(ordered):
        if start < end:
            raise SpotInputError(
                f"fields {name!r} (bytes up to {end}) and {following!r} (from byte {start}) overlap", source=SOURCE
            )


def point_bytes(message: Any) -> np.ndarray:
    """uint8 (height * width, point_step): each point's bytes in row-major order, row padding removed."""
    height, width, step, row_step = (
        int(message.height),
        int(message.width),
        int(message.point_step),
        int(message.row_step),
    )
    if height < 0 or width < 0 or step <= 0:
        raise SpotInputError(f"has height {height}, width {width}, point_step {step}", source=SOURCE)
    if row_step < width * step:
        raise SpotInputError(f"row_step {row_step} is less than width {width} x point_step {step}", source=SOURCE)
    data = np.frombuffer(message.data, dtype=np.uint8)
    if data.size < height * row_step:
        raise SpotInputError(
            f"data holds {data.size} bytes; height {height} x row_step {row_step} needs {height * row_step}",
            source=SOURCE,
        )
    rows = data[: height * row_step].reshape(height, row_step)[:, : width * step]
    return rows.reshape(height * width, step)


def read_points(message: Any) -> np.ndarray:
    """The message's points as a structured array (height * width,) with one named field per PointField."""
    dtype = cloud_dtype(message.fields, int(message.point_step), bool(message.is_bigendian))
    return np.ascontiguousarray(point_bytes(message)).view(dtype).reshape(-1)


def field_arrays(points: np.ndarray) -> dict[str, np.ndarray]:
    """Structured points -> {name: 1-D native-endian array} for the single-valued fields."""
    return {
        name: points[name].astype(points.dtype[name].newbyteorder("="), copy=False)
        for name in points.dtype.names
        if points.dtype[name].shape == ()
    }


def cloud_to_scan(message: Any, columns: Sequence[str] | None = None) -> tuple[Scan, np.ndarray]:
    """A Scan with `columns` (default: every Scan column the cloud has) from a PointCloud2, and the index (M,)
    of the input points it keeps.

    Only the fields `columns` need are read. Points where one of them is not finite are left out, as organized
    clouds mark missing returns with NaN; the index lets per-point results be scattered back onto the full cloud.
    Intensity follows the Scan rule (`io.fields.normalise_intensity`).
    """
    packed = _packed_float_columns(message, columns)
    if packed is not None:
        return _scan_from_block(packed, tuple(columns))
    fields = field_arrays(read_points(message))
    missing = [axis for axis in "xyz" if axis not in fields]
    if missing:
        raise SpotInputError(f"has no {missing} field(s); fields are {sorted(fields)}", source=SOURCE)
    wanted = FIELD_ALIASES if columns is None else ("intensity", *(c for c in ("ring", "time") if c in columns))
    used = {name: fields[name] for name in (*"xyz", *(find_field(list(fields), c) for c in wanted)) if name}
    finite = np.ones(len(fields["x"]), dtype=bool)
    for values in used.values():
        if np.issubdtype(values.dtype, np.floating):
            finite &= np.isfinite(values)
    kept = np.flatnonzero(finite)
    if len(kept) < len(finite):  # a dense cloud (the usual case) needs no gather
        used = {name: values[kept] for name, values in used.items()}
    scan = scan_from_fields(used, source=SOURCE)
    return (scan if columns is None else scan.with_columns(tuple(columns))), kept


def _packed_float_columns(message: Any, columns: Sequence[str] | None) -> np.ndarray | None:
    """float32 (height * width, len(columns)), one contiguous copy, when the cloud stores `columns` as native
    float32 fields side by side in that order (x, y, z, intensity from most drivers and from spot-replay); else
    None and the general path reads field by field (strided copies, ~3x slower at 120k points)."""
    if columns is None or bool(message.is_bigendian) != (sys.byteorder == "big") or message.point_step % 4:
        return None
    by_name = {field.name: field for field in message.fields}
    found = [by_name.get(c if c in ("x", "y", "z") else find_field(list(by_name), c)) for c in columns]
    if any(f is None or f.datatype != DATATYPE_OF["f4"] or max(int(f.count), 1) != 1 for f in found):
        return None
    first = int(found[0].offset)
    if first % 4 or [int(f.offset) for f in found] != list(range(first, first + 4 * len(found), 4)):
        return None
    cloud_dtype(message.fields, int(message.point_step), bool(message.is_bigendian))  # the layout checks
    words = np.ascontiguousarray(point_bytes(message)).view(np.float32)
    return np.array(words[:, first // 4 : first // 4 + len(found)])


def _scan_from_block(points: np.ndarray, columns: tuple[str, ...]) -> tuple[Scan, np.ndarray]:
    """`cloud_to_scan` for a packed float32 block: one finiteness pass, intensity normalised in place."""
    finite = finite_rows(points)
    if finite is None:
        kept = np.arange(len(points))
    else:
        kept = np.flatnonzero(finite)
        points = points[kept]
    require_points(len(points), SOURCE)
    intensity = columns.index("intensity")
    points[:, intensity] = normalise_intensity(points[:, intensity], SOURCE)
    return Scan(points, columns), kept


def cloud_data(message: Any) -> CloudData:
    """The layout of a decoded PointCloud2 (rosbags or rclpy) as `CloudData`, bytes as recorded."""
    fields = tuple(FieldSpec(f.name, int(f.offset), int(f.datatype), int(f.count)) for f in message.fields)
    return CloudData(
        int(message.height),
        int(message.width),
        fields,
        bool(message.is_bigendian),
        int(message.point_step),
        int(message.row_step),
        np.frombuffer(message.data, dtype=np.uint8),
        bool(message.is_dense),
    )


def scan_to_cloud(scan: Scan) -> CloudData:
    """An unorganized little-endian float32 cloud with one field per Scan column (what spot-replay sends)."""
    points = np.ascontiguousarray(scan.points, dtype="<f4")
    step = 4 * points.shape[1]
    fields = tuple(FieldSpec(name, 4 * i, DATATYPE_OF["f4"]) for i, name in enumerate(scan.columns))
    return CloudData(1, len(points), fields, False, step, step * len(points), points.view(np.uint8).reshape(-1), True)


def append_fields(message: Any, extra: Mapping[str, np.ndarray]) -> CloudData:
    """The input cloud with per-point `extra` fields (name -> (height * width,) array) appended to every point.

    The input's bytes and fields are kept as they are (a field of the same name as an extra one is replaced),
    so a consumer sees the driver's own fields next to spot's; new fields go after the input's point in the
    input's byte order, each aligned to its size. Organized clouds stay organized; row padding is dropped.
    """
    raw = point_bytes(message)
    count, step = raw.shape
    order = ">" if message.is_bigendian else "<"
    fields = [FieldSpec(f.name, int(f.offset), int(f.datatype), int(f.count)) for f in message.fields]
    fields = [field for field in fields if field.name not in extra]
    layout, offset = {"names": ["spot_input_point"], "formats": [f"V{step}"], "offsets": [0]}, step
    columns = []
    for name, values in extra.items():
        values = np.asarray(values)
        if values.shape != (count,):
            raise SpotInputError(f"extra field {name!r} has shape {values.shape}; expected ({count},)", source=SOURCE)
        scalar = values.dtype.newbyteorder(order)
        offset += -offset % scalar.itemsize
        fields.append(FieldSpec(name, offset, DATATYPE_OF[scalar.str[1:]]))
        layout["names"].append(name)
        layout["formats"].append(scalar)
        layout["offsets"].append(offset)
        columns.append(values)
        offset += scalar.itemsize
    point_step = offset + -offset % 4
    points = np.zeros(count, dtype=np.dtype({**layout, "itemsize": point_step}))  # zeroed padding
    points["spot_input_point"] = raw.view(f"V{step}").reshape(count)  # field by field: strided copies, no per-byte work
    for name, values in zip(layout["names"][1:], columns, strict=True):
        points[name] = values
    data = points.view(np.uint8)
    height, width = int(message.height), int(message.width)
    return CloudData(
        height,
        width,
        tuple(fields),
        bool(message.is_bigendian),
        point_step,
        width * point_step,
        data.reshape(-1),
        bool(message.is_dense),
    )
