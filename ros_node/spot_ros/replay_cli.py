"""spot-replay (also `ros2 run spot_ros replay`): publish recorded scans as sensor_msgs/PointCloud2 at sensor rate.

Installed with spot_ros; rclpy is imported only once the arguments are good, so a missing ROS 2 install is one
error line that says what to install.
"""

from __future__ import annotations

from pathlib import Path

import click

from spot.runtime.cli.common import UsageFailure, reports_input_errors


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", type=click.Path(exists=True, path_type=Path))
@click.option("--topic", default="/points", show_default=True, help="PointCloud2 topic to publish on.")
@click.option(
    "--rate", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Scans per second."
)
@click.option("--loop", is_flag=True, help="Start again at the end.")
@click.option("--frame-id", default="lidar", show_default=True, help="Frame of dataset scans (bags keep theirs).")
@click.option("--bag-topic", default=None, help="PointCloud2 topic to read from a bag that has several.")
@reports_input_errors
def main(input_path: Path, topic: str, rate: float, loop: bool, frame_id: str, bag_topic: str | None) -> None:
    """Publish the scans in INPUT_PATH (dataset file or folder, rosbag2 folder, .db3, .mcap, ROS 1 .bag) on TOPIC
    at RATE Hz.

    Scans are stamped when they are sent. DDS discovery stays on this machine unless
    ROS_AUTOMATIC_DISCOVERY_RANGE says otherwise.
    """
    try:
        from .replay import replay
    except ImportError as error:
        raise UsageFailure(
            f"spot-replay needs the ROS 2 Python wheels (pip install 'spot-lidar[ros]'): {error}"
        ) from error
    sent = replay(input_path, topic, rate, loop, frame_id, bag_topic)
    click.echo(f"published {sent} scans on {topic}")
