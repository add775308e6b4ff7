"""Markers that skip with a reason where a GPU, TensorRT, ROS 2, the real LiDAR samples or the fused CPU path
(the cpu extra) are absent; the shared fixtures: simulated scans, seeded checkpoints, their exported artifacts, a
torch-free interpreter."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spot_ros.environment import apply_local_ros_defaults  # ros_node/ is on pytest's pythonpath; no rclpy here

REPO = Path(__file__).resolve().parents[1]
LIDAR_DATA = Path(os.environ.get("SPOT_LIDAR_DATA", REPO.parent / "shared" / "data" / "lidar"))

# Every process a test starts that may touch ROS 2 keeps DDS discovery on this machine, on a DDS domain of this
# test session's own (1-100, so sessions running side by side do not hear each other), with a Fast DDS profile
# that carries full-size scans over best-effort QoS (see spot_ros.environment).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = os.environ.get("SPOT_TEST_ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
apply_local_ros_defaults()


def _importable(module: str) -> bool:
    """find_spec, where a broken or blocked install (a finder raising ImportError) also counts as absent."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cuda_available() -> bool:
    if not _importable("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def _reason_to_skip(marker: str) -> str | None:
    if marker == "gpu" and not _cuda_available():
        return "needs a CUDA device"
    if marker == "trt" and not _importable("tensorrt"):
        return "needs TensorRT (pip install tensorrt, on a machine with a GPU)"
    if marker == "ros" and not _importable("rclpy"):
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
            if item.get_closest_marker(marker):  # not `in item.keywords`, which matches folder names too (ros/)
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


BLOCK_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked: the base install has no torch")

    sys.meta_path.insert(0, NoTorch())
    """
)


@pytest.fixture(scope="session")
def run_without_torch():
    """run(code, *args) -> CompletedProcess: `code` in a fresh interpreter (argv[1:] = args) where importing torch
    fails, as in the base install."""

    def run(code: str, *args) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code), *map(str, args)]
        environment = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(command, capture_output=True, text=True, timeout=180, env=environment)

    return run


@pytest.fixture(scope="session")
def simulated_scans() -> list:
    """Two frames of the seed-0 simulated street seen by an HDL-64E (~125k points each, labels and boxes): the
    scans every export and runtime parity test runs on, with or without ../shared beside the checkout."""
    from spot.sim import SimulatedSequence

    return SimulatedSequence("hdl64", frames=2, seed=0).samples()


@pytest.fixture(scope="session")
def simulated_scan_file(simulated_scans, tmp_path_factory) -> Path:
    """The first simulated scan as a KITTI `.bin` (x y z intensity), for the command lines."""
    from spot.runtime.io import write_scan

    path = tmp_path_factory.mktemp("simulated") / "000000.bin"
    write_scan(path, simulated_scans[0].scan)
    return path


@pytest.fixture(params=["simulated", pytest.param("real", marks=pytest.mark.realdata)])
def parity_scans(request) -> list:
    """The scans an export parity test verifies on: the simulated ones in any checkout, then, as the `realdata`
    layer, the test module's `REAL_SCANS` (paths under ../shared/data/lidar)."""
    if request.param == "simulated":
        return request.getfixturevalue("simulated_scans")
    from spot.runtime.io import read_sample

    lidar_data = request.getfixturevalue("lidar_data")
    return [read_sample(lidar_data / scan) for scan in request.module.REAL_SCANS]


def benchmark_script(name: str, monkeypatch, schedule: tuple[str, ...]):
    """benchmarks/<name>.py as a module (the benchmarks are scripts, not a package) with `schedule` as its
    training overrides, run from the repository root as documented."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SCHEDULE", schedule)
    monkeypatch.chdir(REPO)
    return module


def run_script(module, monkeypatch, *args: str) -> None:
    """A benchmark script's `main` with `args` on its command line."""
    monkeypatch.setattr(sys, "argv", [f"{module.__name__}.py", *args])
    module.main()


def assert_cached_and_version_checked(module, monkeypatch, capsys, result: Path, *args: str) -> None:
    """A benchmark invoked again with `args` retrains nothing (its cached `result` stays as it was), and refuses,
    one line and exit 2, a cache that another simulator version trained."""
    stamp = result.stat().st_mtime_ns
    run_script(module, monkeypatch, *args)
    assert result.stat().st_mtime_ns == stamp
    monkeypatch.setattr(module, "SIMULATOR_VERSION", module.SIMULATOR_VERSION + 1)
    with pytest.raises(SystemExit) as exit_info:
        run_script(module, monkeypatch, *args)
    assert exit_info.value.code == 2
    assert "was trained on simulator version" in capsys.readouterr().err


def random_batch_norm(task, generator=None) -> None:
    """Every BatchNorm1d of `task` with random statistics and affine parameters (seeded), so that export's
    BatchNorm folding is exercised."""
    import torch

    generator = generator or torch.Generator().manual_seed(1)
    for module in task.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            for tensor, low, high in ((module.running_mean, -0.2, 0.2), (module.running_var, 0.5, 1.5),
                                      (module.weight, 0.5, 1.5), (module.bias, -0.2, 0.2)):  # fmt: skip
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)


def seeded_checkpoint(folder: Path, config_file: str, overrides: list[str], initialise) -> Path:
    """A checkpoint of the config's task with seed-0 weights, then `initialise(task)`; no training."""
    import torch

    from spot.trainer.config import load_config, to_yaml
    from spot.trainer.engine.checkpoint import save_checkpoint
    from spot.trainer.engine.run import build_task, experiment_info

    config = load_config(REPO / config_file, [*overrides, "data.val=null"])
    info = experiment_info(config)
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
    overrides = ["voxelization.point_cloud_range=[-51.2,-51.2,-3.0,51.2,51.2,1.8]"]
    folder = tmp_path_factory.mktemp("checkpoint")
    return seeded_checkpoint(folder, "configs/finetune/seg-unet-sim-vlp16.yaml", overrides, random_batch_norm)


@pytest.fixture(scope="session")
def segmentation_artifact(segmentation_checkpoint, simulated_scans, tmp_path_factory) -> Path:
    """The portable export of `segmentation_checkpoint` (at most 200k points), verified on a simulated scan."""
    from spot.export.exporter import ExportOptions, export_checkpoint

    output = tmp_path_factory.mktemp("artifact") / "seg"
    options = ExportOptions("portable", max_points=200_000)
    export_checkpoint(segmentation_checkpoint, output, simulated_scans[:1], options)
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
def detection_artifact(detection_checkpoint, simulated_scans, tmp_path_factory) -> Path:
    """The portable export of `detection_checkpoint`, verified on a simulated scan."""
    from spot.export.exporter import ExportOptions, export_checkpoint

    output = tmp_path_factory.mktemp("artifact") / "det"
    export_checkpoint(detection_checkpoint, output, simulated_scans[:1], ExportOptions("portable"))
    return output


POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"


def rosbags_cloud(types, scan, stamp_s: int, frame_id: str):
    """A rosbags PointCloud2 of `scan` with intensity first and 4 bytes of padding per point (not the Scan's
    layout, as a driver would send it); `types` is a rosbags typestore (ROS 2 or ROS 1)."""
    import numpy as np

    fields = [
        types.types["sensor_msgs/msg/PointField"](name=name, offset=offset, datatype=7, count=1)
        for name, offset in (("intensity", 0), ("x", 8), ("y", 12), ("z", 16))
    ]
    points = np.zeros((len(scan), 5), np.float32)
    points[:, 0], points[:, 2:5] = scan.intensity, scan.xyz
    stamp = types.types["builtin_interfaces/msg/Time"](sec=stamp_s, nanosec=0)
    header_type = types.types["std_msgs/msg/Header"]
    header_fields = {"seq": 0} if "seq" in header_type.__dataclass_fields__ else {}
    return types.types[POINTCLOUD2](
        header=header_type(**header_fields, stamp=stamp, frame_id=frame_id),
        height=1,
        width=len(scan),
        fields=fields,
        is_bigendian=False,
        point_step=20,
        row_step=20 * len(scan),
        data=points.view(np.uint8).reshape(-1),
        is_dense=True,
    )


@pytest.fixture
def write_cloud_bag():
    """write(path, storage, {topic: [Scan]}) -> path: a bag of those scans as PointCloud2 (frame `os_sensor`,
    recorded at 100 s, 101 s, ...) plus a /tf_static String topic. storage: "sqlite3" or "mcap" (a rosbag2
    folder at `path`) or "ros1" (a ROS 1 `.bag` file at `path`)."""
    pytest.importorskip("rosbags", reason="bag tests need rosbags (a base dependency of spot-lidar)")
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    def write(path: Path, storage: str, topics: dict) -> Path:
        ros1 = storage == "ros1"
        types = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.LATEST)
        serialize = types.serialize_ros1 if ros1 else types.serialize_cdr
        plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}.get(storage)
        with Writer1(path) if ros1 else Writer(path, version=9, storage_plugin=plugin) as writer:
            for topic, scans in topics.items():
                connection = writer.add_connection(topic, POINTCLOUD2, typestore=types)
                for i, scan in enumerate(scans):
                    writer.write(
                        connection,
                        (100 + i) * 10**9,
                        serialize(rosbags_cloud(types, scan, 100 + i, "os_sensor"), POINTCLOUD2),
                    )
            writer.add_connection("/tf_static", "std_msgs/msg/String", typestore=types)
        return path

    return write


@pytest.fixture
def damaged_bags(tmp_path, write_cloud_bag) -> dict[str, Path]:
    """The six ways a bag arrives broken: random bytes named .db3 / .mcap / .bag, a .db3 and an .mcap cut in
    half, a rosbag2 folder whose metadata.yaml is not YAML."""
    import shutil

    import numpy as np

    from spot.runtime import Scan

    scans = [Scan(np.random.default_rng(i).uniform(-20, 20, (2000, 4)).astype(np.float32)) for i in range(10)]
    folder = tmp_path / "damaged"
    folder.mkdir()
    bags = {}
    for suffix in (".db3", ".mcap", ".bag"):
        bags[f"random bytes {suffix}"] = folder / f"random{suffix}"
        bags[f"random bytes {suffix}"].write_bytes(np.random.default_rng(len(suffix)).bytes(5000))
    for storage, suffix in (("sqlite3", ".db3"), ("mcap", ".mcap")):
        whole = next(write_cloud_bag(tmp_path / storage, storage, {"/points": scans}).glob(f"*{suffix}"))
        bags[f"truncated {suffix}"] = folder / f"truncated{suffix}"
        bags[f"truncated {suffix}"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    broken = shutil.copytree(tmp_path / "mcap", folder / "broken_metadata")
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n  : :\n")
    bags["broken metadata.yaml"] = broken
    return bags
