"""spot_ros, an ament_python package: `colcon build` in a ROS 2 workspace, or `pip install ./ros_node`.

Both install the same tree under the prefix: the ament index marker, package.xml and the launch file under
share/, and the executables lib/spot_ros/perception_node and lib/spot_ros/replay that `ros2 run spot_ros ...`
resolves through the ament index. Those are data files, not console scripts, because pip puts console scripts in
bin/ whatever setup.cfg says; their shebang is the interpreter running this build (as pip and colcon write console
scripts), so they run with the Python that has rclpy and spot installed. `spot-replay` is also a console script
(bin/, on PATH), the name the other spot commands share.
"""

import sys
from pathlib import Path

from setuptools import setup

PACKAGE = "spot_ros"
HERE = Path(__file__).resolve().parent
EXECUTABLES = {"perception_node": "spot_ros.perception_node", "replay": "spot_ros.replay_cli"}


def write_launchers() -> list[str]:
    """Executables `#!<this python>` that run each node module's main(), in build/launchers (relative paths)."""
    folder = HERE / "build" / "launchers"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, module in EXECUTABLES.items():
        path = folder / name
        path.write_text(f"#!{sys.executable}\nimport sys\n\nfrom {module} import main\n\nsys.exit(main())\n")
        path.chmod(0o755)
        paths.append(str(path.relative_to(HERE)))
    return paths


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", ["launch/perception.launch.py"]),
        (f"lib/{PACKAGE}", write_launchers()),
    ],
    entry_points={"console_scripts": ["spot-replay = spot_ros.replay_cli:main"]},
    install_requires=["setuptools", "spot-lidar"],
    zip_safe=False,
    maintainer="spot maintainers",
    maintainer_email="maintainers@spot-lidar.org",
    description="ROS 2 perception node of spot: segmented points and 3D boxes from an exported spot artifact.",
    license="Apache-2.0",
    python_requires=">=3.10",
)
