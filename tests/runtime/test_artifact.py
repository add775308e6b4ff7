"""spot.runtime.artifact: spot.json is validated and versioned; unknown schemas are refused clearly."""

from __future__ import annotations

import json
import shutil

import pytest

from spot.runtime import SpotInputError, VoxelGrid
from spot.runtime.artifact import SCHEMA_VERSION, Artifact, DetectionSpec, SegmentationSpec, TensorSpec
from spot.runtime.detection import CenterHeadSpec
from spot.runtime.engines import create_engine
from spot.runtime.errors import ArtifactError
from spot.runtime.kernel_map import ConvGeometry
from spot.runtime.sparse_plan import MapSpec, SparsePlan


@pytest.fixture
def artifact_copy(segmentation_artifact, tmp_path):
    return shutil.copytree(segmentation_artifact, tmp_path / "art")


def _edit(folder, change):
    data = json.loads((folder / "spot.json").read_text())
    change(data)
    (folder / "spot.json").write_text(json.dumps(data))


def test_round_trip(artifact_copy):
    artifact = Artifact.load(artifact_copy)
    assert artifact.to_dict() == json.loads((artifact_copy / "spot.json").read_text())
    assert artifact.segmentation.output == "voxel_logits" and artifact.grid.voxel_size == (0.2, 0.2, 0.2)


def test_newer_schema_is_refused_with_what_to_do(artifact_copy):
    _edit(artifact_copy, lambda data: data.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(SpotInputError, match=r"newer than this runtime reads .* upgrade spot-lidar"):
        Artifact.load(artifact_copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda data: data.pop("schema_version"), "no valid schema_version"),
        (lambda data: data["model"].update(flavour="fast"), "flavour 'fast'"),
        (lambda data: data.update(tasks={}), "declares no task"),
        (lambda data: data["tasks"]["segmentation"].update(output="nope"), r"outputs \['nope'\]"),
        (lambda data: data.pop("inputs"), "malformed"),
        (lambda data: data["inputs"][0].update(feed="magic"), "feed 'magic'"),
    ],
)
def test_malformed_spot_json_names_the_problem(artifact_copy, change, message):
    _edit(artifact_copy, change)
    with pytest.raises(SpotInputError, match=message):
        Artifact.load(artifact_copy)


def test_missing_model_and_unknown_engine(artifact_copy):
    artifact = Artifact.load(artifact_copy)
    known = r"\['onnxruntime', 'tensorrt'\]"
    with pytest.raises(SpotInputError, match=rf"unknown engine 'tensorflow'; this runtime has {known}"):
        create_engine("tensorflow", artifact)
    (artifact_copy / "model.onnx").unlink()
    with pytest.raises(SpotInputError, match=r"no model\.onnx"):
        Artifact.load(artifact_copy)


GRID = VoxelGrid((-25.6, -25.6, -3.0, 25.6, 25.6, 1.8), (0.2, 0.2, 0.2))
DOWN = MapSpec("down1", "input", ConvGeometry.make((2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), False))


def _artifact(folder, segmentation=True, detection=True) -> Artifact:
    """A spot.json with both task sections (and an empty model.onnx: loading spot.json never reads it)."""
    head = CenterHeadSpec(("car", "pedestrian"), GRID, stride=4)
    h, w = head.map_shape
    outputs = (TensorSpec("voxel_logits", "float32", ("V_input", 3)),
               TensorSpec("heatmap_logits", "float32", (1, 2, h, w)),
               TensorSpec("box_regression", "float32", (1, 8, h, w)))  # fmt: skip
    inputs = (TensorSpec("voxel_features", "float32", ("V_input", 4), "voxel_features"),
              TensorSpec("coords.down1", "int32", ("V_down1", 4), "coords", "down1"),
              TensorSpec("pairs.down1", "int64", (2, "P_down1"), "pairs", "down1"))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(b"")
    artifact = Artifact(
        "portable", 17, ("x", "y", "z", "intensity"), 1000, GRID, SparsePlan((DOWN,)), inputs, outputs,
        SegmentationSpec("voxel_logits", ("road", "car", "tree"), ((0, 0, 0),) * 3) if segmentation else None,
        DetectionSpec("heatmap_logits", "box_regression", head) if detection else None, path=folder,
    )  # fmt: skip
    artifact.save(folder)
    return artifact


def test_detection_head_decodes_on_the_artifact_grid(tmp_path):
    artifact = _artifact(tmp_path / "art")
    head = json.loads((tmp_path / "art/spot.json").read_text())["tasks"]["detection"]["head"]
    assert "voxelization" not in head and head["stride"] == 4
    loaded = Artifact.load(tmp_path / "art")
    assert loaded == artifact and loaded.detection.head.grid is loaded.grid
    assert loaded.detection.head.map_shape == (64, 64)


def _as_version_1(folder, grid=GRID):
    """spot.json as schema version 1 wrote it: the detection head held its own copy of the grid."""
    data = json.loads((folder / "spot.json").read_text())
    data["schema_version"] = 1
    data["tasks"]["detection"]["head"]["voxelization"] = grid.to_dict()
    (folder / "spot.json").write_text(json.dumps(data))


def test_version_1_artifacts_keep_loading(tmp_path):
    artifact = _artifact(tmp_path / "art")
    _as_version_1(tmp_path / "art")
    assert Artifact.load(tmp_path / "art") == artifact
    _as_version_1(tmp_path / "art", VoxelGrid(GRID.point_cloud_range, (0.4, 0.4, 0.2)))
    with pytest.raises(ArtifactError, match=r"spot.json: the detection head's voxelization .* differs"):
        Artifact.load(tmp_path / "art")


@pytest.mark.parametrize(
    ("change", "message"),
    [  # issues 14.13 and 14.17: each names spot.json, blames the artifact, and is found at load, not per scan
        (lambda d: d["tasks"]["segmentation"].update(class_names=["road", "car"], class_colors=[[0, 0, 0]] * 2),
         r"output 'voxel_logits' has shape \('V_input', 3\) but the task section expects \('V', 2\)"),
        (lambda d: d["voxelization"].update(voxel_size=[1e-6] * 3), r"voxel grid of 51200000 x .* at most 2\*\*40"),
        (lambda d: d["voxelization"].update(voxel_size=[0.2, -1, 0.2]), "voxel grid needs positive sizes"),
        (lambda d: d["input"].update(columns=["x", "y", "z"]), r"input.columns \('x', 'y', 'z'\) must start with"),
        (lambda d: d["input"].update(columns=["x", "y", "z", "intensity", "ring"]),
         r"input.columns names 5 columns .* but the graph input 'voxel_features' takes 4"),
        (lambda d: d["inputs"][2].update(of="subm9"), r"input 'pairs.down1' is fed from pairs of 'subm9'"),
        (lambda d: d["tasks"]["detection"]["head"].update(stride=2), r"output 'heatmap_logits' has shape"),
        (lambda d: d["tasks"]["detection"]["head"].update(nms_radius=[1.0]), "CenterHeadSpec has 1 nms_radius values"),
        (lambda d: d["tasks"]["detection"].update(head=[]), "malformed"),
    ],
)
def test_spot_json_that_disagrees_with_itself(tmp_path, change, message):
    _artifact(tmp_path / "art")
    _edit(tmp_path / "art", change)
    with pytest.raises(ArtifactError, match=rf"art/spot.json: {message}"):
        Artifact.load(tmp_path / "art")
