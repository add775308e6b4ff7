"""NumPy files: `.npy` point arrays and spot's `.npz` sample archive.

`.npy` holds either a structured array (fields named as in PCD/PLY, see `fields.py`) or a plain (N, C)
array whose columns are read by count: 3 = x y z (intensity 0), 4 = + intensity, 5 = + ring, 6 = + time.
Intensity follows the rule in `fields.py`.

The `.npz` archive stores a whole Sample: `points` (N, C) float32, `columns`, and where present `labels`,
`instances`, `boxes` (M, 7), `box_class_ids`, `class_names`, `box_class_names`, `pose` and `dataset`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..boxes import Boxes
from ..errors import SpotInputError
from ..sample import Sample
from ..scan import COLUMNS, Scan
from .fields import numeric, scan_from_fields

COLUMNS_BY_COUNT = {3: COLUMNS[:3], 4: COLUMNS[:4], 5: COLUMNS[:5], 6: COLUMNS[:6]}


def load_array_file(path: Path):
    """`np.load` with bad files turned into one SpotInputError (pickles are never loaded)."""
    if not path.is_file():
        raise SpotInputError("no such file", source=path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        message = f"cannot load as a NumPy file (truncated or not .npy/.npz): {error}"
        raise SpotInputError(message, source=path) from error


def read_npy(path: str | Path) -> Scan:
    path = Path(path)
    array = load_array_file(path)
    if array.dtype.names:
        return scan_from_fields({name: array[name] for name in array.dtype.names}, path)
    if array.ndim != 2 or array.shape[1] not in COLUMNS_BY_COUNT:
        raise SpotInputError(
            f"array of shape {array.shape}: expected (N, 3..6) = x y z [intensity [ring [time]]]", source=path
        )
    return scan_from_fields(dict(zip(COLUMNS_BY_COUNT[array.shape[1]], array.T, strict=True)), path)


def write_npy(path: str | Path, scan: Scan) -> None:
    """The scan's float32 (N, C) array; its columns are the canonical prefix, so `read_npy` names them back."""
    if scan.columns != COLUMNS[: len(scan.columns)]:
        raise SpotInputError(f"columns {scan.columns} are not a prefix of {COLUMNS}; write a .npz instead", source=path)
    np.save(Path(path), scan.points)


def sample_from_archive(archive, path: Path) -> Sample:
    """A Sample from spot's `.npz` keys (see the module docstring)."""
    if "points" not in archive or "columns" not in archive:
        raise SpotInputError(f"npz has keys {sorted(archive.keys())}; expected 'points' and 'columns'", source=path)
    columns = tuple(str(c) for c in np.atleast_1d(archive["columns"]))
    scan = Scan(np.asarray(numeric(archive["points"], "points", path), dtype=np.float32), columns)
    boxes = None
    if "boxes" in archive:
        boxes = Boxes(archive["boxes"], archive.get("box_class_ids", []))
    optional = {key: archive.get(key) for key in ("labels", "instances", "pose")}
    return Sample(
        scan,
        boxes=boxes,
        dataset=str(archive["dataset"]) if "dataset" in archive else "unknown",
        source=str(path),
        class_names=tuple(str(name) for name in archive.get("class_names", ())),
        box_class_names=tuple(str(name) for name in archive.get("box_class_names", ())),
        **optional,
    )


def write_npz(path: str | Path, sample: Sample) -> None:
    """A Sample as a compressed `.npz` archive that `sample_from_archive` reads back exactly."""
    arrays = {"points": sample.scan.points, "columns": np.asarray(sample.scan.columns), "dataset": sample.dataset}
    for key in ("labels", "instances", "pose"):
        if getattr(sample, key) is not None:
            arrays[key] = getattr(sample, key)
    if sample.boxes is not None:
        arrays["boxes"], arrays["box_class_ids"] = sample.boxes.data, sample.boxes.class_ids
    if sample.class_names:
        arrays["class_names"] = np.asarray(sample.class_names)
    if sample.box_class_names:
        arrays["box_class_names"] = np.asarray(sample.box_class_names)
    np.savez_compressed(Path(path), **arrays)
