"""spot-replay: publish recorded scans as sensor_msgs/PointCloud2 at sensor rate."""

import click

from .common import NotAvailableYet


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", type=click.Path(exists=True))
@click.option("--topic", default="/points", show_default=True, help="PointCloud2 topic to publish on.")
@click.option("--rate", default=10.0, show_default=True, help="Scans per second.")
@click.option("--loop", is_flag=True, help="Start again at the end.")
def main(input_path: str, topic: str, rate: float, loop: bool) -> None:
    """Publish the scans in INPUT_PATH (dataset folder, rosbag2 or MCAP) on TOPIC at RATE Hz."""
    raise NotAvailableYet("spot-replay (needs the ROS 2 node work and the [ros] extra)")
