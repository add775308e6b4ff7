"""SemanticKITTI per-point labels: `uint32` per point, semantic id in the low 16 bits, instance in the high 16.

A label-map YAML (the dataset's `semantic-kitti.yaml`) maps raw ids to training ids (`learning_map`) and names
them (`labels`, `learning_map_inv`). Training id 0 is "unlabeled" there; the contract's class ids drop it, so
class id = training id - 1 and unlabeled becomes `IGNORE_INDEX`.

Layout: `<root>/sequences/SS/velodyne/ID.bin` with `<root>/sequences/SS/labels/ID.label` beside, and the
label map at `<root>/semantic-kitti.yaml` (found by walking up from the scan) unless one is passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..errors import SpotInputError
from ..sample import IGNORE_INDEX, Sample
from ..scan import REQUIRED_COLUMNS, Scan, drop_non_finite, require_points
from .binary import KITTI_INTENSITY_SCALE, read_intensity_rows

# The dataset's own label map, or the description `spot-data simulate` writes (it holds the same sections).
LABEL_MAP_NAMES = ("semantic-kitti.yaml", "dataset.yaml")


def read_label_file(path: str | Path, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw (semantic uint16 -> int32, instance int32) per point; the count must match the scan's."""
    check_label_file(path, num_points)
    raw = np.fromfile(path, dtype="<u4")
    return (raw & 0xFFFF).astype(np.int32), (raw >> 16).astype(np.int32)


def check_label_file(path: str | Path, num_points: int) -> None:
    """Refuse a label file that does not hold one uint32 per point, from its size alone."""
    path = Path(path)
    if not path.is_file():
        raise SpotInputError("no such label file", source=path)
    size = path.stat().st_size
    if size % 4:
        raise SpotInputError(f"size {size} bytes is not a multiple of 4 (one uint32 per point)", source=path)
    if size // 4 != num_points:
        raise SpotInputError(f"has {size // 4} labels but the scan has {num_points} points", source=path)


def write_label_file(path: str | Path, semantic: np.ndarray, instance: np.ndarray) -> None:
    """Write raw semantic ids (< 2**16) and instance ids (< 2**16) in SemanticKITTI's uint32 packing."""
    semantic = np.asarray(semantic, dtype=np.int64)
    instance = np.asarray(instance, dtype=np.int64)
    if semantic.shape != instance.shape:
        raise SpotInputError(f"{semantic.shape[0]} semantic ids but {instance.shape[0]} instance ids", source=path)
    if semantic.size and (
        semantic.min() < 0 or semantic.max() > 0xFFFF or instance.min() < 0 or instance.max() > 0xFFFF
    ):
        raise SpotInputError("semantic and instance ids must lie in [0, 65535]", source=path)
    ((instance << 16) | semantic).astype("<u4").tofile(Path(path))


@dataclass(frozen=True)
class LabelMap:
    """Raw SemanticKITTI ids -> contract class ids, from a label-map YAML."""

    class_names: tuple[str, ...]
    lookup: np.ndarray  # int32 (65536,): raw id -> class id or IGNORE_INDEX

    @classmethod
    def from_yaml(cls, path: str | Path) -> LabelMap:
        path = Path(path)
        try:
            config = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise SpotInputError(f"cannot read label map: {error}", source=path) from error
        for key in ("labels", "learning_map", "learning_map_inv"):
            if not isinstance(config, dict) or not isinstance(config.get(key), dict):
                raise SpotInputError(f"label map has no {key!r} section (a mapping)", source=path)
        learning_map = _id_map(config["learning_map"], "learning_map", path)
        inverse = _id_map(config["learning_map_inv"], "learning_map_inv", path)
        unnamed = sorted(raw for raw in inverse.values() if raw not in config["labels"])
        if unnamed:
            raise SpotInputError(f"learning_map_inv names raw ids {unnamed} that 'labels' lacks", source=path)
        names = tuple(str(config["labels"][inverse[i]]) for i in sorted(inverse) if i != 0)
        lookup = np.full(1 << 16, IGNORE_INDEX, dtype=np.int32)
        for raw, train in learning_map.items():
            lookup[raw] = train - 1 if train > 0 else IGNORE_INDEX
        return cls(names, lookup)

    def __call__(self, raw_semantic: np.ndarray) -> np.ndarray:
        return self.lookup[np.asarray(raw_semantic, dtype=np.int64) & 0xFFFF]


def _id_map(section: dict, key: str, path: Path) -> dict[int, int]:
    """A label-map section as {int: int}, every id a raw SemanticKITTI semantic id (16 bits, 0-65535)."""
    try:
        ids = {int(raw): int(value) for raw, value in section.items()}
    except (TypeError, ValueError) as error:
        raise SpotInputError(f"{key} must map whole numbers to whole numbers: {error}", source=path) from error
    outside = sorted(i for pair in ids.items() for i in pair if not 0 <= i <= 0xFFFF)
    if outside:
        raise SpotInputError(f"{key} holds ids {outside[:5]} outside 0-65535 (16-bit semantic ids)", source=path)
    return ids


def label_path_for(velodyne_path: Path) -> Path:
    """`.../SS/velodyne/ID.bin` -> `.../SS/labels/ID.label`."""
    return velodyne_path.parent.parent / "labels" / f"{velodyne_path.stem}.label"


def find_label_map(velodyne_path: Path) -> Path:
    """The nearest label map above the scan (the dataset root holds it beside `sequences/`)."""
    for folder in velodyne_path.resolve().parents:
        for name in LABEL_MAP_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise SpotInputError(
        f"labels found beside the scan but no {' or '.join(LABEL_MAP_NAMES)} in any folder above it; "
        "put the label map at the dataset root or pass label_map=",
        source=velodyne_path,
    )


def read_semantickitti(velodyne_path: str | Path, label_map: str | Path | LabelMap | None = None) -> Sample:
    """One SemanticKITTI frame: scan, class ids (into the label map's names), instance ids. `label_map`: a
    label-map YAML or a loaded `LabelMap`; default: the one found above the scan."""
    velodyne_path = Path(velodyne_path)
    if not isinstance(label_map, LabelMap):
        label_map = LabelMap.from_yaml(label_map if label_map is not None else find_label_map(velodyne_path))
    rows = read_intensity_rows(velodyne_path, 4, KITTI_INTENSITY_SCALE)  # labels count every row, finite or not
    semantic, instance = read_label_file(label_path_for(velodyne_path), len(rows))
    scan_rows, semantic, instance = drop_non_finite(rows, semantic, instance, source=velodyne_path)
    require_points(len(scan_rows), velodyne_path)
    return Sample(
        Scan(np.ascontiguousarray(scan_rows), REQUIRED_COLUMNS),
        labels=label_map(semantic),
        instances=instance,
        dataset="semantickitti",
        source=str(velodyne_path),
        class_names=label_map.class_names,
    )
