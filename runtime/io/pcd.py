"""PCD files (ASCII, binary, binary_compressed) through `pypcd4`.

Fields map onto Scan columns by name (`fields.py`: intensity by dtype / range, `channel` -> ring, integer
`time_stamp` ns -> seconds). The header is checked here first, so an unsupported field type or a short
file is one clear error instead of a pydantic or numpy traceback from deep inside the library.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pypcd4 import Encoding, PointCloud

from ..errors import SpotInputError
from ..scan import Scan
from .fields import scan_from_fields

PCD_TYPES = {"F": (4, 8), "U": (1, 2, 4, 8), "I": (1, 2, 4, 8)}
ENCODINGS = {"ascii": Encoding.ASCII, "binary": Encoding.BINARY, "binary_compressed": Encoding.BINARY_COMPRESSED}
MAX_HEADER_LINES = 20


def read_pcd_header(path: Path) -> dict[str, list[str]]:
    """Header entries (upper-case key -> values) up to DATA, with every field's TYPE/SIZE checked."""
    header: dict[str, list[str]] = {}
    with path.open("rb") as stream:
        for _ in range(MAX_HEADER_LINES):
            words = stream.readline().decode("ascii", errors="replace").split()
            if words and not words[0].startswith("#"):
                header[words[0].upper()] = words[1:]
            if words and words[0].upper() == "DATA":
                break
    for key in ("FIELDS", "SIZE", "TYPE", "DATA"):
        if key not in header:
            raise SpotInputError(f"not a PCD file: the header has no {key} line", source=path)
    for name, size, kind in zip(header["FIELDS"], header["SIZE"], header["TYPE"], strict=False):
        if kind not in PCD_TYPES or not size.isdigit() or int(size) not in PCD_TYPES[kind]:
            raise SpotInputError(
                f"field {name!r} has TYPE {kind} SIZE {size}; PCD supports F 4/8, U 1/2/4/8, I 1/2/4/8", source=path
            )
    return header


def read_pcd(path: str | Path) -> Scan:
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such file", source=path)
    header = read_pcd_header(path)
    try:
        cloud = PointCloud.from_path(path)
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        raise SpotInputError(
            f"cannot decode the {header['DATA'][0]} PCD data (truncated or inconsistent header?): {error}", source=path
        ) from error
    data = cloud.pc_data
    return scan_from_fields({name: data[name] for name in data.dtype.names}, path)


def write_pcd(path: str | Path, scan: Scan, encoding: str = "binary_compressed") -> None:
    """Every Scan column as a float32 PCD field, in `encoding` (ascii, binary or binary_compressed)."""
    if encoding not in ENCODINGS:
        raise SpotInputError(f"PCD encoding {encoding!r} is not one of {sorted(ENCODINGS)}", source=path)
    cloud = PointCloud.from_points(scan.points, scan.columns, [np.float32] * len(scan.columns))
    cloud.save(Path(path), encoding=ENCODINGS[encoding])
