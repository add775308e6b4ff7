"""The built-in LiDAR simulator: procedural streets, real beam layouts, exact labels, boxes and occupancy.

Public API:
- `SimulatedSequence(sensor="hdl64", frames=N, seed=S)`: iterate `(Sample, FrameTruth)`; `.occupancy(i)`.
- `generate_scene(seed, duration)`, `simulate_frame(scene, sensor, time, rng)`, `frame_occupancy(scene, time)`.
- `write_sequence(sequence, root, sequence_id)`: the SemanticKITTI layout plus boxes, occupancy, dataset.yaml.
- `ReturnModel`: range noise, dropout and intensity parameters of the simulated returns.
"""

from .classes import LABEL_MAP_CONFIG, label_map
from .lidar import SCAN_COLUMNS, ReturnModel
from .scene import Scene, generate_scene
from .sequence import DEFAULT_OCCUPANCY_GRID, FrameTruth, SimulatedSequence, frame_occupancy, simulate_frame

__all__ = [
    "DEFAULT_OCCUPANCY_GRID",
    "LABEL_MAP_CONFIG",
    "SCAN_COLUMNS",
    "FrameTruth",
    "ReturnModel",
    "Scene",
    "SimulatedSequence",
    "frame_occupancy",
    "generate_scene",
    "label_map",
    "simulate_frame",
]
