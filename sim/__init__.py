"""The built-in LiDAR simulator: procedural streets, real beam layouts, exact labels, boxes and occupancy.

Public API:
- `SimulatedSequence(sensor="hdl64", frames=N, seed=S, cameras=None)`: iterate `(Sample, FrameTruth)`;
  `.occupancy(i)`; with a camera rig (`"nusc6"`, a `CAMERA_RIGS` name, or `CameraSpec`s) `.camera_frames(i)`:
  `(CameraFrame, CameraTruth)` per camera, rendered at the instant of sweep i.
- `generate_scene(seed, duration)`, `simulate_frame(scene, sensor, time, rng)`, `frame_occupancy(scene, time)`.
- `write_sequence(sequence, root, sequence_id)`: the SemanticKITTI layout plus boxes, occupancy, dataset.yaml,
  and with cameras `cameras.json` + `cameras/<name>/NNNNNN.png` (`spot.runtime.io.cameras`).
- `ReturnModel`: range noise, dropout and intensity parameters of the simulated returns.
- `SIMULATOR_VERSION`: raised whenever a seed's scene or returns change, so results computed on one version are
  not mixed with another's (the study refuses cached runs of another version).
"""

from .camera import CAMERA_RIGS, CameraSpec, CameraTruth, camera_rig
from .classes import LABEL_MAP_CONFIG, label_map
from .lidar import SCAN_COLUMNS, ReturnModel
from .scene import Scene, generate_scene
from .sequence import DEFAULT_OCCUPANCY_GRID, FrameTruth, SimulatedSequence, frame_occupancy, simulate_frame

# 2: label shares towards the SemanticKITTI dataset's (green sides, garden fronts); 3: returns from inside
# foliage and through windows (spot.sim.relief); 4: side streets, crossroads and T-junctions (spot.sim.crossing)
SIMULATOR_VERSION = 4

__all__ = [
    "CAMERA_RIGS",
    "DEFAULT_OCCUPANCY_GRID",
    "LABEL_MAP_CONFIG",
    "SCAN_COLUMNS",
    "SIMULATOR_VERSION",
    "CameraSpec",
    "CameraTruth",
    "FrameTruth",
    "ReturnModel",
    "Scene",
    "SimulatedSequence",
    "camera_rig",
    "frame_occupancy",
    "generate_scene",
    "label_map",
    "simulate_frame",
]
