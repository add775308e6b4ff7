"""Recorded scans as PointCloud2 layouts: dataset files and folders (every format `runtime.io` reads) and bags.

Bags (rosbag2 folders, bare `.db3` or `.mcap` files, ROS 1 `.bag`) are read with `rosbags`, imported only when a
bag is opened; their clouds keep the recorded layout and frame. Dataset scans become float32 clouds with one
field per Scan column. numpy-only: `spot-replay` turns these into messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpotInputError
from ..io import iter_samples
from .pointcloud2 import CloudData, FieldSpec, scan_to_cloud

BAG_SUFFIXES = (".db3", ".mcap", ".bag")
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"


@dataclass(frozen=True)
class RecordedCloud:
    """One recorded scan: its layout, the frame it was recorded in (None for dataset files), where it came from."""

    cloud: CloudData
    frame_id: str | None
    source: str


def is_bag(path: Path) -> bool:
    return path.suffix in BAG_SUFFIXES or (path.is_dir() and (path / "metadata.yaml").is_file())


def iter_recorded_clouds(path: str | Path, topic: str | None = None) -> Iterator[RecordedCloud]:
    """Every scan of a bag (on `topic`, or its only PointCloud2 topic) or of a dataset file / folder, in order."""
    path = Path(path)
    if is_bag(path):
        yield from _bag_clouds(path, topic)
        return
    for sample in iter_samples(path):
        yield RecordedCloud(scan_to_cloud(sample.scan), None, sample.source or str(path))


def cloud_data(message: Any) -> CloudData:
    """The layout of a decoded PointCloud2 (rosbags or rclpy) as `CloudData`, bytes as recorded."""
    fields = tuple(FieldSpec(f.name, int(f.offset), int(f.datatype), int(f.count)) for f in message.fields)
    data = np.frombuffer(message.data, dtype=np.uint8)
    return CloudData(
        int(message.height),
        int(message.width),
        fields,
        bool(message.is_bigendian),
        int(message.point_step),
        int(message.row_step),
        data,
        bool(message.is_dense),
    )


def _bag_clouds(path: Path, topic: str | None) -> Iterator[RecordedCloud]:
    try:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore
    except ImportError as error:
        raise SpotInputError("reading bags needs rosbags: pip install 'spot-lidar[ros]'", source=path) from error
    with AnyReader([path], default_typestore=get_typestore(Stores.LATEST)) as reader:
        clouds = [c for c in reader.connections if c.msgtype == POINTCLOUD2]
        topics = sorted({c.topic for c in clouds})
        if topic is not None:
            clouds = [c for c in clouds if c.topic == topic]
        if not clouds or (topic is None and len(topics) > 1):
            wanted = f"a {POINTCLOUD2} topic named {topic!r}" if topic else f"exactly one {POINTCLOUD2} topic"
            raise SpotInputError(f"expected {wanted}; its PointCloud2 topics are {topics}", source=path)
        for connection, _, raw in reader.messages(connections=clouds):
            message = reader.deserialize(raw, connection.msgtype)
            yield RecordedCloud(cloud_data(message), message.header.frame_id, f"{path}:{connection.topic}")
