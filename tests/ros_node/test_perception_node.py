"""perception_node in its own process with a fake perception: outputs, newest-cloud policy, bad input, Ctrl-C,
lifecycle transitions, bad parameters, the DDS profile it applies itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy")
from sensor_msgs.msg import PointCloud2, PointField  # noqa: E402

from spot.runtime import Scan  # noqa: E402
from spot.runtime.io.pointcloud2 import DATATYPE_OF, CloudData, FieldSpec, append_fields, scan_to_cloud  # noqa: E402

from .fake_perception import expected_labels  # noqa: E402
from .harness import node_arguments  # noqa: E402

FAKE_NODE = Path(__file__).with_name("fake_perception.py")
UNLABELED = 255


@pytest.fixture
def start_fake_node(launch_node):
    """start(namespace, env=None, **parameters) -> (NodeProcess, Probe) of the node with the fake perception,
    connected unless `autostart` is false."""
    return lambda namespace, env=None, **parameters: launch_node(
        [sys.executable, str(FAKE_NODE), *node_arguments(namespace, **parameters)],
        namespace,
        env,
        connect=str(parameters.get("autostart", "true")) != "false",
    )


def organized_cloud(height: int = 4, width: int = 300, seed: int = 0):
    """An organized cloud with a uint16 ring field, NaN holes and points beyond the fake's range."""
    rng = np.random.default_rng(seed)
    points = rng.uniform([-80, -80, -3, 0], [80, 80, 3, 1], (height * width, 4)).astype(np.float32)
    cloud = scan_to_cloud(Scan(points))
    ring = np.repeat(np.arange(height, dtype=np.uint16), width)
    organized = append_fields(
        replace(cloud, height=height, width=width, row_step=width * cloud.point_step), {"ring": ring}
    )
    holes = rng.choice(height * width, 25, replace=False)
    data = organized.data.reshape(height * width, organized.point_step).copy()
    data[holes, 0:4] = np.frombuffer(np.float32(np.nan).tobytes(), np.uint8)
    points[holes, 0] = np.nan
    return replace(organized, data=data.reshape(-1)), points


def test_outputs_follow_the_perception_and_keep_the_input_stamp_frame_and_fields(start_fake_node):
    _, probe = start_fake_node("/fake_outputs", artifact="fake", score_threshold=0.5)
    cloud, points = organized_cloud()
    output = probe.publish_until_answered(cloud, frame_id="velodyne_top")
    assert output is not None and probe.wait_for(lambda: probe.received.objects, 5.0)
    assert output.frame_id == "velodyne_top"
    assert output.fields == ("x", "y", "z", "intensity", "ring", "label", "score")
    finite = np.isfinite(points).all(axis=1)
    expected = np.full(len(points), UNLABELED)
    expected[finite] = np.where(expected_labels(points[finite]) >= 0, expected_labels(points[finite]), UNLABELED)
    np.testing.assert_array_equal(output.labels, expected)
    np.testing.assert_array_equal(output.scores, np.where(expected == UNLABELED, 0.0, 0.75).astype(np.float32))
    markers = probe.received.objects[-1].markers
    assert markers[0].action == markers[0].DELETEALL
    assert [(m.ns, m.type) for m in markers[1:]] == [
        ("boxes", markers[0].CUBE),
        ("labels", markers[0].TEXT_VIEW_FACING),
    ]
    assert markers[2].text == "car 0.90" and markers[1].header.frame_id == "velodyne_top"


def test_slow_inference_processes_the_newest_cloud_and_counts_the_dropped(start_fake_node):
    node, probe = start_fake_node("/fake_slow", artifact="fake:0.25")
    cloud, _ = organized_cloud(height=1, width=2000, seed=1)
    assert probe.publish_until_answered(cloud)
    before = probe.settled_diagnostics()
    keys = []
    for _ in range(20):
        keys.append(probe.publish(cloud))
        time.sleep(0.02)
    assert probe.wait_for(lambda: probe.output_for(keys[-1]) is not None, 10.0), "the newest cloud was not processed"
    after = probe.settled_diagnostics()
    processed, received, dropped = (after[k] - before[k] for k in ("processed", "received", "dropped_stale"))
    assert 2 <= processed <= 5  # 0.4 s of clouds at 0.25 s each: the first, the newest while busy, the last
    assert processed + dropped == received and dropped >= 10  # DDS (keep last 1) may drop a few before the node
    assert sum(probe.output_for(key) is not None for key in keys) == processed
    probe.publish(cloud)
    time.sleep(0.1)  # Ctrl-C while a cloud is being processed: its results have nowhere to go, and that is fine
    assert node.stop() == 0 and "Traceback" not in node.log(), node.log()


def broken_clouds() -> dict[str, PointCloud2]:
    """Twelve kinds of malformed PointCloud2 a faulty driver or a bad bag can produce."""
    cloud, _ = organized_cloud(height=2, width=50, seed=2)
    fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=1) for f in cloud.fields]

    def good(**changes) -> PointCloud2:
        message = PointCloud2(
            height=cloud.height,
            width=cloud.width,
            fields=fields,
            point_step=cloud.point_step,
            row_step=cloud.row_step,
            is_dense=False,
        )
        message.data = cloud.data.tobytes()
        for name, value in changes.items():
            setattr(message, name, value)
        return message

    nan_data = np.full(len(cloud.data) // 4, np.nan, np.float32).tobytes()
    unset_type = [PointField(name="x", offset=0), *fields[1:]]
    wide_x = [PointField(name="x", offset=0, datatype=PointField.FLOAT64, count=1), *fields[1:]]
    unnamed = [*fields, PointField(name="", offset=0, datatype=PointField.UINT8, count=1)]
    return {
        "no z field": good(fields=[f for f in fields if f.name != "z"]),
        "no fields at all": good(fields=[]),
        "point_step shorter than its fields": good(point_step=8, row_step=8 * cloud.width),
        "point_step zero": good(point_step=0),
        "row_step shorter than a row": good(row_step=cloud.point_step),
        "truncated data": good(data=cloud.data.tobytes()[:-100]),
        "datatype unset": good(fields=unset_type),
        "duplicate field": good(fields=[*fields, fields[0]]),
        "float64 x overlapping y": good(fields=wide_x),
        "a field named ''": good(fields=unnamed),
        "empty cloud": good(height=0, width=0, row_step=0, data=b""),
        "every point NaN": good(data=nan_data),
    }


def test_malformed_clouds_are_refused_with_a_warning_and_the_node_keeps_running(start_fake_node):
    node, probe = start_fake_node("/fake_malformed", artifact="fake")
    cloud, _ = organized_cloud(seed=3)
    assert probe.publish_until_answered(cloud), node.log()
    for message in broken_clouds().values():
        probe.publish(message)
        time.sleep(0.1)
    key = probe.publish(cloud)
    assert probe.wait_for(lambda: probe.output_for(key) is not None, 10.0), node.log()
    assert probe.wait_for(lambda: probe.latest_diagnostics().get("rejected_malformed") == 12, 5.0), (
        probe.latest_diagnostics()
    )
    assert probe.latest_diagnostics()["level"] == 1  # WARN while clouds are being refused
    assert node.alive()
    assert "skipped a malformed cloud (1 so far)" in node.log()
    # Good clouds only from here on: WARN ends once the refusals are older than the recent window (5 s).
    assert probe.wait_for(lambda: probe.latest_diagnostics()["level"] == 0, 10.0), probe.latest_diagnostics()
    assert probe.latest_diagnostics()["rejected_malformed"] == 12
    assert node.stop() == 0, node.log()  # SIGINT inside spin: a clean exit, not a traceback
    assert "Traceback" not in node.log()


def test_missing_float_fields_for_intensity_fall_back_to_zero_intensity(start_fake_node):
    _, probe = start_fake_node("/fake_xyz_only", artifact="fake")
    xyz = np.random.default_rng(4).uniform(-20, 20, (500, 3)).astype(np.float32)
    fields = tuple(FieldSpec(axis, 4 * i, DATATYPE_OF["f4"]) for i, axis in enumerate("xyz"))
    cloud = CloudData(1, 500, fields, False, 12, 6000, xyz.view(np.uint8).reshape(-1), True)
    output = probe.publish_until_answered(cloud)
    np.testing.assert_array_equal(output.labels, expected_labels(xyz))


def test_lifecycle_transitions_start_and_stop_processing(start_fake_node):
    node, probe = start_fake_node("/fake_lifecycle", artifact="fake", autostart="false")
    cloud, _ = organized_cloud(height=1, width=500, seed=5)
    assert probe.lifecycle_state() == "unconfigured" and probe.segmentation.get_publisher_count() == 0
    assert probe.transition("configure") and probe.lifecycle_state() == "inactive"
    assert probe.wait_for(lambda: probe.segmentation.get_publisher_count() == 1, 10.0)
    assert probe.publisher.get_subscription_count() == 0  # inactive: not even subscribed
    assert probe.transition("activate") and probe.wait_connected(10.0)
    assert probe.publish_until_answered(cloud) is not None, node.log()
    changed, reason = probe.set_double_parameter("score_threshold", 0.9)
    assert not changed and "on_configure" in reason  # parameters are read at configure: refused while configured
    assert probe.transition("deactivate") and probe.lifecycle_state() == "inactive"
    assert probe.wait_for(lambda: probe.publisher.get_subscription_count() == 0, 10.0)
    answered = len(probe.received.segmentation)
    probe.publish(cloud)
    time.sleep(0.5)
    assert len(probe.received.segmentation) == answered  # inactive: nothing processed
    assert probe.transition("cleanup") and probe.lifecycle_state() == "unconfigured"
    assert probe.wait_for(lambda: probe.segmentation.get_publisher_count() == 0, 10.0)
    assert probe.set_double_parameter("score_threshold", 0.9) == (True, "")
    assert probe.transition("configure") and probe.transition("activate")
    assert probe.publish_until_answered(cloud) is not None, node.log()
    assert probe.wait_for(lambda: probe.latest_state() == "active", 5.0)
    assert node.stop() == 0 and "Traceback" not in node.log(), node.log()


def test_a_failed_configure_under_a_lifecycle_manager_leaves_the_node_up(start_fake_node):
    node, probe = start_fake_node("/fake_manager", artifact="unloadable", autostart="false")
    assert not probe.transition("configure") and probe.lifecycle_state() == "unconfigured"
    assert node.alive() and "[ERROR]" in node.log() and "is not a spot artifact" in node.log()
    assert node.stop() == 0, node.log()


BAD_PARAMETERS = {  # case: (-p arguments, what the FATAL line says)
    "num_threads:=abc": (["artifact:=fake", "num_threads:=abc"], "'num_threads'"),
    "num_threads:=-1": (["artifact:=fake", "num_threads:=-1"], "'num_threads'"),
    "num_threads:=2.5": (["artifact:=fake", "num_threads:=2.5"], "'num_threads'"),
    "score_threshold:=high": (["artifact:=fake", "score_threshold:=high"], "'score_threshold'"),
    "score_threshold:=1.5": (["artifact:=fake", "score_threshold:=1.5"], "'score_threshold'"),
    "autostart:=maybe": (["artifact:=fake", "autostart:=maybe"], "'autostart'"),
    "num_threads:= (no value)": (["artifact:=fake", "num_threads:="], "bad command line"),
    "no artifact": ([], "parameter 'artifact' is required"),
    "an artifact that does not load": (["artifact:=unloadable"], "is not a spot artifact"),
}


def test_bad_parameters_are_one_fatal_line_and_exit_2(ros_env):
    processes = {}
    for number, (case, (parameters, _)) in enumerate(BAD_PARAMETERS.items()):  # all at once: each starts ROS 2
        arguments = [*node_arguments(f"/bad_parameter_{number}"), *(a for p in parameters for a in ("-p", p))]
        command = [sys.executable, str(FAKE_NODE), *arguments]
        processes[case] = subprocess.Popen(command, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for case, process in processes.items():
        output = process.communicate(timeout=60)[0].decode()
        fatal = [line for line in output.splitlines() if "FATAL" in line]
        assert process.returncode == 2 and "Traceback" not in output, (case, output)
        assert len(fatal) == 1 and BAD_PARAMETERS[case][1] in fatal[0], (case, output)


def test_the_node_applies_the_large_data_profile_itself(start_fake_node, ros_env):
    env = {key: value for key, value in ros_env.items() if key != "FASTDDS_DEFAULT_PROFILES_FILE"}
    node, probe = start_fake_node("/fake_profile", env=env, artifact="fake")
    assert "DDS profile: " in node.log() and "spot-fastdds-large-data-local" in node.log()
    points = np.random.default_rng(6).uniform(-50, 50, (120_000, 4)).astype(np.float32)  # a ~2 MB HDL-64E scan
    output = probe.publish_until_answered(scan_to_cloud(Scan(points)))
    assert output is not None and len(output.labels) == 120_000, node.log()
    explicit = {**ros_env, "FASTDDS_DEFAULT_PROFILES_FILE": os.environ["FASTDDS_DEFAULT_PROFILES_FILE"]}
    other, _ = start_fake_node("/fake_profile_explicit", env=explicit, artifact="fake")
    assert f"DDS profile: {explicit['FASTDDS_DEFAULT_PROFILES_FILE']}" in other.log()


def test_diagnostics_warn_only_while_clouds_are_being_refused():
    from spot_ros.diagnostics import RECENT_S, PipelineStats, pipeline_status

    now = [100.0]
    stats = PipelineStats(clock=lambda: now[0])

    def level() -> int:
        return ord(pipeline_status("node: pipeline", "active", stats, received=3, dropped=0).level)

    assert level() == 0
    stats.refused(malformed=True)
    now[0] += RECENT_S - 1
    assert level() == 1 and stats.refused(malformed=False) == 1
    now[0] += 2  # the first refusal is now older than the window, the second is not
    assert level() == 1 and stats.recent_refusals() == 1
    now[0] += RECENT_S
    assert level() == 0 and (stats.rejected, stats.failed, len(stats.refusals)) == (1, 1, 0)
