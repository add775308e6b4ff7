"""Drive a perception node running in its own process: start / stop it, publish clouds, collect its outputs.

The `Probe` is an rclpy node in the test process on its own context, spinning in a thread; it remembers when
each cloud went out (by stamp) and what came back, keeping only the decoded labels so memory stays small under load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Float64, Header
from visualization_msgs.msg import MarkerArray

from spot.runtime.io.pointcloud2 import CloudData, read_points
from spot_ros.messages import cloud_message

NODE_NAME = "spot_perception"
TRANSITIONS = {
    "configure": Transition.TRANSITION_CONFIGURE,
    "activate": Transition.TRANSITION_ACTIVATE,
    "deactivate": Transition.TRANSITION_DEACTIVATE,
    "cleanup": Transition.TRANSITION_CLEANUP,
}
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


def resolve_executable(package: str, executable: str, ament_prefix_path: str) -> Path:
    """What `ros2 run PACKAGE EXECUTABLE` runs: <package prefix from the ament index>/lib/PACKAGE/EXECUTABLE."""
    from ament_index_python.packages import get_package_prefix, get_packages_with_prefixes

    previous = os.environ.get("AMENT_PREFIX_PATH")
    os.environ["AMENT_PREFIX_PATH"] = ament_prefix_path
    try:
        assert package in get_packages_with_prefixes(), f"{package} is not in the ament index"
        return Path(get_package_prefix(package)) / "lib" / package / executable
    finally:
        if previous is None:
            del os.environ["AMENT_PREFIX_PATH"]
        else:
            os.environ["AMENT_PREFIX_PATH"] = previous


class NodeProcess:
    """`command` (an executable + ROS args) in its own process, output to `log_path`; stop() sends SIGINT."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT (Ctrl-C), then the exit code; kills it if it does not exit within `timeout`."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self._log.close()


def node_arguments(namespace: str, **parameters) -> list[str]:
    """`--ros-args` putting the node under `namespace` with `parameters` (name -> value)."""
    arguments = ["--ros-args", "-r", f"__ns:={namespace}"]
    for name, value in parameters.items():
        arguments += ["-p", f"{name}:={value}"]
    return arguments


@dataclass
class Output:
    """One segmentation cloud that came back: arrival time, input stamp (ns), frame, labels, scores, field names."""

    arrived: float
    stamp_ns: int
    frame_id: str
    labels: np.ndarray
    scores: np.ndarray
    fields: tuple[str, ...]


@dataclass
class Received:
    segmentation: list[Output] = field(default_factory=list)
    objects: list[MarkerArray] = field(default_factory=list)
    processing_time_ms: list[float] = field(default_factory=list)
    diagnostics: list[dict[str, str]] = field(default_factory=list)


def stamp_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def serialized_stamp_ns(serialized: bytes) -> int:
    """The header stamp (ns) of a CDR-serialized message that starts with a std_msgs/Header."""
    order = "little" if serialized[1] == 1 else "big"  # encapsulation id CDR_LE = 0x0001, CDR_BE = 0x0000
    seconds = int.from_bytes(serialized[4:8], order, signed=True)
    return seconds * 1_000_000_000 + int.from_bytes(serialized[8:12], order)


class Probe:
    """Publishes to the node under `namespace` and records its outputs (objects up to `keep_objects`).

    `decode_segmentation=False` records only each segmentation cloud's stamp and arrival, taken as the
    serialized message arrives: a timing probe that leaves out rclpy's conversion of ~3 MB to Python objects
    (which a C++ consumer such as RViz never pays).
    """

    def __init__(self, namespace: str, keep_objects: int = 50, decode_segmentation: bool = True):
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("spot_probe", context=self.context)
        base = f"{namespace}/{NODE_NAME}"
        self.fully_qualified = base
        self.keep_objects = keep_objects
        self.received = Received()
        self.sent: dict[int, float] = {}
        self._lock = threading.Lock()
        self.publisher = self.node.create_publisher(PointCloud2, f"{base}/input/pointcloud", SENSOR_QOS)
        self.segmentation = self.node.create_subscription(
            PointCloud2,
            f"{base}/output/segmentation",
            self._on_segmentation if decode_segmentation else self._on_serialized_segmentation,
            5,
            raw=not decode_segmentation,
        )
        self.node.create_subscription(MarkerArray, f"{base}/output/objects", self._on_objects, 5)
        self.node.create_subscription(Float64, f"{base}/debug/processing_time_ms", self._on_time, 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_segmentation(self, message: PointCloud2) -> None:
        arrived = time.perf_counter()
        points = read_points(message)
        output = Output(
            arrived,
            stamp_ns(message.header.stamp),
            message.header.frame_id,
            points["label"].copy(),
            points["score"].copy(),
            points.dtype.names,
        )
        with self._lock:
            self.received.segmentation.append(output)

    def _on_serialized_segmentation(self, serialized: bytes) -> None:
        output = Output(time.perf_counter(), serialized_stamp_ns(serialized), "", np.empty(0), np.empty(0), ())
        with self._lock:
            self.received.segmentation.append(output)

    def _on_objects(self, message: MarkerArray) -> None:
        with self._lock:
            self.received.objects = [*self.received.objects[-self.keep_objects + 1 :], message]

    def _on_time(self, message: Float64) -> None:
        with self._lock:
            self.received.processing_time_ms.append(message.data)

    def _on_diagnostics(self, message: DiagnosticArray) -> None:
        for status in message.status:
            if status.name.startswith(f"{self.fully_qualified}:"):
                with self._lock:
                    level = int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else status.level
                    self.received.diagnostics.append({"level": str(level), **{v.key: v.value for v in status.values}})

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    def wait_connected(self, timeout: float = 30.0) -> bool:
        """True once the node subscribes to our clouds and publishes segmentation to us."""
        return self.wait_for(
            lambda: self.publisher.get_subscription_count() > 0 and self.segmentation.get_publisher_count() > 0,
            timeout,
        )

    def publish(self, cloud: CloudData | PointCloud2, frame_id: str = "lidar") -> int:
        """Send a cloud stamped now; returns its stamp in ns (the key of `sent` and of outputs)."""
        now = self.node.get_clock().now()
        header = Header(stamp=now.to_msg(), frame_id=frame_id)
        message = cloud if isinstance(cloud, PointCloud2) else cloud_message(cloud, header)
        message.header = header
        key = stamp_ns(header.stamp)
        self.sent[key] = time.perf_counter()
        self.publisher.publish(message)
        return key

    def publish_until_answered(
        self, cloud: CloudData | PointCloud2, frame_id: str = "lidar", timeout: float = 20.0
    ) -> Output | None:
        """Publish every 0.5 s until one of these clouds comes back: the first messages after discovery can
        be lost on best-effort QoS. Returns that output (None on timeout)."""
        deadline = time.monotonic() + timeout
        keys = []
        while time.monotonic() < deadline:
            keys.append(self.publish(cloud, frame_id))
            if self.wait_for(lambda: any(self.output_for(key) for key in keys), 0.5):
                return next(output for output in map(self.output_for, keys) if output)
        return None

    def output_for(self, key: int) -> Output | None:
        with self._lock:
            return next((o for o in self.received.segmentation if o.stamp_ns == key), None)

    def latest_diagnostics(self) -> dict[str, float]:
        """The node's last /diagnostics numbers (level 0 OK / 1 WARN, received, processed, dropped_stale,
        rejected_malformed, ...)."""
        with self._lock:
            latest = self.received.diagnostics[-1] if self.received.diagnostics else {}
        return {key: float(value) for key, value in latest.items() if key != "state"}

    def latest_state(self) -> str | None:
        """The lifecycle state the node last reported on /diagnostics."""
        with self._lock:
            return self.received.diagnostics[-1]["state"] if self.received.diagnostics else None

    def settled_diagnostics(self, timeout: float = 10.0) -> dict[str, int]:
        """Counters once the node has processed every output we received (diagnostics come at 1 Hz)."""
        self.wait_for(
            lambda: self.latest_diagnostics().get("processed", -1) >= len(self.received.segmentation), timeout
        )
        return self.latest_diagnostics()

    def call(self, service_type, name: str, request, timeout: float = 10.0):
        """The response of the node's service `name` (relative to the node), or None on timeout."""
        client = self.node.create_client(service_type, f"{self.fully_qualified}/{name}")
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                return None
            future = client.call_async(request)
            self.wait_for(future.done, timeout)
            return future.result() if future.done() else None
        finally:
            self.node.destroy_client(client)

    def transition(self, name: str) -> bool:
        """Ask the node for a lifecycle transition (configure, activate, deactivate, cleanup); True on success."""
        request = ChangeState.Request(transition=Transition(id=TRANSITIONS[name]))
        response = self.call(ChangeState, "change_state", request)
        return response is not None and response.success

    def lifecycle_state(self, timeout: float = 10.0) -> str | None:
        response = self.call(GetState, "get_state", GetState.Request(), timeout)
        return None if response is None else response.current_state.label

    def set_double_parameter(self, name: str, value: float) -> tuple[bool, str]:
        """(successful, reason) of setting a double parameter on the node."""
        parameter = Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value))
        response = self.call(SetParameters, "set_parameters", SetParameters.Request(parameters=[parameter]))
        return (
            (False, "no response") if response is None else (response.results[0].successful, response.results[0].reason)
        )

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
