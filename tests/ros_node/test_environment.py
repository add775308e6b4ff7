"""The DDS settings: the large-data profile unless the caller configured Fast DDS, loopback UDP only where
discovery is LOCALHOST (no rclpy needed)."""

from pathlib import Path

from spot_ros.environment import SHM_SEGMENT_BYTES, apply_large_data_profile, apply_local_ros_defaults


def test_the_profile_is_applied_where_nothing_is_configured():
    environ = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    profile = apply_large_data_profile(environ)
    assert environ["FASTDDS_DEFAULT_PROFILES_FILE"] == profile
    text = Path(profile).read_text()
    assert f"<segment_size>{SHM_SEGMENT_BYTES}</segment_size>" in text and "<address>127.0.0.1</address>" in text


def test_without_localhost_discovery_udp_is_not_confined_to_loopback():
    text = Path(apply_large_data_profile({})).read_text()
    assert "<type>UDPv4</type>" in text and "127.0.0.1" not in text


def test_an_explicit_choice_is_respected():
    assert apply_large_data_profile({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"}) == "/etc/mine.xml"
    builtin = {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}
    assert apply_large_data_profile(builtin) is None and "FASTDDS_DEFAULT_PROFILES_FILE" not in builtin
    environ = apply_local_ros_defaults({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"})
    assert environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
    assert apply_local_ros_defaults({})["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
