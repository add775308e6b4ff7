"""`spot-data simulate` writes the SemanticKITTI layout that the foundation's readers load unchanged."""

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from spot.runtime.cli.data import main
from spot.runtime.io.binary import read_kitti_bin
from spot.runtime.io.semantickitti import LabelMap, read_label_file
from spot.runtime.voxelize import VoxelGrid

ARGS = ["simulate", "--sensor", "vlp16", "--frames", "2", "--seed", "7", "--sequence", "3"]


def _digest(root):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    result = CliRunner().invoke(main, [*ARGS, "-o", str(root)])
    assert result.exit_code == 0, result.output
    return root


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
