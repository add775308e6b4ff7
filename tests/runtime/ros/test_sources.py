"""Recorded clouds from bags (rosbag2 .db3 / MCAP, as rosbags writes them) and dataset folders, layouts intact."""

from pathlib import Path

import numpy as np
import pytest

from spot.runtime import Scan, SpotInputError
from spot.runtime.io import write_scan
from spot.runtime.ros.pointcloud2 import cloud_to_scan
from spot.runtime.ros.sources import iter_recorded_clouds

rosbags = pytest.importorskip("rosbags")
from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

XYZI = ("x", "y", "z", "intensity")
TYPES = get_typestore(Stores.LATEST)
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"


def scans(count: int = 3) -> list[Scan]:
    rng = np.random.default_rng(0)
    return [
        Scan(rng.uniform([-30, -30, -2, 0], [30, 30, 2, 1], (200 + 50 * i, 4)).astype(np.float32)) for i in range(count)
    ]


def rosbags_cloud(scan: Scan, stamp_s: int, frame_id: str):
    """A rosbags PointCloud2 with intensity first and 4 bytes of padding per point (not the Scan's layout)."""
    fields = [
        TYPES.types["sensor_msgs/msg/PointField"](name=name, offset=offset, datatype=7, count=1)
        for name, offset in (("intensity", 0), ("x", 8), ("y", 12), ("z", 16))
    ]
    points = np.zeros((len(scan), 5), np.float32)
    points[:, 0], points[:, 2:5] = scan.intensity, scan.xyz
    header = TYPES.types["std_msgs/msg/Header"](
        stamp=TYPES.types["builtin_interfaces/msg/Time"](sec=stamp_s, nanosec=0), frame_id=frame_id
    )
    return TYPES.types[POINTCLOUD2](
        header=header,
        height=1,
        width=len(scan),
        fields=fields,
        is_bigendian=False,
        point_step=20,
        row_step=20 * len(scan),
        data=points.view(np.uint8).reshape(-1),
        is_dense=True,
    )


def write_bag(path: Path, plugin: StoragePlugin, topics: dict[str, list[Scan]]) -> Path:
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for topic, topic_scans in topics.items():
            connection = writer.add_connection(topic, POINTCLOUD2, typestore=TYPES)
            for i, scan in enumerate(topic_scans):
                message = TYPES.serialize_cdr(rosbags_cloud(scan, 100 + i, "os_sensor"), POINTCLOUD2)
                writer.write(connection, (100 + i) * 10**9, message)
        writer.add_connection("/tf_static", "std_msgs/msg/String", typestore=TYPES)
    return path


@pytest.mark.parametrize("plugin", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_bag_clouds_come_back_with_their_layout_and_frame(tmp_path, plugin):
    recorded = scans()
    bag = write_bag(tmp_path / "bag", plugin, {"/ouster/points": recorded})
    storage_file = next(bag.glob("*.db3" if plugin == StoragePlugin.SQLITE3 else "*.mcap"))
    for source in (bag, storage_file):  # the rosbag2 folder and the bare storage file
        clouds = list(iter_recorded_clouds(source))
        assert len(clouds) == 3 and {c.frame_id for c in clouds} == {"os_sensor"}
        assert [f.name for f in clouds[0].cloud.fields] == ["intensity", "x", "y", "z"]
        for cloud, scan in zip(clouds, recorded, strict=True):
            np.testing.assert_array_equal(cloud_to_scan(cloud.cloud, XYZI)[0].points, scan.points)


def test_a_bag_with_several_cloud_topics_needs_one_named(tmp_path):
    bag = write_bag(tmp_path / "bag", StoragePlugin.MCAP, {"/front": scans(1), "/rear": scans(2)})
    with pytest.raises(SpotInputError, match=r"exactly one.*\['/front', '/rear'\]"):
        list(iter_recorded_clouds(bag))
    assert len(list(iter_recorded_clouds(bag, topic="/rear"))) == 2
    with pytest.raises(SpotInputError, match="named '/top'"):
        list(iter_recorded_clouds(bag, topic="/top"))


def test_dataset_folder_scans_become_float32_clouds_in_file_order(tmp_path):
    recorded = scans()
    for i, scan in enumerate(recorded):
        write_scan(tmp_path / f"{i:06d}.bin", scan)
    clouds = list(iter_recorded_clouds(tmp_path))
    assert [c.frame_id for c in clouds] == [None] * 3
    for cloud, scan in zip(clouds, recorded, strict=True):
        np.testing.assert_array_equal(cloud_to_scan(cloud.cloud, XYZI)[0].points, scan.points)
