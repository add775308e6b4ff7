"""spot.runtime: what runs on the vehicle. numpy + onnxruntime only; never imports torch.

The contracts every other part imports (DESIGN §3) live here, defined once.
"""

from .boxes import BOX_COLUMNS, Boxes, box_corners, points_in_boxes
from .errors import SpotInputError
from .perception import Perception, Result
from .sample import IGNORE_INDEX, Sample
from .scan import COLUMNS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, Scan
from .sensors import SensorDescription
from .voxelize import VoxelGrid, Voxels, voxelize

__all__ = [
    "BOX_COLUMNS",
    "COLUMNS",
    "IGNORE_INDEX",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Boxes",
    "Perception",
    "Result",
    "Sample",
    "Scan",
    "SensorDescription",
    "SpotInputError",
    "VoxelGrid",
    "Voxels",
    "box_corners",
    "points_in_boxes",
    "voxelize",
]
