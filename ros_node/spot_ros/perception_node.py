"""perception_node: an exported spot artifact on a LiDAR PointCloud2 topic -> labelled points and 3D boxes.

A lifecycle (managed) node: `on_configure` reads the parameters and loads the artifact, `on_activate` subscribes
and starts the worker, `on_deactivate` stops both (the artifact stays loaded), `on_cleanup` releases it. With
`autostart` (the default) the node configures and activates itself, so a plain `ros2 run` starts processing; a
launch system with a lifecycle manager sets `autostart:=false`. Parameters are read in `on_configure` and cannot
change while the node is configured.

Topics (relative to the node, remap as usual):
- `~/input/pointcloud` (sensor_msgs/PointCloud2, sensor-data QoS, keep last 1)
- `~/output/segmentation` (PointCloud2: the input's fields + `label` uint8/uint16 + `score` float32)
- `~/output/objects` (visualization_msgs/MarkerArray), `~/output/detections` (vision_msgs/Detection3DArray,
  only where vision_msgs is installed)
- `~/debug/processing_time_ms` (std_msgs/Float64), `/diagnostics` (1 Hz: state, received, processed, dropped,
  refused; WARN while clouds are being refused)

The subscription callback only parks the message in a `NewestSlot`; one worker thread converts, infers and
publishes, so a slow network never queues clouds: the newest one waits, older ones are dropped and counted.
Malformed clouds (and clouds over the artifact's `max_points`) are refused with a throttled warning; the node keeps
running and keeps no reference to them. Outputs keep the input's stamp and frame. Perception itself is
`spot.runtime.Perception`, injected through `load_perception` (tests pass a fake). A bad parameter or artifact is
one FATAL line and exit code 2. The node applies the large-data DDS profile (`environment`) itself.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy._rclpy_pybind11 import RCLError
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Float64, Header
from visualization_msgs.msg import MarkerArray

from spot.runtime import Perception
from spot.runtime.errors import SpotInputError
from spot.runtime.io.pointcloud2 import append_fields, cloud_to_scan

from .diagnostics import PipelineStats, pipeline_status
from .environment import apply_large_data_profile
from .memory import keep_heap_mapped
from .messages import cloud_message
from .newest import NewestSlot
from .objects import box_scores, detection_array, marker_array
from .parameters import PARAMETERS, NodeParameters, Parameter

NODE_NAME = "spot_perception"
WARNING_INTERVAL_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
WORKER_STOP_TIMEOUT_S = 10.0
EXIT_BAD_INPUT, EXIT_FAILURE = 2, 1
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1)


def optional_vision_messages():
    """The vision_msgs.msg module, or None where vision_msgs is not installed (it is not on PyPI)."""
    try:
        return importlib.import_module("vision_msgs.msg")
    except ImportError:
        return None


def descriptor(parameter: Parameter) -> ParameterDescriptor:
    """The ROS descriptor of a table entry: its description and, for numbers, the range ROS enforces."""
    ranges = {}
    if isinstance(parameter.default, float):
        ranges["floating_point_range"] = [FloatingPointRange(from_value=parameter.low, to_value=parameter.high)]
    elif isinstance(parameter.default, int) and parameter.low is not None and not isinstance(parameter.default, bool):
        ranges["integer_range"] = [IntegerRange(from_value=int(parameter.low), to_value=int(parameter.high), step=1)]
    return ParameterDescriptor(description=parameter.description, **ranges)


class PerceptionNode(LifecycleNode):
    """Subscribes to a cloud while active, runs `perception` on the newest one in a worker thread, publishes."""

    def __init__(self, load_perception: Callable[..., Any], **node_options):
        super().__init__(NODE_NAME, **node_options)
        self._declare_parameters()
        self.load_perception = load_perception
        self.parameters: NodeParameters | None = None
        self.perception = None
        self.stats = PipelineStats()
        self.slot: NewestSlot[PointCloud2] = NewestSlot(closed=True)
        self.worker: threading.Thread | None = None
        self.subscription = None
        self.outputs: list = []
        self.state = "unconfigured"
        self.vision = optional_vision_messages()
        self.add_on_set_parameters_callback(self._refuse_changes_while_configured)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diagnostics_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)

    @property
    def autostart(self) -> bool:
        return bool(self.get_parameter("autostart").value)

    def _declare_parameters(self) -> None:
        """Declare every parameter of the table; a value of the wrong type or range is a `SpotInputError`."""
        for parameter in PARAMETERS:
            try:
                self.declare_parameter(parameter.name, parameter.default, descriptor(parameter))
            except ParameterException as error:
                reason = str(error).removesuffix(f": {parameter.name}")
                raise SpotInputError(
                    f"parameter {parameter.name!r}: {reason}. It takes {parameter.expected()}: {parameter.description}"
                ) from None

    def _refuse_changes_while_configured(self, changes) -> SetParametersResult:
        if self.parameters is None:
            return SetParametersResult(successful=True)
        return SetParametersResult(
            successful=False, reason="parameters are read in on_configure: clean the node up first, then configure"
        )

    # Lifecycle transitions.

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters and load the artifact; a bad one fails the transition with one log line."""
        try:
            parameters = NodeParameters.from_values({p.name: self.get_parameter(p.name).value for p in PARAMETERS})
            self.perception = self.load_perception(
                parameters.artifact, engine=parameters.engine, num_threads=parameters.num_threads or None
            )
        except SpotInputError as error:
            self._report_configure_failure(str(error))
            return TransitionCallbackReturn.FAILURE
        except Exception as error:  # an artifact the runtime cannot run, said in one line instead of swallowed
            self._report_configure_failure(f"loading the artifact failed: {error!r}")
            return TransitionCallbackReturn.FAILURE
        self.parameters = parameters
        self.label_dtype = np.uint8 if len(self.perception.class_names) < 255 else np.uint16
        self._create_outputs()
        self.state = "inactive"
        self.get_logger().info(
            f"artifact {parameters.artifact}: {len(self.perception.class_names)} segmentation classes, "
            f"{len(self.perception.box_class_names)} box classes, input {self.perception.input_columns}"
        )
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.slot.reopen()
        self.subscription = self.create_subscription(PointCloud2, "~/input/pointcloud", self.slot.put, SENSOR_QOS)
        self.worker = threading.Thread(target=self._work, name="spot-perception", daemon=True)
        self.worker.start()
        self.state = "active"
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing()
        self.state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.state = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing()
        self._release()
        self.state = "finalized"
        return super().on_shutdown(state)

    def start(self) -> int:
        """configure + activate (autostart); 0, or the exit code when the artifact or a parameter is bad."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return EXIT_BAD_INPUT
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            return EXIT_FAILURE
        return 0

    def close(self) -> None:
        """Stop the worker (it finishes the cloud in hand), release the artifact and destroy the node."""
        self._stop_processing()
        self._release()
        self.destroy_node()

    def _report_configure_failure(self, message: str) -> None:
        """FATAL when the node configures itself (the process then exits 2), ERROR under a lifecycle manager."""
        log = self.get_logger().fatal if self.autostart else self.get_logger().error
        log(message)

    def _create_outputs(self) -> None:
        self.segmentation_pub = self.create_lifecycle_publisher(PointCloud2, "~/output/segmentation", OUTPUT_QOS)
        self.objects_pub = self.create_lifecycle_publisher(MarkerArray, "~/output/objects", OUTPUT_QOS)
        self.detections_pub = (
            self.create_lifecycle_publisher(self.vision.Detection3DArray, "~/output/detections", OUTPUT_QOS)
            if self.vision is not None
            else None
        )
        self.processing_time_pub = self.create_lifecycle_publisher(Float64, "~/debug/processing_time_ms", 10)
        self.outputs = [self.segmentation_pub, self.objects_pub, self.detections_pub, self.processing_time_pub]

    def _stop_processing(self) -> None:
        if self.subscription is not None:
            self.destroy_subscription(self.subscription)
            self.subscription = None
        self.slot.close()
        if self.worker is not None:
            self.worker.join(timeout=WORKER_STOP_TIMEOUT_S)
            self.worker = None

    def _release(self) -> None:
        for publisher in filter(None, self.outputs):
            self.destroy_lifecycle_publisher(publisher)
        self.outputs = []
        if self.perception is not None and hasattr(self.perception, "close"):
            self.perception.close()
        self.perception = self.parameters = None

    # The worker.

    def _work(self) -> None:
        while self._process_next():
            pass

    def _process_next(self) -> bool:
        """Take the newest cloud and process it; False once the slot is closed. The message lives in this frame
        only, so a huge cloud is released as soon as it is done with, not kept until the next one arrives."""
        message = self.slot.take()
        if message is None:
            return False
        started = time.perf_counter()
        try:
            inference_ms = self._process(message)
            if inference_ms is not None:
                elapsed_ms = (time.perf_counter() - started) * 1e3
                self.stats.record(elapsed_ms, inference_ms)
                self.processing_time_pub.publish(Float64(data=elapsed_ms))
        except Exception as error:  # publishing failed
            if not self.context.ok():
                return False  # Ctrl-C shut ROS down while this cloud was in flight: nothing left to deliver to
            failed = self.stats.refused(malformed=False)
            self.get_logger().error(
                f"publishing failed ({failed} so far): {error!r}", throttle_duration_sec=WARNING_INTERVAL_S
            )
        return True

    def _process(self, message: PointCloud2) -> float | None:
        """Infer and publish; a bad cloud is logged (throttled) and skipped. The runtime's own time (ms) when
        results went out, else None."""
        try:
            scan, kept = cloud_to_scan(message, self.perception.input_columns)
            result = self.perception(scan)
        except SpotInputError as error:
            rejected = self.stats.refused(malformed=True)
            self.get_logger().warning(
                f"skipped a malformed cloud ({rejected} so far): {error}", throttle_duration_sec=WARNING_INTERVAL_S
            )
            return None
        except Exception as error:  # a crash here would silently stop all perception: log and go on
            failed = self.stats.refused(malformed=False)
            self.get_logger().error(
                f"inference failed ({failed} so far): {error!r}", throttle_duration_sec=WARNING_INTERVAL_S
            )
            return None
        header = message.header
        if self.parameters.output_frame:
            header.frame_id = self.parameters.output_frame
        self._publish_segmentation(message, header, result, kept)
        self._publish_objects(header, result)
        return float(result.timings.get("total", float("nan")))

    def _publish_segmentation(self, message: PointCloud2, header, result, kept: np.ndarray) -> None:
        if result.labels is None:
            return
        total = int(message.height) * int(message.width)
        unlabeled = np.iinfo(self.label_dtype).max
        ours = np.where(result.labels >= 0, result.labels, unlabeled).astype(self.label_dtype)
        if len(kept) == total:  # a dense cloud (the usual case): every point was given to the runtime
            labels, scores = ours, result.scores  # scores are 0 where there is no label
        else:
            labels, scores = np.full(total, unlabeled, dtype=self.label_dtype), np.zeros(total, dtype=np.float32)
            labels[kept], scores[kept] = ours, result.scores
        cloud = append_fields(message, {"label": labels, "score": scores})
        self.segmentation_pub.publish(cloud_message(cloud, header))

    def _publish_objects(self, header, result) -> None:
        if result.boxes is None:
            return
        boxes = result.boxes.select(box_scores(result.boxes) >= self.parameters.score_threshold)
        names = self.perception.box_class_names
        self.objects_pub.publish(marker_array(boxes, names, header))
        if self.detections_pub is not None:
            self.detections_pub.publish(detection_array(boxes, names, header, self.vision))

    def _publish_diagnostics(self) -> None:
        status = pipeline_status(
            f"{self.get_fully_qualified_name()}: pipeline",
            self.state,
            self.stats,
            self.slot.received,
            self.slot.dropped,
        )
        header = Header(stamp=self.get_clock().now().to_msg())
        self.diagnostics_pub.publish(DiagnosticArray(header=header, status=[status]))


def main(args: list[str] | None = None, load_perception: Callable[..., Any] = Perception.load) -> int:
    """Entry point of `ros2 run spot_ros perception_node`: 0 on Ctrl-C / shutdown, 2 on a bad parameter or
    artifact (one FATAL line)."""
    profile = apply_large_data_profile()
    heap_kept = keep_heap_mapped()
    try:
        rclpy.init(args=args)
    except RCLError as error:  # a malformed --ros-args (e.g. `-p num_threads:=`): rcl has logged which one
        rclpy.logging.get_logger(NODE_NAME).fatal(f"bad command line: {error}")
        return EXIT_BAD_INPUT
    node = None
    try:
        node = PerceptionNode(load_perception)
        node.get_logger().info(
            f"DDS profile: {profile or 'Fast DDS built-in transports'}; freed memory "
            f"{'stays mapped' if heap_kept else 'is returned to the OS (not glibc)'}"
        )
        if node.autostart and (code := node.start()):
            return code
        rclpy.spin(node)
    except SpotInputError as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(error))
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
