"""What spot-replay sends: bag clouds with their recorded layout and frame, dataset scans as float32 clouds."""

import numpy as np

from spot.runtime import Scan
from spot.runtime.io import write_scan
from spot.runtime.io.pointcloud2 import cloud_to_scan
from spot_ros.sources import iter_recorded_clouds

XYZI = ("x", "y", "z", "intensity")


def scans(count: int = 3) -> list[Scan]:
    rng = np.random.default_rng(0)
    return [
        Scan(rng.uniform([-30, -30, -2, 0], [30, 30, 2, 1], (200 + 50 * i, 4)).astype(np.float32)) for i in range(count)
    ]


def test_bag_clouds_keep_their_layout_and_frame(tmp_path, write_cloud_bag):
    recorded = scans()
    bag = write_cloud_bag(tmp_path / "bag.bag", "ros1", {"/velodyne_points": recorded})
    clouds = list(iter_recorded_clouds(bag))
    assert len(clouds) == 3 and {c.frame_id for c in clouds} == {"os_sensor"}
    assert [f.name for f in clouds[0].cloud.fields] == ["intensity", "x", "y", "z"] and clouds[0].cloud.point_step == 20
    for cloud, scan in zip(clouds, recorded, strict=True):
        np.testing.assert_array_equal(cloud_to_scan(cloud.cloud, XYZI)[0].points, scan.points)


def test_dataset_folder_scans_become_float32_clouds_in_file_order(tmp_path):
    recorded = scans()
    for i, scan in enumerate(recorded):
        write_scan(tmp_path / f"{i:06d}.bin", scan)
    clouds = list(iter_recorded_clouds(tmp_path))
    assert [c.frame_id for c in clouds] == [None] * 3
    for cloud, scan in zip(clouds, recorded, strict=True):
        np.testing.assert_array_equal(cloud_to_scan(cloud.cloud, XYZI)[0].points, scan.points)
