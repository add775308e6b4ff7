"""ROS 2 interop that the runtime owns: PointCloud2 <-> numpy, recorded-scan sources, message builders.

`pointcloud2` and `sources` are numpy-only (no rclpy), so they are tested and used without ROS 2; `messages`
imports the ROS 2 message packages and is loaded only by the node and `spot-replay`.
"""
