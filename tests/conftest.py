"""Markers that skip with a reason where a GPU, TensorRT, ROS 2, the real LiDAR samples or the fused CPU path
(the cpu extra) are absent."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from spot.runtime.ros.environment import apply_local_ros_defaults

REPO = Path(__file__).resolve().parents[1]
LIDAR_DATA = Path(os.environ.get("SPOT_LIDAR_DATA", REPO.parent / "shared" / "data" / "lidar"))

# Every process a test starts that may touch ROS 2 keeps DDS discovery on this machine, on a DDS domain of this
# test session's own (1-100, so sessions running side by side do not hear each other), with a Fast DDS profile
# that carries full-size scans over best-effort QoS (see spot.runtime.ros.environment).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = os.environ.get("SPOT_TEST_ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
apply_local_ros_defaults()


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _reason_to_skip(marker: str) -> str | None:
    if marker == "gpu" and not _cuda_available():
        return "needs a CUDA device"
    if marker == "trt" and importlib.util.find_spec("tensorrt") is None:
        return "needs TensorRT (pip install tensorrt, on a machine with a GPU)"
    if marker == "ros" and importlib.util.find_spec("rclpy") is None:
        return "needs the ROS 2 wheels (pip install '.[ros]')"
    if marker == "realdata" and not LIDAR_DATA.is_dir():
        return f"needs the real LiDAR samples in {LIDAR_DATA}"
    if marker == "fused":
        from spot.runtime import fused

        return None if fused.available() else f"needs the fused CPU path: {fused.INSTALL_HINT}"
    return None


def pytest_collection_modifyitems(config, items):
    reasons: dict[str, str | None] = {}
    for item in items:
        for marker in ("gpu", "trt", "ros", "realdata", "fused"):
            if marker in item.keywords:
                if marker not in reasons:
                    reasons[marker] = _reason_to_skip(marker)
                if reasons[marker]:
                    item.add_marker(pytest.mark.skip(reason=reasons[marker]))


@pytest.fixture(scope="session")
def lidar_data() -> Path:
    """The real LiDAR samples folder (tests using it carry the `realdata` marker)."""
    if not LIDAR_DATA.is_dir():
        pytest.skip(f"needs the real LiDAR samples in {LIDAR_DATA}")
    return LIDAR_DATA


KITTI_SCAN = "kitti_object/training/velodyne/000000.bin"


def seeded_checkpoint(folder: Path, config_file: str, overrides: list[str], initialise) -> Path:
    """A checkpoint of the config's task with seed-0 weights, then `initialise(task)`; no training."""
    import torch

    from spot.trainer.config import load_config, to_yaml
    from spot.trainer.engine.checkpoint import save_checkpoint
    from spot.trainer.engine.run import build_dataset, build_task

    config = load_config(REPO / config_file, [*overrides, "data.val=null"])
    info = build_dataset(config.data.train).info
    torch.manual_seed(0)
    task = build_task(config, info)
    with torch.no_grad():
        initialise(task)
    meta = {"stage": "finetune", "step": 0, "dataset_info": info.to_dict()}
    return save_checkpoint(folder, "step_0000000", task.state_dict(), {}, to_yaml(config), meta)


@pytest.fixture(scope="session")
def segmentation_checkpoint(tmp_path_factory) -> Path:
    """A seeded, randomly initialised unet_small segmentation checkpoint (sim classes, +-51.2 m, 0.2 m voxels)
    with non-trivial BatchNorm statistics, so export's BatchNorm folding is exercised."""
    import torch

    def random_batch_norm(task) -> None:
        generator = torch.Generator().manual_seed(1)
        for module in task.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                for tensor, low, high in ((module.running_mean, -0.2, 0.2), (module.running_var, 0.5, 1.5),
                                          (module.weight, 0.5, 1.5), (module.bias, -0.2, 0.2)):  # fmt: skip
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)

    overrides = ["data.train.point_cloud_range=[-51.2,-51.2,-3.0,51.2,51.2,1.8]"]
    folder = tmp_path_factory.mktemp("checkpoint")
    return seeded_checkpoint(folder, "configs/finetune/seg-unet-sim-vlp16.yaml", overrides, random_batch_norm)


@pytest.fixture(scope="session")
def segmentation_artifact(segmentation_checkpoint, lidar_data, tmp_path_factory) -> Path:
    """The portable export of `segmentation_checkpoint`, verified on a real KITTI scan."""
    from spot.export.exporter import ExportOptions, export_checkpoint
    from spot.runtime.io import read_sample

    output = tmp_path_factory.mktemp("artifact") / "seg"
    samples = [read_sample(lidar_data / KITTI_SCAN)]
    export_checkpoint(segmentation_checkpoint, output, samples, ExportOptions("portable", max_points=200_000))
    return output


@pytest.fixture(scope="session")
def detection_checkpoint(tmp_path_factory) -> Path:
    """The CPU-sized detector (det-bev-sim-hdl64: +-25.6 m, 0.2 m voxels, stride-4 BEV), seeded random weights;
    the last heatmap layer is re-drawn with large weights and no bias so that centre scores spread far apart (as
    initialised, every score sits within 1e-4 of 0.1 and box ranks would hang on rounding)."""
    import torch

    def spread_heatmap(task) -> None:
        torch.nn.init.normal_(task.head.heatmap[-1].weight, std=300.0)  # the random BEV features are ~1e-3
        torch.nn.init.zeros_(task.head.heatmap[-1].bias)

    folder = tmp_path_factory.mktemp("detection")
    return seeded_checkpoint(folder, "configs/finetune/det-bev-sim-hdl64.yaml", [], spread_heatmap)


@pytest.fixture(scope="session")
def detection_artifact(detection_checkpoint, lidar_data, tmp_path_factory) -> Path:
    """The portable export of `detection_checkpoint`, verified on a real KITTI scan."""
    from spot.export.exporter import ExportOptions, export_checkpoint
    from spot.runtime.io import read_sample

    output = tmp_path_factory.mktemp("artifact") / "det"
    export_checkpoint(detection_checkpoint, output, [read_sample(lidar_data / KITTI_SCAN)], ExportOptions("portable"))
    return output
