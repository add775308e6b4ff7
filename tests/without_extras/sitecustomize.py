"""On PYTHONPATH, makes this interpreter (and every Python process it starts) behave as an install with
`.[train,export,dev]` only: the ROS 2 wheels, rosbags and mcap cannot be imported, as if absent."""

import sys
from importlib.abc import MetaPathFinder

ABSENT = ("rclpy", "rosbags", "mcap", "ament_index_python", "rpyutils", "launch", "launch_ros")
ABSENT_SUFFIXES = ("_msgs", "_interfaces")  # ROS 2 message packages (sensor_msgs, rcl_interfaces, ...)


class Absent(MetaPathFinder):
    """Refuses the optional packages above and their submodules as an environment without them would."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ABSENT or top.endswith(ABSENT_SUFFIXES) or top.startswith("rosidl"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: optional extra absent)", name=name)
        return None


sys.meta_path.insert(0, Absent())
