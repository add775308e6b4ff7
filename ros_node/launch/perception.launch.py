"""Start spot's perception node on a LiDAR topic: `ros2 launch spot_ros perception.launch.py artifact:=DIR`.

Every node parameter is a launch argument of the same name and default (`spot_ros.parameters`, the one table
the node declares from; a required one has no default, so launch itself asks for it), plus `input_topic`.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from spot_ros.parameters import PARAMETERS, Parameter


def launch_argument(parameter: Parameter) -> DeclareLaunchArgument:
    if parameter.required:
        return DeclareLaunchArgument(parameter.name, description=parameter.description)
    default = str(parameter.default).lower() if isinstance(parameter.default, bool) else str(parameter.default)
    return DeclareLaunchArgument(parameter.name, default_value=default, description=parameter.description)


def generate_launch_description() -> LaunchDescription:
    arguments = [launch_argument(parameter) for parameter in PARAMETERS]
    parameters = {p.name: ParameterValue(LaunchConfiguration(p.name), value_type=type(p.default)) for p in PARAMETERS}
    return LaunchDescription(
        [
            *arguments,
            DeclareLaunchArgument("input_topic", default_value="/points_raw", description="PointCloud2 input"),
            Node(
                package="spot_ros",
                executable="perception_node",
                name="spot_perception",
                output="screen",
                parameters=[parameters],
                remappings=[("~/input/pointcloud", LaunchConfiguration("input_topic"))],
            ),
        ]
    )
