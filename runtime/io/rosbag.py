"""Recordings of sensor_msgs/PointCloud2: rosbag2 (a folder with `metadata.yaml`, or a bare `.db3` / `.mcap`
storage file) and ROS 1 `.bag`, read with rosbags.

rosbags is pure Python and reads SQLite and MCAP storage itself, so bags need no ROS installation; it is imported
when a bag is opened. A bag holds many clouds, so clouds are read one at a time and `BagIndex` gives training
random access. Clouds keep the recorded layout (`bag_clouds`, what `spot-replay` sends) or become Samples through
the PointCloud2 codec (`read_bag`, what every other command reads). A damaged file is a `SpotInputError` naming it:
rosbags' parsers raise whatever the damage hits (their ReaderErrors, SQLite errors, UnicodeDecodeError on a
mangled connection header, AssertionError on a mangled message definition).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpotInputError
from ..sample import Sample
from .pointcloud2 import cloud_to_scan

BAG_SUFFIXES = (".db3", ".mcap", ".bag")
METADATA = "metadata.yaml"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
INSTALL_HINT = "reading bags needs rosbags (pip install rosbags; a base dependency of spot-lidar)"


@dataclass(frozen=True)
class BagCloud:
    """One recorded cloud: the decoded message (duck-typed PointCloud2 with its header), its topic, the time it
    was recorded (ns) and where it came from."""

    message: Any
    topic: str
    timestamp_ns: int
    source: str


def is_bag_folder(path: str | Path) -> bool:
    """A rosbag2 recording folder (its `metadata.yaml` lists the storage files)."""
    return Path(path).is_dir() and (Path(path) / METADATA).is_file()


def bag_clouds(
    path: str | Path, topic: str | None = None, start_ns: int | None = None, stop_ns: int | None = None
) -> Iterator[BagCloud]:
    """The clouds on `topic` (default: the bag's only PointCloud2 topic) in recording order, from `start_ns`
    up to (not including) `stop_ns` when given."""
    path = Path(path)
    with _reading(path) as reader:
        connections = _cloud_connections(reader, path, topic)
        for connection, timestamp, raw in reader.messages(connections=connections, start=start_ns, stop=stop_ns):
            message = reader.deserialize(raw, connection.msgtype)
            yield BagCloud(message, connection.topic, timestamp, f"{path}:{connection.topic}@{timestamp}")


def read_bag(path: Path, options: Any = None) -> Iterator[Sample]:
    """Every cloud of the bag as a Sample (all Scan columns the cloud has; NaN returns left out), one at a time.
    `options.topic` picks the topic where the bag records several clouds."""
    for cloud in bag_clouds(path, getattr(options, "topic", None)):
        yield _sample(cloud)


class BagIndex:
    """Random access to a bag's clouds (a training dataset reads frames in any order).

    The record times of the topic's clouds are indexed once (one pass that decodes nothing); frame i is then
    read by seeking to its time, which both storage formats index.
    """

    def __init__(self, path: str | Path, topic: str | None = None):
        self.path = Path(path)
        self.topic = topic
        with _reading(self.path) as reader:
            connections = _cloud_connections(reader, self.path, topic)
            self.times = [timestamp for _, timestamp, _ in reader.messages(connections=connections)]
        if not self.times:
            raise SpotInputError("holds no PointCloud2 message", source=self.path)

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, index: int) -> Sample:
        time = self.times[index]
        rank = index - bisect.bisect_left(self.times, time)  # clouds recorded at the same nanosecond
        clouds = bag_clouds(self.path, self.topic, start_ns=time, stop_ns=time + 1)
        for position, cloud in enumerate(clouds):
            if position == rank:
                clouds.close()
                return _sample(cloud)
        raise SpotInputError(f"changed since it was indexed: no cloud {index} at {time} ns", source=self.path)


def _sample(cloud: BagCloud) -> Sample:
    try:
        scan, _ = cloud_to_scan(cloud.message)
    except SpotInputError as error:  # the codec names the message type; say which recorded cloud it was
        raise SpotInputError(f"PointCloud2 {error.message}", source=cloud.source) from None
    return Sample(scan, dataset="rosbag", source=cloud.source)


@contextmanager
def _reading(path: Path) -> Iterator[Any]:
    """An open rosbags AnyReader; whatever rosbags raises inside (see the module docstring) is one error line."""
    try:
        with _open(path) as reader:
            yield reader
    except SpotInputError:
        raise
    except Exception as error:  # rosbags' parsers raise what the damage hits; our own errors are SpotInputError
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
        raise SpotInputError(f"is not a readable bag ({type(error).__name__}: {detail})", source=path) from None


def _open(path: Path):
    try:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore
    except ImportError as error:
        raise SpotInputError(f"{INSTALL_HINT}: {error}", source=path) from None
    if path.is_dir() and not is_bag_folder(path):
        raise SpotInputError(f"is a folder without {METADATA}; expected a rosbag2 recording folder", source=path)
    # Bags written without message definitions (rosbag2 before Iron) are read with the latest ROS 2 types.
    return AnyReader([path], default_typestore=get_typestore(Stores.LATEST))


def _cloud_connections(reader, path: Path, topic: str | None) -> list:
    clouds = [c for c in reader.connections if c.msgtype == POINTCLOUD2]  # rosbags gives ROS 1 types this name too
    topics = sorted({c.topic for c in clouds})
    if topic is not None:
        clouds = [c for c in clouds if c.topic == topic]
    if not clouds or (topic is None and len(topics) > 1):
        wanted = f"a {POINTCLOUD2} topic named {topic!r}" if topic else f"exactly one {POINTCLOUD2} topic"
        hint = "; name one (topic=, data.train.topic, spot-replay --bag-topic)" if len(topics) > 1 else ""
        raise SpotInputError(f"expected {wanted}; its PointCloud2 topics are {topics}{hint}", source=path)
    return clouds
