"""`CloudData` -> sensor_msgs/PointCloud2 (imports the ROS 2 message packages): the node and spot-replay send these."""

from __future__ import annotations

from array import array

from sensor_msgs.msg import PointCloud2, PointField

from spot.runtime.io.pointcloud2 import CloudData


def cloud_message(cloud: CloudData, header) -> PointCloud2:
    """A PointCloud2 holding `cloud` under `header` (a std_msgs/Header).

    The bytes go in as an `array('B')`: the generated message setter checks a plain sequence element by
    element in Python, which for a 2 MB scan costs longer than the inference.
    """
    data = array("B")
    data.frombytes(memoryview(cloud.data))
    fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count) for f in cloud.fields]
    message = PointCloud2(
        header=header,
        height=cloud.height,
        width=cloud.width,
        fields=fields,
        is_bigendian=cloud.is_bigendian,
        point_step=cloud.point_step,
        row_step=cloud.row_step,
        is_dense=cloud.is_dense,
    )
    message.data = data
    return message
