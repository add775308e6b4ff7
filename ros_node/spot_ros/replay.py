"""Publish recorded scans as sensor_msgs/PointCloud2 at a fixed rate, stamped with the time they go out.

Imports rclpy: `spot-replay` (`replay_cli`) loads this module only after checking the ROS 2 wheels are there. The
publisher uses the sensor-data QoS a LiDAR driver uses (best effort), so a node sees replayed scans as it would
live ones. The first scan is read before ROS 2 starts, so an unreadable input fails without touching DDS.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path

import rclpy
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header
from tqdm import tqdm

from spot.runtime.errors import SpotInputError

from .environment import apply_local_ros_defaults
from .messages import cloud_message
from .sources import RecordedCloud, iter_recorded_clouds


def paced(items: Iterable, rate_hz: float, clock: Callable[[], float] = time.monotonic) -> Iterator:
    """Yield `items` one per 1/rate_hz seconds on an absolute schedule (a slow step does not shift the rest)."""
    period, next_time = 1.0 / rate_hz, clock()
    for item in items:
        delay = next_time - clock()
        if delay > 0:
            time.sleep(delay)
        yield item
        next_time = max(next_time + period, clock() - period)


def recorded_forever(path: Path, topic: str | None, loop: bool) -> Iterator[RecordedCloud]:
    """The recording once, or again and again with `loop` (re-read each pass: memory stays one scan)."""
    while True:
        yield from iter_recorded_clouds(path, topic)
        if not loop:
            return


def replay(path: Path, topic: str, rate_hz: float, loop: bool, frame_id: str, bag_topic: str | None) -> int:
    """Publish until the recording ends (or Ctrl-C); returns the number of clouds sent."""
    clouds = recorded_forever(path, bag_topic, loop)
    first = next(clouds, None)
    if first is None:
        raise SpotInputError("holds no scans", source=path)
    apply_local_ros_defaults()
    # Ctrl-C only sets a flag that the loop reads between scans: a KeyboardInterrupt raised inside rclpy's C calls
    # (publish, DDS teardown) could leave the process hanging instead of exiting.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("spot_replay")
    publisher = node.create_publisher(PointCloud2, topic, qos_profile_sensor_data)
    sent = 0
    try:
        with tqdm(desc=f"{topic} @ {rate_hz:g} Hz", unit=" scans") as progress:
            for recorded in paced(chain([first], clouds), rate_hz):
                if stop.is_set():
                    break
                header = Header(stamp=node.get_clock().now().to_msg(), frame_id=recorded.frame_id or frame_id)
                publisher.publish(cloud_message(recorded.cloud, header))
                sent += 1
                progress.update()
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        signal.signal(signal.SIGINT, previous)
    return sent
