"""The DDS settings spot's own ROS 2 processes (spot-replay, the node's tests, benchmarks) start with.

- `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`: discovery stays on this machine unless the caller chose otherwise.
- A Fast DDS profile (`FASTDDS_DEFAULT_PROFILES_FILE`) with a 32 MB shared-memory segment and UDP on loopback
  only. A 120k-point scan is ~2 MB; Fast DDS's default 512 kB segment cannot hold it, so it goes as ~30 UDP
  fragments, and over best-effort QoS one lost fragment loses the scan: most scans never arrive, even on
  loopback. `FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA` (TCP) proved unreliable here for the first seconds of a
  connection; the profile is used unless the caller configured Fast DDS transports themselves.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

SHM_SEGMENT_BYTES = 32 * 1024 * 1024
LARGE_DATA_PROFILE = f"""<?xml version="1.0" encoding="UTF-8" ?>
<profiles xmlns="http://www.eprosima.com">
  <transport_descriptors>
    <transport_descriptor>
      <transport_id>spot_shm_large</transport_id>
      <type>SHM</type>
      <segment_size>{SHM_SEGMENT_BYTES}</segment_size>
      <maxMessageSize>{SHM_SEGMENT_BYTES // 2}</maxMessageSize>
    </transport_descriptor>
    <transport_descriptor>
      <transport_id>spot_udp_loopback</transport_id>
      <type>UDPv4</type>
      <interfaceWhiteList><address>127.0.0.1</address></interfaceWhiteList>
    </transport_descriptor>
  </transport_descriptors>
  <participant profile_name="spot_local_large_data" is_default_profile="true">
    <rtps>
      <userTransports>
        <transport_id>spot_shm_large</transport_id>
        <transport_id>spot_udp_loopback</transport_id>
      </userTransports>
      <useBuiltinTransports>false</useBuiltinTransports>
    </rtps>
  </participant>
</profiles>
"""


def large_data_profile() -> Path:
    """The profile above as a file (written once per user, atomically, so concurrent processes agree)."""
    path = Path(tempfile.gettempdir()) / f"spot-fastdds-local-large-data-{os.getuid()}.xml"
    if not path.is_file() or path.read_text() != LARGE_DATA_PROFILE:
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(LARGE_DATA_PROFILE)
        staging.replace(path)
    return path


def apply_local_ros_defaults(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Set the defaults above where `environ` does not set them (call before rclpy.init); returns `environ`."""
    environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in environ and "FASTDDS_BUILTIN_TRANSPORTS" not in environ:
        environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(large_data_profile())
    return environ
