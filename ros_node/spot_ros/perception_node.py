"""perception_node: an exported spot artifact on a LiDAR PointCloud2 topic -> labelled points and 3D boxes.

Topics (relative to the node, remap as usual):
- `~/input/pointcloud` (sensor_msgs/PointCloud2, sensor-data QoS, keep last 1)
- `~/output/segmentation` (PointCloud2: the input's fields + `label` uint8/uint16 + `score` float32)
- `~/output/objects` (visualization_msgs/MarkerArray), `~/output/detections` (vision_msgs/Detection3DArray,
  only where vision_msgs is installed)
- `~/debug/processing_time_ms` (std_msgs/Float64), `/diagnostics` (1 Hz: received, processed, dropped, refused)

The subscription callback only parks the message in a `NewestSlot`; one worker thread converts, infers and
publishes, so a slow network never queues clouds: the newest one waits, older ones are dropped and counted.
Malformed clouds are refused with a throttled warning; the node keeps running. Outputs keep the input's stamp
and frame. Perception itself is `spot.runtime.Perception`, injected through `load_perception` (tests pass a fake).
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Float64, Header
from visualization_msgs.msg import MarkerArray

from spot.runtime.errors import SpotInputError
from spot.runtime.ros.messages import cloud_message
from spot.runtime.ros.pointcloud2 import append_fields, cloud_to_scan

from .diagnostics import PipelineStats, pipeline_status
from .newest import NewestSlot
from .objects import box_scores, detection_array, marker_array

NODE_NAME = "spot_perception"
WARNING_INTERVAL_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1)


@dataclass(frozen=True)
class NodeParameters:
    artifact: str
    engine: str
    num_threads: int
    score_threshold: float
    output_frame: str


def optional_vision_messages():
    """The vision_msgs.msg module, or None where vision_msgs is not installed (it is not on PyPI)."""
    try:
        return importlib.import_module("vision_msgs.msg")
    except ImportError:
        return None


class PerceptionNode(Node):
    """Subscribes to a cloud, runs `perception` on the newest one in a worker thread, publishes results."""

    def __init__(self, load_perception: Callable[..., Any], **node_options):
        super().__init__(NODE_NAME, **node_options)
        self.parameters = self._declare_parameters()
        self.perception = load_perception(
            self.parameters.artifact, engine=self.parameters.engine, num_threads=self.parameters.num_threads or None
        )
        self.label_dtype = np.uint8 if len(self.perception.class_names) < 255 else np.uint16
        self.stats = PipelineStats()
        self.slot: NewestSlot[PointCloud2] = NewestSlot()
        self.vision = optional_vision_messages()
        self._create_endpoints()
        self.worker = threading.Thread(target=self._work, name="spot-perception", daemon=True)
        self.worker.start()
        self.get_logger().info(
            f"artifact {self.parameters.artifact}: {len(self.perception.class_names)} segmentation classes, "
            f"{len(self.perception.box_class_names)} box classes, input {self.perception.input_columns}"
        )

    def _declare_parameters(self) -> NodeParameters:
        values = {
            "artifact": self.declare_parameter("artifact", "").value,
            "engine": self.declare_parameter("engine", "onnxruntime").value,
            "num_threads": self.declare_parameter("num_threads", 0).value,
            "score_threshold": self.declare_parameter("score_threshold", 0.0).value,
            "output_frame": self.declare_parameter("output_frame", "").value,
        }
        if not values["artifact"]:
            raise SpotInputError("parameter 'artifact' is required: --ros-args -p artifact:=<spot-export folder>")
        return NodeParameters(**values)

    def _create_endpoints(self) -> None:
        self.subscription = self.create_subscription(PointCloud2, "~/input/pointcloud", self.slot.put, SENSOR_QOS)
        self.segmentation_pub = self.create_publisher(PointCloud2, "~/output/segmentation", OUTPUT_QOS)
        self.objects_pub = self.create_publisher(MarkerArray, "~/output/objects", OUTPUT_QOS)
        self.detections_pub = (
            self.create_publisher(self.vision.Detection3DArray, "~/output/detections", OUTPUT_QOS)
            if self.vision is not None
            else None
        )
        self.processing_time_pub = self.create_publisher(Float64, "~/debug/processing_time_ms", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.diagnostics_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)

    def _work(self) -> None:
        while (message := self.slot.take()) is not None:
            started = time.perf_counter()
            try:
                inference_ms = self._process(message)
                if inference_ms is not None:
                    elapsed_ms = (time.perf_counter() - started) * 1e3
                    self.stats.record(elapsed_ms, inference_ms)
                    self.processing_time_pub.publish(Float64(data=elapsed_ms))
            except Exception as error:  # publishing failed
                if not self.context.ok():
                    return  # Ctrl-C shut ROS down while this cloud was in flight: nothing left to deliver to
                self.stats.failed += 1
                self.get_logger().error(f"publishing failed: {error!r}", throttle_duration_sec=WARNING_INTERVAL_S)

    def _process(self, message: PointCloud2) -> float | None:
        """Infer and publish; a bad cloud is logged (throttled) and skipped. The runtime's own time (ms) when
        results went out, else None."""
        try:
            scan, kept = cloud_to_scan(message, self.perception.input_columns)
            result = self.perception(scan)
        except SpotInputError as error:
            self.stats.rejected += 1
            self.get_logger().warning(
                f"skipped a malformed cloud ({self.stats.rejected} so far): {error}",
                throttle_duration_sec=WARNING_INTERVAL_S,
            )
            return None
        except Exception as error:  # a crash here would silently stop all perception: log and go on
            self.stats.failed += 1
            self.get_logger().error(
                f"inference failed ({self.stats.failed} so far): {error!r}", throttle_duration_sec=WARNING_INTERVAL_S
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
        labels = np.full(total, unlabeled, dtype=self.label_dtype)
        scores = np.zeros(total, dtype=np.float32)
        labelled = result.labels >= 0
        labels[kept[labelled]] = result.labels[labelled]
        scores[kept[labelled]] = result.scores[labelled]
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
            f"{self.get_fully_qualified_name()}: pipeline", self.stats, self.slot.received, self.slot.dropped
        )
        header = Header(stamp=self.get_clock().now().to_msg())
        self.diagnostics_pub.publish(DiagnosticArray(header=header, status=[status]))

    def close(self) -> None:
        """Stop the worker (it finishes the cloud in hand) and destroy the node."""
        self.slot.close()
        self.worker.join(timeout=10.0)
        self.destroy_node()


def load_runtime_perception(artifact: str, **options):
    """`spot.runtime.Perception.load`, imported late so `--help`-style failures name what is missing."""
    try:
        from spot.runtime import Perception
    except ImportError as error:
        raise SpotInputError(f"this spot installation has no spot.runtime.Perception ({error})") from error
    return Perception.load(artifact, **options)


def main(args: list[str] | None = None, load_perception: Callable[..., Any] = load_runtime_perception) -> int:
    """Entry point of `ros2 run spot_ros perception_node`: 0 on Ctrl-C / shutdown, 2 on a bad artifact."""
    rclpy.init(args=args)
    node = None
    try:
        node = PerceptionNode(load_perception)
        rclpy.spin(node)
    except SpotInputError as error:
        rclpy.logging.get_logger(NODE_NAME).fatal(str(error))
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
