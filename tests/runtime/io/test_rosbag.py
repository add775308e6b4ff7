"""Bags (rosbag2 SQLite / MCAP folders or bare files, ROS 1 .bag) are an ordinary `runtime.io` format: every
command that reads scans reads them, frames come in order or by index, a damaged bag is one error line."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

from spot.runtime import Scan, SpotInputError
from spot.runtime.cli.data_inspect import show, stats
from spot.runtime.io import iter_samples, read_sample, read_samples
from spot.runtime.io.rosbag import BagIndex, bag_clouds

STORAGES = ["sqlite3", "mcap", "ros1"]


def scans(count: int = 3) -> list[Scan]:
    rng = np.random.default_rng(0)
    return [
        Scan(rng.uniform([-30, -30, -2, 0], [30, 30, 2, 1], (200 + 50 * i, 4)).astype(np.float32)) for i in range(count)
    ]


def bag_path(tmp_path, storage: str):
    return tmp_path / ("drive.bag" if storage == "ros1" else "drive")


@pytest.mark.parametrize("storage", STORAGES)
def test_every_cloud_reads_back_as_the_scan_that_was_recorded(tmp_path, write_cloud_bag, storage):
    recorded = scans()
    bag = write_cloud_bag(bag_path(tmp_path, storage), storage, {"/ouster/points": recorded})
    storage_files = [] if storage == "ros1" else [next(bag.glob("*.db3" if storage == "sqlite3" else "*.mcap"))]
    for source in (bag, *storage_files):  # the rosbag2 folder and its bare storage file, or the ROS 1 bag
        samples = read_samples(source)
        assert [s.dataset for s in samples] == ["rosbag"] * 3
        assert samples[1].source == f"{source}:/ouster/points@{101 * 10**9}"
        for sample, scan in zip(samples, recorded, strict=True):
            assert sample.scan.columns == ("x", "y", "z", "intensity")
            np.testing.assert_array_equal(sample.scan.points, scan.points)


def test_clouds_keep_their_recorded_layout_frame_and_time(tmp_path, write_cloud_bag):
    bag = write_cloud_bag(tmp_path / "bag", "mcap", {"/points": scans()})
    clouds = list(bag_clouds(bag))
    assert [c.timestamp_ns for c in clouds] == [100 * 10**9, 101 * 10**9, 102 * 10**9]
    assert {c.message.header.frame_id for c in clouds} == {"os_sensor"}
    assert [f.name for f in clouds[0].message.fields] == ["intensity", "x", "y", "z"]
    assert clouds[0].message.point_step == 20


def test_a_rosbag2_folder_reads_as_one_recording_and_frames_are_addressable(tmp_path, write_cloud_bag):
    recorded = scans()
    bag = write_cloud_bag(tmp_path / "bag", "sqlite3", {"/points": recorded})
    assert len(list(iter_samples(bag))) == 3
    np.testing.assert_array_equal(read_sample(bag, frame=2).scan.points, recorded[2].points)
    with pytest.raises(SpotInputError, match="has 3 frame"):
        read_sample(bag, frame=3)


def test_a_bag_with_several_cloud_topics_needs_one_named(tmp_path, write_cloud_bag):
    bag = write_cloud_bag(tmp_path / "bag", "mcap", {"/front": scans(1), "/rear": scans(2)})
    with pytest.raises(SpotInputError, match=r"exactly one.*\['/front', '/rear'\]"):
        list(iter_samples(bag))
    assert len(list(iter_samples(bag, topic="/rear"))) == 2
    with pytest.raises(SpotInputError, match="named '/top'"):
        read_sample(bag, topic="/top")


@pytest.mark.parametrize("storage", STORAGES)
def test_bag_index_reads_any_frame_in_any_order(tmp_path, write_cloud_bag, storage):
    recorded = scans(5)
    index = BagIndex(write_cloud_bag(bag_path(tmp_path, storage), storage, {"/points": recorded}))
    assert len(index) == 5
    for i in (4, 0, 3, 3, 1):
        np.testing.assert_array_equal(index[i].scan.points, recorded[i].points)


def test_spot_data_reads_bags(tmp_path, write_cloud_bag):
    bag = write_cloud_bag(tmp_path / "bag", "mcap", {"/points": scans()})
    result = CliRunner().invoke(stats, [str(bag)])
    assert result.exit_code == 0, result.output
    assert '"samples": 3' in result.output
    result = CliRunner().invoke(show, [str(bag), "--frame", "2", "-o", str(tmp_path / "frame.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "frame.png").stat().st_size > 1000


def test_each_damaged_bag_is_one_error_naming_the_file(damaged_bags):
    assert len(damaged_bags) == 6
    for kind, path in damaged_bags.items():
        with pytest.raises(SpotInputError, match="is not a readable bag") as error:
            read_samples(path)
        assert str(path) in str(error.value), kind
        result = CliRunner().invoke(stats, [str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output, (kind, result.output)
        errors = [line for line in result.stderr.replace("\r", "\n").splitlines() if "Error" in line]
        assert len(errors) == 1 and errors[0].startswith(f"Error: {path}: is not a readable bag"), (kind, errors)


class NoReturns:
    """What a driver records for a sweep without a single return: every point NaN (not a valid Scan)."""

    xyz = np.full((10, 3), np.nan, np.float32)
    intensity = np.zeros(10, np.float32)

    def __len__(self) -> int:
        return 10


def test_a_malformed_recorded_cloud_is_named_by_bag_topic_and_time(tmp_path, write_cloud_bag):
    bag = write_cloud_bag(tmp_path / "bag", "mcap", {"/points": [*scans(1), NoReturns()]})
    with pytest.raises(SpotInputError, match=rf"{bag}:/points@{101 * 10**9}: PointCloud2 scan holds no points"):
        read_samples(bag)


def test_without_rosbags_a_bag_is_one_line_saying_what_to_install(tmp_path, write_cloud_bag, monkeypatch):
    bag = write_cloud_bag(tmp_path / "bag", "mcap", {"/points": scans(1)})
    monkeypatch.setitem(sys.modules, "rosbags.highlevel", None)
    with pytest.raises(SpotInputError, match=r"reading bags needs rosbags \(pip install rosbags"):
        read_samples(bag)
