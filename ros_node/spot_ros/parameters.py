"""The perception node's parameters, each declared once here: name, default, meaning, allowed range.

The node declares them from this table (with ROS descriptors, so `ros2 param describe` shows the same text) and
the launch file turns them into launch arguments: there is no second list of defaults to drift apart. No rclpy
here, so the launch file and tests read the table without a ROS 2 context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spot.runtime.errors import SpotInputError

Value = bool | int | float | str


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Value
    description: str
    low: float | None = None  # inclusive bounds of a number
    high: float | None = None
    required: bool = False  # the default is only a placeholder: the node refuses to configure without a value

    def expected(self) -> str:
        """What a value must be, in words: 'an integer in [0, 256]'."""
        kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[type(self.default)]
        return kind if self.low is None else f"{kind} in [{self.low:g}, {self.high:g}]"


PARAMETERS = (
    Parameter("artifact", "", "folder written by spot-export (model.onnx + spot.json)", required=True),
    Parameter("engine", "onnxruntime", "spot.runtime engine that runs the exported network"),
    Parameter("num_threads", 0, "intra-op threads of the engine; 0 = the engine's default", 0, 256),
    Parameter("score_threshold", 0.3, "boxes scoring below this are not published", 0.0, 1.0),
    Parameter("output_frame", "", "frame_id written on the outputs; '' = the input cloud's (no transform applied)"),
    Parameter("autostart", True, "configure and activate at start; false = wait for a lifecycle manager"),
)


@dataclass(frozen=True)
class NodeParameters:
    artifact: str
    engine: str
    num_threads: int
    score_threshold: float
    output_frame: str
    autostart: bool

    @classmethod
    def from_values(cls, values: Mapping[str, Value]) -> NodeParameters:
        """The parameters the node runs with; a required one must be set."""
        for parameter in PARAMETERS:
            name = parameter.name
            if parameter.required and not values[name]:
                raise SpotInputError(f"parameter {name!r} is required: --ros-args -p {name}:=<{parameter.description}>")
        return cls(**{parameter.name: values[parameter.name] for parameter in PARAMETERS})
