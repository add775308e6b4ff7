"""PCD files (ASCII, binary, binary_compressed) through `pypcd4`.

Fields map onto Scan columns by name (`fields.py`: intensity by dtype / range, `channel` -> ring, integer
`time_stamp` ns -> seconds). The header is checked here first and then against the body, so an unsupported
field type, a header that disagrees with itself (SIZE / TYPE / COUNT entries vs FIELDS, WIDTH x HEIGHT vs
POINTS) or with the data (POINTS vs the rows or bytes that follow) is one clear error, instead of a
traceback from deep inside the library or, worse, a silently shortened scan (pypcd4 reads POINTS rows of a
binary body and ignores the rest).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from pypcd4 import Encoding, PointCloud

from ..errors import SpotInputError
from ..scan import Scan
from .fields import scan_from_fields

PCD_TYPES = {"F": (4, 8), "U": (1, 2, 4, 8), "I": (1, 2, 4, 8)}
ENCODINGS = {"ascii": Encoding.ASCII, "binary": Encoding.BINARY, "binary_compressed": Encoding.BINARY_COMPRESSED}
MAX_HEADER_LINES = 20
COMPRESSED_SIZES = struct.Struct("<II")  # binary_compressed: compressed and uncompressed byte counts


def read_pcd_header(path: Path) -> tuple[dict[str, list[str]], int]:
    """Header entries (upper-case key -> values) up to DATA, checked for consistency, and the body's offset."""
    header: dict[str, list[str]] = {}
    with path.open("rb") as stream:
        for _ in range(MAX_HEADER_LINES):
            words = stream.readline().decode("ascii", errors="replace").split()
            if words and not words[0].startswith("#"):
                header[words[0].upper()] = words[1:]
            if words and words[0].upper() == "DATA":
                break
        offset = stream.tell()
    for key in ("FIELDS", "SIZE", "TYPE", "DATA", "POINTS"):
        if key not in header:
            raise SpotInputError(f"not a PCD file: the header has no {key} line", source=path)
    fields = header["FIELDS"]
    for key in ("SIZE", "TYPE", "COUNT"):
        if key in header and len(header[key]) != len(fields):
            raise SpotInputError(f"header has {len(header[key])} {key} entries for {len(fields)} FIELDS {fields}",
                                 source=path)  # fmt: skip
    for name, size, kind in zip(fields, header["SIZE"], header["TYPE"], strict=True):
        if kind not in PCD_TYPES or not size.isdigit() or int(size) not in PCD_TYPES[kind]:
            raise SpotInputError(
                f"field {name!r} has TYPE {kind} SIZE {size}; PCD supports F 4/8, U 1/2/4/8, I 1/2/4/8", source=path
            )
    if not all(count.isdigit() and int(count) > 0 for count in header.get("COUNT", [])):
        raise SpotInputError(f"header COUNT {header['COUNT']}: expected a positive whole number per field", source=path)
    counts = {key: _whole_number(header, key, path) for key in ("POINTS", "WIDTH", "HEIGHT") if key in header}
    if "WIDTH" in counts and counts.get("HEIGHT", 1) * counts["WIDTH"] != counts["POINTS"]:
        raise SpotInputError(f"header says WIDTH {counts['WIDTH']} x HEIGHT {counts.get('HEIGHT', 1)} but POINTS "
                             f"{counts['POINTS']}", source=path)  # fmt: skip
    return header, offset


def _whole_number(header: dict[str, list[str]], key: str, path: Path) -> int:
    value = header[key][0] if header[key] else ""
    if not value.isdigit():
        raise SpotInputError(f"header {key} is {value!r}; expected a whole number", source=path)
    return int(value)


def check_body_size(path: Path, header: dict[str, list[str]], offset: int) -> None:
    """The binary body holds exactly POINTS rows (binary_compressed: it decompresses to exactly that)."""
    encoding = header["DATA"][0].lower() if header["DATA"] else ""
    counts = [int(c) for c in header["COUNT"]] if "COUNT" in header else [1] * len(header["FIELDS"])
    row_bytes = sum(int(size) * count for size, count in zip(header["SIZE"], counts, strict=True))
    points, body = int(header["POINTS"][0]), path.stat().st_size - offset
    if encoding == "binary" and body != points * row_bytes:
        raise SpotInputError(f"header says POINTS {points} ({points * row_bytes} bytes of {row_bytes}-byte rows) "
                             f"but the binary body has {body} bytes", source=path)  # fmt: skip
    if encoding == "binary_compressed" and points:
        with path.open("rb") as stream:
            stream.seek(offset)
            sizes = stream.read(COMPRESSED_SIZES.size)
        if len(sizes) < COMPRESSED_SIZES.size:
            raise SpotInputError("binary_compressed body ends before its size fields", source=path)
        compressed, uncompressed = COMPRESSED_SIZES.unpack(sizes)
        if uncompressed != points * row_bytes:
            raise SpotInputError(f"header says POINTS {points} ({points * row_bytes} bytes) but the compressed "
                                 f"body decompresses to {uncompressed} bytes", source=path)  # fmt: skip
        if body - COMPRESSED_SIZES.size < compressed:
            raise SpotInputError(f"binary_compressed body is truncated: {body - COMPRESSED_SIZES.size} of "
                                 f"{compressed} compressed bytes", source=path)  # fmt: skip


def read_pcd(path: str | Path) -> Scan:
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such file", source=path)
    header, offset = read_pcd_header(path)
    check_body_size(path, header, offset)
    try:
        cloud = PointCloud.from_path(path)
    except (ValueError, KeyError, RuntimeError, OSError, IndexError) as error:
        raise SpotInputError(
            f"cannot decode the {header['DATA'][0]} PCD data (truncated or inconsistent header?): {error}", source=path
        ) from error
    data = np.atleast_1d(cloud.pc_data)  # pypcd4's ASCII reader gives a 0-d array for a one-row body
    if len(data) != int(header["POINTS"][0]):
        raise SpotInputError(f"header says POINTS {header['POINTS'][0]} but the body holds {len(data)} points",
                             source=path)  # fmt: skip
    return scan_from_fields({name: data[name] for name in data.dtype.names}, path)


def write_pcd(path: str | Path, scan: Scan, encoding: str = "binary_compressed") -> None:
    """Every Scan column as a float32 PCD field, in `encoding` (ascii, binary or binary_compressed)."""
    if encoding not in ENCODINGS:
        raise SpotInputError(f"PCD encoding {encoding!r} is not one of {sorted(ENCODINGS)}", source=path)
    cloud = PointCloud.from_points(scan.points, scan.columns, [np.float32] * len(scan.columns))
    cloud.save(Path(path), encoding=ENCODINGS[encoding])
