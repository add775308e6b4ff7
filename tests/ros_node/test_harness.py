"""The timing probe reads the stamp straight from the serialized result, so its arrival time leaves out
rclpy's conversion to Python objects: check it against rclpy's own serialization."""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip("rclpy")

from rclpy.serialization import serialize_message  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from .harness import serialized_stamp_ns, stamp_ns  # noqa: E402


@pytest.mark.parametrize(("sec", "nanosec"), [(0, 0), (1_763_700_000, 999_999_999), (-5, 7)])
def test_serialized_stamp_is_the_header_stamp(sec, nanosec):
    message = PointCloud2(header=Header(frame_id="velodyne_top"))
    message.header.stamp.sec, message.header.stamp.nanosec = sec, nanosec
    assert serialized_stamp_ns(serialize_message(message)) == stamp_ns(message.header.stamp)
