"""PointCloud2 <-> numpy on the layouts drivers really send: any field order, padding, byte order, organized."""

from types import SimpleNamespace

import numpy as np
import pytest

from spot.runtime import Scan, SpotInputError
from spot.runtime.io.pointcloud2 import (
    DATATYPE_OF,
    FieldSpec,
    append_fields,
    cloud_to_scan,
    read_points,
    scan_to_cloud,
)

XYZI = ("x", "y", "z", "intensity")


def message(points: np.ndarray, height: int = 1, row_padding: int = 0, **overrides) -> SimpleNamespace:
    """A PointCloud2-like message holding a structured array exactly as its dtype lays it out."""
    fields = [
        FieldSpec(name, offset, DATATYPE_OF[dtype.str[1:]]) for name, (dtype, offset) in points.dtype.fields.items()
    ]
    width = points.size // height
    step = points.dtype.itemsize
    rows = points.reshape(height, width).view(np.uint8).reshape(height, width * step)
    rows = np.concatenate([rows, np.full((height, row_padding), 0xAB, np.uint8)], axis=1)
    layout = dict(
        height=height,
        width=width,
        fields=fields,
        is_bigendian=points.dtype[0].byteorder == ">",
        point_step=step,
        row_step=width * step + row_padding,
        data=rows.tobytes(),
        is_dense=False,
    )
    return SimpleNamespace(**{**layout, **overrides})


def structured(columns: dict[str, np.ndarray], order: str = "<", offsets=None, itemsize=None) -> np.ndarray:
    names = list(columns)
    formats = [np.dtype(columns[name].dtype).newbyteorder(order) for name in names]
    spec = {"names": names, "formats": formats}
    if offsets is not None:
        spec.update(offsets=offsets, itemsize=itemsize)
    out = np.zeros(len(next(iter(columns.values()))), dtype=np.dtype(spec))
    for name in names:
        out[name] = columns[name]
    return out


def random_xyzi(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-40, 40, (n, 3)).astype(np.float32)
    return {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "intensity": rng.uniform(0, 1, n).astype(np.float32)}


def test_scan_round_trip_is_exact():
    columns = random_xyzi(500)
    scan = Scan(np.stack(list(columns.values()), axis=1), XYZI)
    back, kept = cloud_to_scan(scan_to_cloud(scan), XYZI)
    np.testing.assert_array_equal(back.points, scan.points)
    np.testing.assert_array_equal(kept, np.arange(500))


@pytest.mark.parametrize("order", ["<", ">"])
def test_any_field_order_padding_and_byte_order(order):
    columns = random_xyzi(64, seed=1)
    # intensity first, gaps between fields, a 40-byte point: the layout of e.g. an Ouster or Hesai driver.
    points = structured(
        {"intensity": columns["intensity"], "z": columns["z"], "x": columns["x"], "y": columns["y"]},
        order=order,
        offsets=[0, 8, 16, 28],
        itemsize=40,
    )
    scan, _ = cloud_to_scan(message(points), XYZI)
    expected = np.stack([columns[name] for name in XYZI], axis=1)
    np.testing.assert_array_equal(scan.points, expected)


def test_organized_cloud_with_row_padding_and_nan_holes():
    columns = random_xyzi(4 * 8, seed=2)
    columns["x"][[3, 17]] = np.nan
    columns["z"][25] = np.inf
    scan, kept = cloud_to_scan(message(structured(columns), height=4, row_padding=12), XYZI)
    expected_kept = np.setdiff1d(np.arange(32), [3, 17, 25])
    np.testing.assert_array_equal(kept, expected_kept)
    np.testing.assert_array_equal(scan.points[:, 0], columns["x"][expected_kept])


@pytest.mark.parametrize("leading_field", [False, True])
def test_packed_float_columns_read_as_the_field_by_field_path_does(leading_field):
    """x, y, z, intensity as adjacent native float32 take one block copy; the result equals a layout that must be
    read field by field (reordered), holes, 0-255 float intensities and row padding included."""
    columns = random_xyzi(4 * 8, seed=8)
    columns["intensity"] *= 255.0
    columns["y"][[1, 30]] = np.nan
    packed = {"ring": np.arange(32, dtype=np.uint16), **columns} if leading_field else columns
    offsets = [0, 4, 8, 12, 16] if leading_field else None
    scan, kept = cloud_to_scan(
        message(structured(packed, offsets=offsets, itemsize=20 if leading_field else None), height=4, row_padding=8),
        XYZI,
    )
    reordered = structured({name: columns[name] for name in ("intensity", "z", "y", "x")})
    expected, expected_kept = cloud_to_scan(message(reordered, height=4, row_padding=8), XYZI)
    np.testing.assert_array_equal(kept, expected_kept)
    np.testing.assert_array_equal(scan.points, expected.points)
    assert scan.points.flags.c_contiguous and scan.points.dtype == np.float32
    np.testing.assert_allclose(scan.intensity, columns["intensity"][kept] / 255.0, rtol=1e-6)


def test_integer_intensity_ring_and_time_follow_the_scan_rules():
    rng = np.random.default_rng(3)
    columns = {
        **{axis: rng.normal(size=10).astype(np.float32) for axis in "xyz"},
        "reflectivity": np.arange(0, 250, 25, dtype=np.uint8),
        "channel": np.arange(10, dtype=np.uint16),
        "t": np.arange(10, dtype=np.uint32) * 1000,
    }
    scan, _ = cloud_to_scan(message(structured(columns)), ("x", "y", "z", "intensity", "ring", "time"))
    np.testing.assert_allclose(scan.intensity, columns["reflectivity"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(scan.column("ring"), np.arange(10))
    np.testing.assert_allclose(scan.column("time"), np.arange(10) * 1e-6, rtol=1e-6)


def test_multi_valued_fields_are_read_and_skipped_for_the_scan():
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u1", (4,))])
    points = np.zeros(3, dtype)
    points["x"] = [1, 2, 3]
    msg = message(points[["x", "y", "z"]].copy())
    msg.fields = [*msg.fields, FieldSpec("rgb", 12, DATATYPE_OF["u1"], count=4)]
    msg.point_step, msg.row_step, msg.data = 16, 48, points.tobytes()
    assert read_points(msg)["rgb"].shape == (3, 4)
    scan, _ = cloud_to_scan(msg, XYZI)
    np.testing.assert_array_equal(scan.points[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(scan.intensity, 0)


def good_message() -> SimpleNamespace:
    return message(structured(random_xyzi(16, seed=4)), height=2, row_padding=4)


BROKEN = {
    "no z field": lambda m: setattr(m, "fields", [f for f in m.fields if f.name != "z"]),
    "point_step smaller than fields": lambda m: setattr(m, "point_step", 8),
    "zero point_step": lambda m: setattr(m, "point_step", 0),
    "row_step too small": lambda m: setattr(m, "row_step", 10),
    "truncated data": lambda m: setattr(m, "data", m.data[:-7]),
    "unknown datatype": lambda m: setattr(m, "fields", [FieldSpec("x", 0, 42), *m.fields[1:]]),
    "duplicate field": lambda m: setattr(m, "fields", [*m.fields, m.fields[0]]),
    "float64 x overlapping y": lambda m: setattr(m, "fields", [FieldSpec("x", 0, DATATYPE_OF["f8"]), *m.fields[1:]]),
    "field with an empty name": lambda m: setattr(m, "fields", [*m.fields, FieldSpec("", 0, DATATYPE_OF["u1"])]),
    "empty cloud": lambda m: (setattr(m, "width", 0), setattr(m, "row_step", 0), setattr(m, "data", b"")),
    "all points NaN": lambda m: setattr(m, "data", np.full(len(m.data) // 4, np.nan, np.float32).tobytes()),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_malformed_messages_are_refused_with_a_spot_input_error(kind):
    msg = good_message()
    BROKEN[kind](msg)
    with pytest.raises(SpotInputError, match="PointCloud2"):
        cloud_to_scan(msg, XYZI)


def test_overlapping_and_unnamed_fields_are_named_in_the_error():
    msg = good_message()
    msg.fields = [FieldSpec("x", 0, DATATYPE_OF["f8"]), *msg.fields[1:]]
    with pytest.raises(SpotInputError, match=r"fields 'x' \(bytes up to 8\) and 'y' \(from byte 4\) overlap"):
        cloud_to_scan(msg, XYZI)
    msg = good_message()
    msg.fields = [*msg.fields, FieldSpec("", 12, DATATYPE_OF["f4"])]
    with pytest.raises(SpotInputError, match="a field with an empty name"):
        read_points(msg)


def test_every_scan_column_the_cloud_has_when_none_are_asked_for():
    rng = np.random.default_rng(7)
    columns = {**random_xyzi(10, seed=7), "ring": np.arange(10, dtype=np.uint16), "t": rng.integers(0, 10**6, 10)}
    columns["t"] = columns["t"].astype(np.uint32)
    scan, _ = cloud_to_scan(message(structured(columns)))
    assert scan.columns == ("x", "y", "z", "intensity", "ring", "time")
    np.testing.assert_allclose(scan.column("time"), columns["t"] * 1e-9, rtol=1e-6)


def test_a_column_the_model_needs_but_the_cloud_lacks_is_named():
    with pytest.raises(SpotInputError, match="ring"):
        cloud_to_scan(good_message(), ("x", "y", "z", "intensity", "ring"))


@pytest.mark.parametrize("order", ["<", ">"])
def test_append_fields_keeps_the_input_and_adds_aligned_fields(order):
    columns = random_xyzi(4 * 6, seed=5)
    points = structured(
        {"x": columns["x"], "y": columns["y"], "z": columns["z"], "ring": np.arange(24, dtype="u1")}, order=order
    )
    msg = message(points, height=4, row_padding=3)
    labels, scores = np.arange(24, dtype=np.uint16), np.linspace(0, 1, 24, dtype=np.float32)
    cloud = append_fields(msg, {"label": labels, "score": scores})
    assert (cloud.height, cloud.width, cloud.is_bigendian) == (4, 6, order == ">")
    offsets = {field.name: field.offset for field in cloud.fields}
    assert offsets["label"] % 2 == 0 and offsets["score"] % 4 == 0 and cloud.point_step % 4 == 0
    back = read_points(cloud)
    for name in ("x", "y", "z", "ring"):
        np.testing.assert_array_equal(back[name], points[name])
    np.testing.assert_array_equal(back["label"], labels)
    np.testing.assert_array_equal(back["score"], scores)


def test_append_fields_replaces_a_field_of_the_same_name():
    columns = random_xyzi(5, seed=6)
    msg = message(structured({**columns, "label": np.full(5, 7, np.uint32)}))
    cloud = append_fields(msg, {"label": np.arange(5, dtype=np.uint8)})
    assert [field.name for field in cloud.fields].count("label") == 1
    np.testing.assert_array_equal(read_points(cloud)["label"], np.arange(5))


def test_append_fields_refuses_misaligned_values():
    with pytest.raises(SpotInputError, match="label"):
        append_fields(good_message(), {"label": np.zeros(3, np.uint8)})
