"""What `spot-replay` publishes: the clouds of a bag as recorded, or the scans of dataset files and folders.

Bag clouds keep their recorded layout and frame (`spot.runtime.io.rosbag`); dataset scans (every format
`spot.runtime.io` reads) become float32 clouds with one field per Scan column. numpy-only: `replay` turns
these into messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from spot.runtime.io import format_of, iter_samples
from spot.runtime.io.pointcloud2 import CloudData, cloud_data, scan_to_cloud
from spot.runtime.io.rosbag import BAG_SUFFIXES, bag_clouds, is_bag_folder


@dataclass(frozen=True)
class RecordedCloud:
    """One recorded scan: its layout, the frame it was recorded in (None for dataset files), where it came from."""

    cloud: CloudData
    frame_id: str | None
    source: str


def is_bag(path: Path) -> bool:
    return is_bag_folder(path) or format_of(path) in BAG_SUFFIXES


def iter_recorded_clouds(path: str | Path, topic: str | None = None) -> Iterator[RecordedCloud]:
    """Every scan of a bag (on `topic`, or its only PointCloud2 topic) or of a dataset file / folder, in order."""
    path = Path(path)
    if is_bag(path):
        for recorded in bag_clouds(path, topic):
            yield RecordedCloud(cloud_data(recorded.message), recorded.message.header.frame_id, recorded.source)
        return
    for sample in iter_samples(path):
        yield RecordedCloud(scan_to_cloud(sample.scan), None, sample.source or str(path))
