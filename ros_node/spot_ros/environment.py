"""The DDS settings spot's ROS 2 processes start with (no rclpy here: they must be set before rclpy.init).

A 120k-point scan is ~2 MB. Fast DDS's default shared-memory segment (512 kB) cannot hold it, so it goes as ~30
UDP fragments, and over best-effort QoS one lost fragment loses the scan: most scans never arrive, even on
loopback. The large-data profile gives shared memory a 32 MB segment (same-host traffic stays there) and keeps
UDPv4 for everything else, on loopback only where discovery is LOCALHOST anyway.
`FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA` (TCP) proved unreliable for the first seconds of a connection.

- `apply_large_data_profile`: what the perception node does at start, unless the caller configured Fast DDS
  transports themselves (`FASTDDS_DEFAULT_PROFILES_FILE` or `FASTDDS_BUILTIN_TRANSPORTS` set).
- `apply_local_ros_defaults`: additionally `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` unless set; what
  `spot-replay`, the tests and the benchmarks start with.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

SHM_SEGMENT_BYTES = 32 * 1024 * 1024
PROFILES_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
LOOPBACK_ONLY = "<interfaceWhiteList><address>127.0.0.1</address></interfaceWhiteList>"
LARGE_DATA_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<profiles xmlns="http://www.eprosima.com">
  <transport_descriptors>
    <transport_descriptor>
      <transport_id>spot_shm_large</transport_id>
      <type>SHM</type>
      <segment_size>{segment}</segment_size>
      <maxMessageSize>{max_message}</maxMessageSize>
    </transport_descriptor>
    <transport_descriptor>
      <transport_id>spot_udp</transport_id>
      <type>UDPv4</type>
      {interfaces}
    </transport_descriptor>
  </transport_descriptors>
  <participant profile_name="spot_large_data" is_default_profile="true">
    <rtps>
      <userTransports>
        <transport_id>spot_shm_large</transport_id>
        <transport_id>spot_udp</transport_id>
      </userTransports>
      <useBuiltinTransports>false</useBuiltinTransports>
    </rtps>
  </participant>
</profiles>
"""


def large_data_profile(loopback_only: bool) -> Path:
    """The profile as a file (written once per user and variant, atomically, so concurrent processes agree)."""
    text = LARGE_DATA_PROFILE.format(
        segment=SHM_SEGMENT_BYTES, max_message=SHM_SEGMENT_BYTES // 2, interfaces=LOOPBACK_ONLY if loopback_only else ""
    )
    variant = "local" if loopback_only else "network"
    path = Path(tempfile.gettempdir()) / f"spot-fastdds-large-data-{variant}-{os.getuid()}.xml"
    if not path.is_file() or path.read_text() != text:
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        staging.write_text(text)
        staging.replace(path)
    return path


def apply_large_data_profile(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Point Fast DDS at the large-data profile unless `environ` configures its transports; returns the profile
    file now in effect (None when the caller chose built-in transports)."""
    if PROFILES_VARIABLE not in environ and "FASTDDS_BUILTIN_TRANSPORTS" not in environ:
        local = environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST"
        environ[PROFILES_VARIABLE] = str(large_data_profile(loopback_only=local))
    return environ.get(PROFILES_VARIABLE)


def apply_local_ros_defaults(environ: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """LOCALHOST discovery and the large-data profile where `environ` does not set them (call before
    rclpy.init); returns `environ`."""
    environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    apply_large_data_profile(environ)
    return environ
