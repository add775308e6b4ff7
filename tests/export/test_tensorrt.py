"""spot-export --trt: the optimisation profile (everywhere), the clear errors without TensorRT or an engine, and
(`trt`) the engine built and run where TensorRT and a GPU exist."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from spot.export import autoware_ops
from spot.export.exporter import ExportOptions, export_checkpoint
from spot.export.tensorrt import TensorRTOptions, engine_profile
from spot.runtime import Perception, SpotInputError
from spot.runtime.artifact import Artifact
from spot.runtime.io import read_sample

KITTI_SCAN = "kitti_object/training/velodyne/000000.bin"
tensorrt_absent = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")


@pytest.mark.realdata
def test_profile_spans_one_voxel_to_the_bound_with_the_scan_as_optimum(segmentation_artifact, lidar_data):
    artifact = Artifact.load(segmentation_artifact)
    feeds = Perception.load(segmentation_artifact, num_threads=1).prepare(read_sample(lidar_data / KITTI_SCAN).scan)
    profile = engine_profile(artifact, feeds.feeds)
    assert set(profile) == {spec.name for spec in artifact.inputs}
    voxels = feeds.feeds["voxel_features"].shape[0]
    assert profile["voxel_features"] == ((1, 4), (voxels, 4), (200_000, 4))  # max_points of the fixture
    assert profile["coords.input"][2] == (200_000, 4)
    low, opt, high = profile["pairs.subm0"]
    assert low == (2, 0) and opt == feeds.feeds["pairs.subm0"].shape and high == (2, 26 * 200_000)
    assert profile["counts.subm0"] == ((27,), (27,), (27,))
    assert profile["coords.down1"][2] == (200_000, 4)  # kernel 2, stride 2: each voxel reaches one output


@pytest.mark.realdata
def test_autoware_profile_stops_at_the_plugins_voxel_limit(segmentation_artifact):
    portable = Artifact.load(segmentation_artifact)
    inputs = tuple(spec for spec in portable.inputs if spec.feed in ("voxel_features", "coords") and spec.of in
                   (None, "input"))  # fmt: skip
    artifact = dataclasses.replace(portable, flavour="autoware", inputs=inputs, max_points=500_000)
    example = {"voxel_features": np.zeros((1000, 4), np.float32), "coords.input": np.zeros((1000, 4), np.int32)}
    profile = engine_profile(artifact, example)
    assert profile == {name: ((1, 4), (1000, 4), (autoware_ops.MAX_VOXELS, 4)) for name in example}


@tensorrt_absent
def test_export_options_say_what_to_install_before_any_work():
    with pytest.raises(SpotInputError, match=r"pip install tensorrt.*Jetson"):
        ExportOptions("autoware", tensorrt=TensorRTOptions())


@tensorrt_absent
@pytest.mark.realdata
def test_tensorrt_engine_needs_an_engine_then_tensorrt(segmentation_artifact, tmp_path):
    with pytest.raises(SpotInputError, match=r"has no model.engine: build one with `spot-export --trt`"):
        Perception.load(segmentation_artifact, engine="tensorrt")
    copy = tmp_path / "art"
    copy.mkdir()
    for file in segmentation_artifact.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    (copy / "model.engine").write_bytes(b"")
    (copy / "tensorrt.json").write_text(json.dumps({"plugin_libraries": []}))
    with pytest.raises(SpotInputError, match="pip install tensorrt"):
        Perception.load(copy, engine="tensorrt")


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.realdata
@pytest.mark.parametrize("fp16", [False, True])
def test_portable_engine_labels_match_onnxruntime(segmentation_checkpoint, lidar_data, tmp_path, fp16):
    import tensorrt

    if fp16 and int(tensorrt.__version__.split(".")[0]) >= 11:
        pytest.skip("TensorRT 11 builds strongly typed networks: no fp16 flag")
    sample = read_sample(lidar_data / KITTI_SCAN)
    export_checkpoint(segmentation_checkpoint, tmp_path / "art", [sample],
                      ExportOptions("portable", max_points=200_000, tensorrt=TensorRTOptions(fp16=fp16)))  # fmt: skip
    record = json.loads((tmp_path / "art/tensorrt.json").read_text())
    assert (tmp_path / "art/model.engine").stat().st_size > 0 and (tmp_path / "art/tensorrt_build.log").is_file()
    assert record["precision"] == ("fp16" if fp16 else "fp32")
    expected = Perception.load(tmp_path / "art", num_threads=1)(sample.scan).labels
    actual = Perception.load(tmp_path / "art", engine="tensorrt")(sample.scan).labels
    assert (actual == expected).mean() >= (0.99 if fp16 else 0.999)


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("SPOT_TRT_PLUGIN_LIB"), reason="needs SPOT_TRT_PLUGIN_LIB (Autoware's plugins)")
def test_autoware_engine_labels_match_the_reference(segmentation_checkpoint, lidar_data, tmp_path):
    sample = read_sample(lidar_data / KITTI_SCAN)
    plugins = TensorRTOptions(plugin_libraries=(Path(os.environ["SPOT_TRT_PLUGIN_LIB"]),))
    options = ExportOptions("autoware", max_points=200_000, tensorrt=plugins)
    export_checkpoint(segmentation_checkpoint, tmp_path / "art", [sample], options)
    expected = Perception(Artifact.load(tmp_path / "art"), autoware_ops.ReferenceEngine(tmp_path / "art/model.onnx"))
    actual = Perception.load(tmp_path / "art", engine="tensorrt")
    assert (actual(sample.scan).labels == expected(sample.scan).labels).mean() >= 0.999
