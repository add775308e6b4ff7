"""The DDS settings every spot process that starts ROS 2 runs with (the node's tests, spot-replay, benchmarks).

- `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`: discovery stays on this machine unless the caller chose otherwise.
- `FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`: shared memory + TCP for data; with the default UDP transport a 2 MB
  scan over best-effort QoS loses fragments and whole clouds go missing, even on loopback.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

DEFAULTS = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}


def apply_local_ros_defaults(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Set DEFAULTS where `environ` does not set them (call before rclpy.init); returns `environ`."""
    for key, value in DEFAULTS.items():
        environ.setdefault(key, value)
    return environ
