"""One entry point for every scan format: `read_sample(path)`, `iter_samples(file_or_folder)`, `write_scan`.

Readers are chosen by file suffix from the explicit `READERS` dict (longest suffix wins, so `.pcd.bin` is
nuScenes and `.bin` is KITTI). A `.bin` is read with whatever its dataset layout puts beside it:
SemanticKITTI labels (`../labels/ID.label`), KITTI object boxes (`../label_2/ID.txt` + `../calib/ID.txt`),
or nothing. A reader returns every frame of its file (an Ouster archive holds several, a bag thousands: readers
may yield them one at a time). A rosbag2 recording folder (`metadata.yaml` beside its storage files) reads as one
file. Every error names the file it comes from, also those of contracts checked below the reader (a `Scan`'s
columns, a `Sample`'s labels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SpotInputError, errors_from
from ..sample import Sample
from ..scan import Scan
from . import arrays, kitti, nuscenes, ouster, pcd, ply, rosbag, semantickitti
from .binary import read_kitti_bin, write_kitti_bin, write_nuscenes_bin


@dataclass(frozen=True)
class ReadOptions:
    """Choices a file cannot carry itself. `label_map`: a SemanticKITTI label-map YAML to use instead of the
    `semantic-kitti.yaml` found above the scan; `topic`: the PointCloud2 topic of a bag that records several."""

    label_map: Path | None = None
    topic: str | None = None


Reader = Callable[[Path, ReadOptions], Iterable[Sample]]


def _read_velodyne_bin(path: Path, options: ReadOptions) -> list[Sample]:
    if semantickitti.label_path_for(path).is_file():
        return [semantickitti.read_semantickitti(path, options.label_map)]
    if kitti.has_kitti_object_labels(path):
        return [kitti.read_kitti_object(path)]
    return [Sample(read_kitti_bin(path), dataset="kitti", source=str(path))]


def _read_npz(path: Path, options: ReadOptions) -> list[Sample]:
    with arrays.load_array_file(path) as archive:
        if ouster.is_ouster_archive(archive):
            return ouster.ouster_frames(archive, path)
        return [arrays.sample_from_archive(archive, path)]


def _scan_only(read_scan: Callable[[Path], Scan], dataset: str) -> Reader:
    return lambda path, options: [Sample(read_scan(path), dataset=dataset, source=str(path))]


READERS: dict[str, Reader] = {
    ".pcd.bin": lambda path, options: [nuscenes.read_nuscenes(path)],
    ".bin": _read_velodyne_bin,
    ".pcd": _scan_only(pcd.read_pcd, "pcd"),
    ".ply": _scan_only(ply.read_ply, "ply"),
    ".npy": _scan_only(arrays.read_npy, "npy"),
    ".npz": _read_npz,
    **dict.fromkeys(rosbag.BAG_SUFFIXES, rosbag.read_bag),
}

WRITERS: dict[str, Callable[[Path, Scan], None]] = {
    ".pcd.bin": write_nuscenes_bin,
    ".bin": write_kitti_bin,
    ".pcd": pcd.write_pcd,
    ".ply": ply.write_ply,
    ".npy": arrays.write_npy,
}


def format_of(path: str | Path) -> str | None:
    """The registered suffix of `path` (longest match), or None."""
    name = Path(path).name.lower()
    return next((suffix for suffix in sorted(READERS, key=len, reverse=True) if name.endswith(suffix)), None)


def read_samples(path: str | Path, label_map: str | Path | None = None, topic: str | None = None) -> list[Sample]:
    """Every frame in one file (or rosbag2 folder)."""
    return list(_samples(Path(path), ReadOptions(Path(label_map) if label_map else None, topic)))


def read_sample(
    path: str | Path, frame: int = 0, label_map: str | Path | None = None, topic: str | None = None
) -> Sample:
    """Frame `frame` (0 for single-frame formats) of the file at `path`; frames before it are read, not kept."""
    index = -1
    for index, sample in enumerate(_samples(Path(path), ReadOptions(Path(label_map) if label_map else None, topic))):
        if index == frame:
            return sample
    raise SpotInputError(f"has {index + 1} frame(s); frame {frame} asked for", source=path)


def _samples(path: Path, options: ReadOptions) -> Iterable[Sample]:
    if rosbag.is_bag_folder(path):
        return rosbag.read_bag(path, options)
    suffix = format_of(path)
    if suffix is None:
        raise SpotInputError(f"unknown scan format; readable suffixes are {sorted(READERS)}", source=path)
    if not path.is_file():
        raise SpotInputError("no such file", source=path)
    return _named(path, READERS[suffix], options)


def _named(path: Path, reader: Callable[[Path, ReadOptions], Iterable[Sample]], options: ReadOptions):
    """The reader's samples, with any error below it (also while a lazy reader yields) naming `path`."""
    with errors_from(path):
        yield from reader(path, options)


def scan_files(folder: str | Path) -> list[Path]:
    """Readable scan files under `folder` (recursively), in sorted path order."""
    return sorted(path for path in Path(folder).rglob("*") if path.is_file() and format_of(path) is not None)


def iter_samples(
    path: str | Path,
    label_map: str | Path | None = None,
    topic: str | None = None,
    on_error: Callable[[SpotInputError], None] | None = None,
) -> Iterator[Sample]:
    """Every sample of a file, a rosbag2 folder, or every scan file in a folder (sorted), one file read at a time.

    Without `on_error` the first unreadable file raises; with it, each file's error is passed to `on_error`
    and the files after it are still read (a folder is a batch: one bad file must not hide the others).
    """
    path = Path(path)
    files = scan_files(path) if path.is_dir() and not rosbag.is_bag_folder(path) else [path]
    if not files:
        _raise_or_report(SpotInputError(f"holds no scan files ({sorted(READERS)})", source=path), on_error)
    options = ReadOptions(Path(label_map) if label_map else None, topic)
    for file in files:
        try:
            yield from _samples(file, options)
        except SpotInputError as error:
            _raise_or_report(error, on_error)


def _raise_or_report(error: SpotInputError, on_error: Callable[[SpotInputError], None] | None) -> None:
    if on_error is None:
        raise error
    on_error(error)


def write_scan(path: str | Path, scan: Scan) -> None:
    """Write a scan in the format its suffix names (`.bin`, `.pcd.bin`, `.pcd`, `.ply`, `.npy`)."""
    suffix = format_of(path)
    if suffix not in WRITERS:
        raise SpotInputError(f"cannot write this format; writable suffixes are {sorted(WRITERS)}", source=path)
    WRITERS[suffix](Path(path), scan)
