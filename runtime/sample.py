"""The Sample contract (DESIGN §3): what every dataset yields and every model consumes.

Keys:
- `scan`: `Scan`, the sweep (sensor frame).
- `labels`: int32 (N,) per-point class ids into the dataset's class names, `IGNORE_INDEX` where unlabeled.
- `instances`: int32 (N,) per-point instance ids (0 = none), consistent over a sequence where known.
- `boxes`: `Boxes` in the sensor frame.
- `pose`: float64 (4, 4) sensor -> world.
- `sensor`: `SensorDescription`.
- `dataset`: domain name (PPT's per-dataset context keys on it).
- `source`: where it came from (file path or simulator id), for error messages and outputs.
- `class_names`: names of the `labels` class ids (index = id), as the reader's label set defines them.
- `box_class_names`: names of the `boxes` class ids (detection classes often differ from the per-point set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import Boxes
from .errors import SpotInputError
from .scan import Scan
from .sensors import SensorDescription

IGNORE_INDEX = -1


@dataclass(frozen=True)
class Sample:
    scan: Scan
    labels: np.ndarray | None = None
    instances: np.ndarray | None = None
    boxes: Boxes | None = None
    pose: np.ndarray | None = None
    sensor: SensorDescription | None = None
    dataset: str = "unknown"
    source: str = ""
    class_names: tuple[str, ...] = ()
    box_class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.scan)
        for name in ("labels", "instances"):
            values = getattr(self, name)
            if values is None:
                continue
            values = np.asarray(values)
            if values.dtype.kind not in "iuf":
                raise SpotInputError(f"{name} hold {values.dtype} values; expected ids", source=self.source or None)
            if values.shape != (n,):
                raise SpotInputError(
                    f"{name} has shape {values.shape} but the scan has {n} points", source=self.source or None
                )
            object.__setattr__(self, name, values.astype(np.int32, copy=False))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "box_class_names", tuple(self.box_class_names))
        if self.pose is not None:
            pose = np.asarray(self.pose, dtype=np.float64)
            if pose.shape != (4, 4):
                raise SpotInputError(f"pose must be 4x4, got {pose.shape}", source=self.source or None)
            object.__setattr__(self, "pose", pose)
