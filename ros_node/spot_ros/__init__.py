"""spot_ros: spot on ROS 2 (the perception node, spot-replay, the DDS settings they start with). All perception
is `spot.runtime`; this package only moves messages. Modules that import rclpy: perception_node, replay,
messages, objects, diagnostics; the rest import without ROS 2."""
