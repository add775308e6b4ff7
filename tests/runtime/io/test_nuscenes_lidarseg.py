"""nuScenes-lidarseg in its own layout: labelled keyframes by scene, exact points and labels, bad trees refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nuscenes_tree import VERSION, write_nuscenes_tree

from spot.runtime import IGNORE_INDEX, SpotInputError, VoxelGrid
from spot.runtime.io.label_maps import NUSCENES16_CLASSES, named_label_map
from spot.runtime.io.nuscenes_lidarseg import NuScenesLidarseg
from spot.trainer.data.datasets import NuScenesDataConfig, NuScenesDataset
from spot.trainer.engine.task import DatasetInfo

NUSC = named_label_map("nuscenes16")
# Points per class of a keyframe whose point i has category i % 32, for 96 points (3 of each category): pedestrian
# gathers 4 categories, bus 2, and 12 categories (36 points) are ignored.
EXPECTED_96 = {name: 3 for name in NUSCENES16_CLASSES} | {"pedestrian": 12, "bus": 6}


def test_keyframes_by_scene_with_exact_points_and_labels(tmp_path):
    tables = NuScenesLidarseg(write_nuscenes_tree(tmp_path, nan_rows=2), VERSION)
    assert [[f.timestamp for f in scene] for scene in tables.scenes] == [[500_000, 1_000_000], [1_500_000]]
    first = tables.read(tables.scenes[0][0], NUSC)
    assert len(first.scan) == 96 and first.scan.columns == ("x", "y", "z", "intensity", "ring")
    counts = np.bincount(first.labels[first.labels != IGNORE_INDEX], minlength=16)
    assert dict(zip(NUSCENES16_CLASSES, counts.tolist(), strict=True)) == EXPECTED_96
    assert (first.labels == IGNORE_INDEX).sum() == 36 and first.class_names == NUSCENES16_CLASSES
    assert 0 <= first.scan.column("intensity").max() <= 1
    second = tables.read(tables.scenes[0][1], NUSC)
    np.testing.assert_allclose(second.pose[:3, 3], [10.9, 0.0, 1.8])  # ego 10 m ahead, sensor 0.9 m fwd, 1.8 m up
    last = tables.read(tables.scenes[1][0], NUSC)  # 40 points, the first 2 non-finite: dropped with their labels
    raw = np.arange(2, 40) % 32
    assert len(last.scan) == 38 and np.array_equal(last.labels, NUSC(raw))


def test_the_training_dataset_reads_chosen_scenes(tmp_path):
    root = write_nuscenes_tree(tmp_path)
    info = DatasetInfo(NUSCENES16_CLASSES, VoxelGrid((-25.0, -25.0, -25.0, 25.0, 25.0, 25.0), (0.5, 0.5, 0.5)))
    config = NuScenesDataConfig(root=str(root), version=VERSION, scenes=["scene-0002"])
    dataset = NuScenesDataset(config, info)
    assert len(dataset) == 1 and len(dataset[0].sample.scan) == 40
    both = NuScenesDataset(NuScenesDataConfig(root=str(root), version=VERSION), info)
    assert len(both) == 3 and sum(len(both[i].sample.scan) for i in range(3)) == 96 + 64 + 40
    with pytest.raises(SpotInputError, match=r"no labelled keyframes of scenes \['scene-0404'\]"):
        NuScenesDataset(NuScenesDataConfig(root=str(root), version=VERSION, scenes=["scene-0404"]), info)


def test_bad_trees_are_refused_naming_the_file(tmp_path):
    root = write_nuscenes_tree(tmp_path)
    info = DatasetInfo(NUSCENES16_CLASSES, VoxelGrid((-25.0, -25.0, -25.0, 25.0, 25.0, 25.0), (0.5, 0.5, 0.5)))
    label = root / "lidarseg" / VERSION / "sd-scene-0001-1_lidarseg.bin"
    label.write_bytes(label.read_bytes()[:-1])
    with pytest.raises(SpotInputError, match=r"1 of the 3 frames to read cannot be used: .*has 63 labels but the "
                                             r"sweep has 64 points"):  # fmt: skip
        NuScenesDataset(NuScenesDataConfig(root=str(root), version=VERSION), info)
    table = root / VERSION / "lidarseg.json"
    rows = json.loads(table.read_text())
    rows[0]["filename"] = "../../etc/passwd"
    table.write_text(json.dumps(rows))
    with pytest.raises(SpotInputError, match=r"a table names '\.\./\.\./etc/passwd', outside the dataset folder"):
        NuScenesLidarseg(root, VERSION)
    (root / VERSION / "category.json").write_text(json.dumps([{"token": "c", "name": "noise"}]))
    with pytest.raises(SpotInputError, match="category 'noise' has no lidarseg `index`"):
        NuScenesLidarseg(root, VERSION)
