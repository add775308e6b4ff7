"""`spot-data simulate` writes the SemanticKITTI layout that the foundation's readers load unchanged."""

import hashlib
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from spot.runtime.cli.data import main
from spot.runtime.io.binary import read_kitti_bin
from spot.runtime.io.semantickitti import LabelMap, read_label_file
from spot.runtime.voxelize import VoxelGrid

ARGS = ["simulate", "--sensor", "vlp16", "--frames", "2", "--seed", "7", "--sequence", "3"]


def _digest(root):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _simulated(tmp_path_factory, args: list[str]):
    root = tmp_path_factory.mktemp("sim")
    result = CliRunner().invoke(main, [*args, "-o", str(root)])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return _simulated(tmp_path_factory, ARGS)


def test_layout_loads_with_the_kitti_readers(written):
    folder = written / "sequences" / "03"
    scan = read_kitti_bin(folder / "velodyne" / "000001.bin")
    semantic, instance = read_label_file(folder / "labels" / "000001.label", len(scan))
    labels = LabelMap.from_yaml(written / "dataset.yaml")(semantic)
    assert len(scan) > 10_000 and (labels >= 0).mean() > 0.99
    assert set(np.unique(semantic)) & {40, 48, 50} and instance.max() > 0
    poses = np.loadtxt(folder / "poses.txt").reshape(-1, 3, 4)
    assert poses.shape == (2, 3, 4) and np.allclose(poses[0], np.eye(4)[:3])
    boxes = json.loads((folder / "boxes" / "000001.json").read_text())["boxes"]
    assert boxes and all(len(b["box"]) == 7 and b["instance"] in set(instance) for b in boxes)


def test_dataset_yaml_describes_sensor_and_occupancy(written):
    import yaml

    description = yaml.safe_load((written / "dataset.yaml").read_text())
    assert description["sensor"]["key"] == "vlp16" and len(description["sensor"]["vertical_angles_deg"]) == 16
    assert description["sequences"] == {"03": {"seed": 7, "frames": 2}}
    grid = VoxelGrid.from_dict(description["occupancy"])
    with np.load(written / "sequences" / "03" / "occupancy" / "000000.npz") as archive:
        assert archive["occupancy"].shape == grid.grid_shape and archive["occupancy"].dtype == np.uint8


def test_same_seed_writes_the_same_bytes(written, tmp_path):
    assert CliRunner().invoke(main, [*ARGS, "-o", str(tmp_path)]).exit_code == 0
    assert _digest(tmp_path) == _digest(written)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--frames", "0"], "0 is not in the range x>=1"), (["--sensor", "hdl128"], "'hdl128' is not one of"),
     (["--sequence", "100"], "100 is not in the range 0<=x<=99")],
)  # fmt: skip
def test_bad_arguments_exit_2_with_a_clear_message(tmp_path, args, message):
    result = CliRunner().invoke(main, ["simulate", "-o", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output


def test_refuses_to_mix_sensors_in_one_folder(written):
    result = CliRunner().invoke(main, ["simulate", "--sensor", "hdl32", "--frames", "1", "-o", str(written)])
    assert result.exit_code == 2 and "written for sensor 'vlp16'" in result.output


CAMERA_ARGS = ["simulate", "--sensor", "vlp16", "--frames", "2", "--seed", "7", "--cameras", "nusc6", "--no-occupancy"]


@pytest.fixture(scope="module")
def written_with_cameras(tmp_path_factory):
    return _simulated(tmp_path_factory, CAMERA_ARGS)


def test_cameras_round_trip_through_the_runtime_reader(written_with_cameras):
    from spot.runtime.io.cameras import read_camera_frames
    from spot.sim import SimulatedSequence

    folder = written_with_cameras / "sequences" / "00"
    sequence = SimulatedSequence("vlp16", frames=2, seed=7, cameras="nusc6")
    for index in range(2):
        frames = read_camera_frames(folder / "velodyne" / f"{index:06d}.bin")
        simulated = sequence.camera_frames(index)
        assert [f.name for f in frames] == [spec.name for spec in sequence.rig] and len(frames) == 6
        for read, (rendered, _) in zip(frames, simulated, strict=True):
            np.testing.assert_array_equal(read.image, rendered.image)
            np.testing.assert_array_equal(read.K, rendered.K)  # JSON keeps every bit of a float64
            np.testing.assert_array_equal(read.T_cam_from_lidar, rendered.T_cam_from_lidar)
            assert read.size == (256, 144) and read.source.endswith(f"cameras/{read.name}/{index:06d}.png")
    scan = read_kitti_bin(folder / "velodyne" / "000001.bin")
    semantic, _ = read_label_file(folder / "labels" / "000001.label", len(scan))
    front = read_camera_frames(folder / "velodyne" / "000001.bin")[0]
    col, row, seen = front.calibration.pixels(scan.xyz)
    assert seen.sum() > 1000  # the written calibration puts the written scan's points into the written image
    truth = sequence.camera_frames(1)[0][1]
    # 0.90 here: 256 px wide, a camera 0.8 m from the LiDAR (parallax), 3 cm range noise; a neighbour's T: 0.2-0.6
    assert np.mean(truth.label[row[seen], col[seen]] == semantic[seen]) > 0.85
    described = yaml.safe_load((written_with_cameras / "dataset.yaml").read_text())
    assert described["sequences"]["00"]["cameras"] == "nusc6"


def test_same_seed_writes_the_same_image_bytes(written_with_cameras, tmp_path):
    assert CliRunner().invoke(main, [*CAMERA_ARGS, "-o", str(tmp_path)]).exit_code == 0
    digest = _digest(tmp_path)
    assert sum("cameras/" in name for name in digest) == 12
    assert digest == _digest(written_with_cameras)


def test_unknown_rig_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["simulate", "--cameras", "nusc7", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "'nusc7' is not one of" in result.output


def test_show_draws_the_scan_onto_a_camera_image(written_with_cameras, tmp_path):
    from PIL import Image

    from spot.runtime.io.cameras import read_camera_frames

    scan = written_with_cameras / "sequences" / "00" / "velodyne" / "000001.bin"
    raw = read_camera_frames(scan)[0].image
    for color_by in ("auto", "depth", "intensity"):
        output = tmp_path / f"{color_by}.png"
        result = CliRunner().invoke(main, ["show", str(scan), "--camera", "CAM_FRONT", "--color-by", color_by,
                                           "-o", str(output)])  # fmt: skip
        assert result.exit_code == 0, result.output
        drawn = np.asarray(Image.open(output).convert("RGB"))
        assert drawn.shape == raw.shape
        assert (drawn != raw).any(axis=-1).mean() > 0.05  # points (2x2 px each) and the legend
    bad = CliRunner().invoke(main, ["show", str(scan), "--camera", "CAM_TOP", "-o", str(tmp_path / "x.png")])
    assert bad.exit_code == 2 and "has no camera 'CAM_TOP'; its cameras are ['CAM_BACK'" in bad.output
    bev = CliRunner().invoke(main, ["show", str(scan), "--color-by", "depth", "-o", str(tmp_path / "y.png")])
    assert bev.exit_code == 2 and "color_by='depth'" in bev.output


def test_show_camera_on_a_scan_without_cameras(written, tmp_path):
    scan = written / "sequences" / "03" / "velodyne" / "000000.bin"
    result = CliRunner().invoke(main, ["show", str(scan), "--camera", "CAM_FRONT", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "cameras.json: no such camera calibration file" in result.output
