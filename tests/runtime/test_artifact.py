"""spot.runtime.artifact: spot.json is validated and versioned; unknown schemas are refused clearly."""

from __future__ import annotations

import json
import shutil

import pytest

from spot.runtime import SpotInputError
from spot.runtime.artifact import SCHEMA_VERSION, Artifact
from spot.runtime.engines import create_engine


@pytest.fixture
def artifact_copy(segmentation_artifact, tmp_path):
    return shutil.copytree(segmentation_artifact, tmp_path / "art")


def _edit(folder, change):
    data = json.loads((folder / "spot.json").read_text())
    change(data)
    (folder / "spot.json").write_text(json.dumps(data))


@pytest.mark.realdata
def test_round_trip(artifact_copy):
    artifact = Artifact.load(artifact_copy)
    assert artifact.to_dict() == json.loads((artifact_copy / "spot.json").read_text())
    assert artifact.segmentation.output == "voxel_logits" and artifact.grid.voxel_size == (0.2, 0.2, 0.2)


@pytest.mark.realdata
def test_newer_schema_is_refused_with_what_to_do(artifact_copy):
    _edit(artifact_copy, lambda data: data.update(schema_version=SCHEMA_VERSION + 1))
    with pytest.raises(SpotInputError, match=r"newer than this runtime reads .* upgrade spot-lidar"):
        Artifact.load(artifact_copy)


@pytest.mark.realdata
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


@pytest.mark.realdata
def test_missing_model_and_unknown_engine(artifact_copy):
    artifact = Artifact.load(artifact_copy)
    known = r"\['onnxruntime', 'tensorrt'\]"
    with pytest.raises(SpotInputError, match=rf"unknown engine 'tensorflow'; this runtime has {known}"):
        create_engine("tensorflow", artifact)
    (artifact_copy / "model.onnx").unlink()
    with pytest.raises(SpotInputError, match=r"no model\.onnx"):
        Artifact.load(artifact_copy)
