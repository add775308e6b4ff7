"""Start spot's perception node on a LiDAR topic: `ros2 launch spot_ros perception.launch.py artifact:=DIR`."""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    parameters = Path(get_package_share_directory("spot_ros")) / "config" / "perception.yaml"
    return LaunchDescription(
        [
            DeclareLaunchArgument("artifact", description="folder written by spot-export"),
            DeclareLaunchArgument("input_topic", default_value="/points_raw", description="PointCloud2 input"),
            DeclareLaunchArgument("params_file", default_value=str(parameters)),
            Node(
                package="spot_ros",
                executable="perception_node",
                name="spot_perception",
                output="screen",
                parameters=[LaunchConfiguration("params_file"), {"artifact": LaunchConfiguration("artifact")}],
                remappings=[("~/input/pointcloud", LaunchConfiguration("input_topic"))],
            ),
        ]
    )
