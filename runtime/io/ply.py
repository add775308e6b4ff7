"""PLY point clouds through `plyfile`: the `vertex` element's properties map onto Scan columns by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement, PlyParseError

from ..errors import SpotInputError
from ..scan import Scan
from .fields import scan_from_fields


def read_ply(path: str | Path) -> Scan:
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such file", source=path)
    try:
        ply = PlyData.read(str(path))
        vertices = ply["vertex"].data
    except KeyError as error:
        raise SpotInputError("PLY file has no 'vertex' element", source=path) from error
    except (PlyParseError, ValueError, EOFError) as error:
        raise SpotInputError(f"cannot parse PLY (truncated or malformed?): {error}", source=path) from error
    return scan_from_fields({name: vertices[name] for name in vertices.dtype.names}, path)


def write_ply(path: str | Path, scan: Scan, binary: bool = True) -> None:
    """Every Scan column as a float32 vertex property (binary little-endian, or ASCII)."""
    vertices = np.empty(len(scan), dtype=[(name, "<f4") for name in scan.columns])
    for index, name in enumerate(scan.columns):
        vertices[name] = scan.points[:, index]
    PlyData([PlyElement.describe(vertices, "vertex")], text=not binary).write(str(path))
