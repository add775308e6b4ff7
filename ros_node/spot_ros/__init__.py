"""spot_ros: the ROS 2 perception node of spot. All perception is `spot.runtime`; this package only moves messages."""
